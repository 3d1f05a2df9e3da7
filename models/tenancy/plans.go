package tenancy

// Plans lists every plan in order, cheapest first: the order plan tables
// show them in, and what an upgrade is.
func Plans() []Plan { return []Plan{PlanFree, PlanDeveloper, PlanEnterprise} }

// Rank is the plan's place in Plans(): moving to a plan of higher rank is an
// upgrade. A plan Plans() does not list ranks as Free.
func (p Plan) Rank() int {
	for i, q := range Plans() {
		if q == p {
			return i
		}
	}
	return 0
}

// ByContract reports whether the plan's terms are arranged with us rather
// than chosen (Enterprise): its prices and limits are custom, and an account
// on it changes plan only through us.
func (p Plan) ByContract() bool { return p == PlanEnterprise }

// SelfServe reports whether an administrator may choose the plan themselves.
func (p Plan) SelfServe() bool { return p == PlanFree || p == PlanDeveloper }

// CanSwitchTo reports whether an account on plan p may move itself to next:
// another self-serve plan, unless p is a contract.
func (p Plan) CanSwitchTo(next Plan) bool {
	return next != p && next.SelfServe() && !p.ByContract()
}
