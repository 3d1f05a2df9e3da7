package billing_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/billing"
	"switchboard/models/dbtest"
	"switchboard/models/ratelimit"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// insertPlanChange writes one row of an account's plan history.
func insertPlanChange(t testing.TB, db *gorm.DB, account int64, plan tenancy.Plan, at time.Time) {
	t.Helper()
	if err := dbtest.Plain(t, db).Exec("INSERT INTO plan_changes (account_id, plan, effective_at) VALUES (?, ?, ?)", account, plan, at.UTC()).Error; err != nil {
		t.Fatalf("insert plan change: %v", err)
	}
}

// setPlan sets an account's current plan and creation time, as an operator
// (or the history a test builds) would.
func setPlan(t testing.TB, db *gorm.DB, account int64, plan tenancy.Plan, created time.Time) {
	t.Helper()
	if err := dbtest.Plain(t, db).Exec("UPDATE accounts SET plan = ?, created_at = ? WHERE id = ?", plan, created.UTC(), account).Error; err != nil {
		t.Fatalf("set plan: %v", err)
	}
}

func rawInvoices(t testing.TB, db *gorm.DB, where string, args ...any) []billing.Invoice {
	t.Helper()
	q := "SELECT * FROM invoices"
	if where != "" {
		q += " WHERE " + where
	}
	var out []billing.Invoice
	if err := dbtest.Plain(t, db).Raw(q+" ORDER BY id", args...).Scan(&out).Error; err != nil {
		t.Fatalf("read invoices: %v", err)
	}
	return out
}

func rawInvoiceLines(t testing.TB, db *gorm.DB, invoiceID int64) []billing.InvoiceLine {
	t.Helper()
	var out []billing.InvoiceLine
	if err := dbtest.Plain(t, db).Raw("SELECT * FROM invoice_lines WHERE invoice_id = ? ORDER BY position", invoiceID).Scan(&out).Error; err != nil {
		t.Fatalf("read invoice lines: %v", err)
	}
	return out
}

// dumpBilling is every invoice and invoice line, as text: equal dumps are
// byte-for-byte equal tables.
func dumpBilling(t testing.TB, db *gorm.DB) string {
	t.Helper()
	var sb strings.Builder
	for _, table := range []string{"invoices", "invoice_lines"} {
		var rows []map[string]any
		if err := dbtest.Plain(t, db).Raw("SELECT * FROM " + table + " ORDER BY id").Scan(&rows).Error; err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		for _, r := range rows {
			keys := make([]string, 0, len(r))
			for k := range r {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			sb.WriteString(table + ":")
			for _, k := range keys {
				fmt.Fprintf(&sb, " %s=%v", k, r[k])
			}
			sb.WriteString("\n")
		}
	}
	return sb.String()
}

func closeMonth(t testing.TB, db *gorm.DB, m billing.Month, at time.Time) int {
	t.Helper()
	n, err := billing.CloseMonth(context.Background(), db, m, at)
	if err != nil {
		t.Fatalf("close %s: %v", m, err)
	}
	return n
}

// priceOf is a metric's unit price on a plan, read from the rate card
// field by field (not through the package's own lookup).
func priceOf(plan tenancy.Plan, metric string) billing.Price {
	rc := billing.RateCards[plan]
	switch metric {
	case usage.MetricAPIRequests:
		return rc.APIRequest
	case usage.MetricIndexingSeconds:
		return rc.IndexingSec
	case usage.MetricStorageSeconds:
		return rc.StorageSecDy
	}
	panic("unknown metric " + metric)
}

// prorated is fee × days / monthDays, rounded half up, exactly.
func prorated(fee, days int64, monthDays int) int64 {
	return (2*fee*days + int64(monthDays)) / (2 * int64(monthDays))
}

// The property test ------------------------------------------------------

// genChange is one generated plan change.
type genChange struct {
	at   time.Time
	plan tenancy.Plan
}

func (c genChange) String() string {
	return string(c.plan) + "@" + c.at.Format("2006-01-02T15:04:05.999999")
}

// billCase is one generated month: an organization's creation, its plan
// history as ChangePlan writes it, and usage of several members.
type billCase struct {
	seed    int64
	period  billing.Month
	at      time.Time
	created time.Time
	current tenancy.Plan
	changes []genChange
	rows    []dbtest.UsageRow
}

// planOn is the plan in force on the day starting at day, by the rule the
// issue states: the latest change made before the day ends; with no history
// at all, the account's plan from the day it was created; before the
// history (or the account) starts, Free.
func (c billCase) planOn(day time.Time) tenancy.Plan {
	end := day.AddDate(0, 0, 1)
	if len(c.changes) == 0 {
		if c.created.Before(end) {
			return c.current
		}
		return tenancy.PlanFree
	}
	plan := tenancy.PlanFree
	for _, ch := range c.changes {
		if ch.at.Before(end) {
			plan = ch.plan
		}
	}
	return plan
}

// historyStartsAfter reports a history whose every change comes after the
// month: the shape of a Free account that upgraded after the month ended.
func (c billCase) historyStartsAfter() bool {
	return len(c.changes) > 0 && !c.changes[0].at.Before(c.period.End())
}

var (
	allPlans   = []tenancy.Plan{tenancy.PlanFree, tenancy.PlanDeveloper, tenancy.PlanEnterprise}
	categories = []string{"indexes.read", "indexes.write", "videos.read"}
)

func genBillCase(seed int64, org, personal, personalOwner int64, users []int64) billCase {
	r := rand.New(rand.NewSource(seed))
	c := billCase{seed: seed, period: billing.Month{Year: 2024 + r.Intn(6), Mon: time.Month(1 + r.Intn(12))}}
	start, end := c.period.Start(), c.period.End()
	between := func(from, to time.Time) time.Time {
		if !to.After(from) {
			return from
		}
		return from.Add(time.Duration(r.Int63n(int64(to.Sub(from))))).Truncate(time.Microsecond)
	}
	c.at = end.Add(time.Duration(r.Int63n(int64(20 * 24 * time.Hour)))).Truncate(time.Microsecond)
	if r.Intn(10) < 7 {
		c.created = between(start.AddDate(-1, 0, 0), start)
	} else {
		c.created = between(start, end)
	}
	pick := func(not tenancy.Plan) tenancy.Plan {
		for {
			p := allPlans[[]int{0, 0, 0, 1, 1, 1, 2}[r.Intn(7)]]
			if p != not {
				return p
			}
		}
	}
	initial := pick("")
	// Change times: before the month, in it (at any instant, sometimes
	// exactly at midnight or in a day's last microsecond) or after it.
	n := r.Intn(5)
	seen := map[time.Time]bool{}
	var times []time.Time
	after := c.created.Add(time.Microsecond)
	for len(times) < n {
		var tm time.Time
		switch k := r.Intn(10); {
		case k < 2 && after.Before(start):
			tm = between(after, start)
		case k < 8 || !after.Before(end):
			lo := maxTime(after, start)
			if !lo.Before(end) {
				lo = after
			}
			tm = between(lo, maxTime(end, lo.Add(time.Hour)))
			day := time.Date(tm.Year(), tm.Month(), tm.Day(), 0, 0, 0, 0, time.UTC)
			switch r.Intn(5) {
			case 0:
				if !day.Before(after) {
					tm = day
				}
			case 1:
				tm = day.AddDate(0, 0, 1).Add(-time.Microsecond)
			}
		default:
			tm = between(maxTime(after, end), maxTime(after, end).AddDate(0, 0, 40))
		}
		if !seen[tm] {
			seen[tm] = true
			times = append(times, tm)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	// ChangePlan records the plan an account had before its first change
	// (at its creation) unless that was Free; the demo records Free too.
	if n > 0 && (initial != tenancy.PlanFree || r.Intn(5) == 0) {
		c.changes = append(c.changes, genChange{c.created, initial})
	}
	prev := initial
	for _, tm := range times {
		p := pick(prev)
		c.changes = append(c.changes, genChange{tm, p})
		prev = p
	}
	c.current = prev

	// Usage: each member is active on a share of the days; the day before
	// the month and the first day of the next are noise to leave out.
	density := 0.1 + 0.5*r.Float64()
	if r.Intn(10) == 0 {
		density = 0
	}
	magnitude := func() int64 {
		limit := int64(1)
		for range 1 + r.Intn(7) {
			limit *= 10
		}
		return 1 + r.Int63n(limit)
	}
	for d := start.AddDate(0, 0, -1); !d.After(end); d = d.AddDate(0, 0, 1) {
		inMonth := !d.Before(start) && d.Before(end)
		day := d.Format(time.DateOnly)
		for _, u := range users {
			p := density
			if !inMonth {
				p = 0.7
			}
			if r.Float64() >= p {
				continue
			}
			for _, cat := range categories {
				if r.Intn(3) > 0 {
					c.rows = append(c.rows, dbtest.Usage(org, day, u, usage.MetricAPIRequests, cat, magnitude()))
				}
			}
			if r.Intn(3) == 0 {
				c.rows = append(c.rows, dbtest.Usage(org, day, u, usage.MetricIndexingSeconds, "", 1+r.Int63n(4*3600)))
			}
			if r.Intn(2) == 0 {
				c.rows = append(c.rows, dbtest.Usage(org, day, u, usage.MetricStorageSeconds, "", 1+r.Int63n(5_000_000)))
			}
		}
		if r.Intn(4) == 0 {
			c.rows = append(c.rows, dbtest.Usage(personal, day, personalOwner, usage.MetricAPIRequests, categories[r.Intn(3)], magnitude()))
		}
	}
	return c
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// lineKey identifies a line: a member's metric and category under a plan,
// or (user -1) a plan's fee.
type lineKey struct {
	user     int64
	metric   string
	category string
	plan     tenancy.Plan
}

// expectedLines recomputes an account's bill from the generated rollups:
// each day's quantity priced by the plan of that day, summed per member,
// metric, category and plan; a fee line per paid plan with its days.
func expectedLines(c billCase, account int64, planOn func(time.Time) tenancy.Plan) map[lineKey]int64 {
	start, end := c.period.Start(), c.period.End()
	out := map[lineKey]int64{}
	for _, r := range c.rows {
		if r.Account != account {
			continue
		}
		day, _ := time.Parse(time.DateOnly, r.Day)
		if day.Before(start) || !day.Before(end) {
			continue
		}
		out[lineKey{r.User, r.Metric, r.Category, planOn(day)}] += r.Quantity
	}
	for d := start; d.Before(end); d = d.AddDate(0, 0, 1) {
		if p := planOn(d); billing.RateCards[p].MonthlyFee > 0 {
			out[lineKey{-1, "plan_fee", "", p}]++
		}
	}
	return out
}

// checkInvoice compares an account's invoice with the recomputed lines and
// returns what differs.
func checkInvoice(t *testing.T, db *gorm.DB, c billCase, account int64, names map[int64]string, want map[lineKey]int64) []string {
	t.Helper()
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	invs := rawInvoices(t, db, "account_id = ? AND period = ?", account, c.period.String())
	if len(want) == 0 {
		if len(invs) != 0 {
			bad("account %d: an invoice (total %d) for a month without usage or paid plan", account, invs[0].TotalMinor)
		}
		return problems
	}
	if len(invs) != 1 {
		bad("account %d: %d invoices for %s, want 1", account, len(invs), c.period)
		return problems
	}
	inv := invs[0]
	if inv.Currency != billing.Currency || inv.Status != "issued" || inv.Period != c.period.String() {
		bad("invoice %+v: currency, status or period", inv)
	}
	lines := rawInvoiceLines(t, db, inv.ID)
	var sum, wantTotal int64
	got := map[lineKey]billing.InvoiceLine{}
	for i, l := range lines {
		sum += l.AmountMinor
		if l.Position != int64(i+1) {
			bad("line %d has position %d", i+1, l.Position)
		}
		k := lineKey{-1, l.Metric, l.Category, l.Plan}
		if l.UserID != nil {
			k.user = *l.UserID
		}
		if _, dup := got[k]; dup {
			bad("two lines for %+v", k)
		}
		got[k] = l
		// Every line prices its own quantity exactly.
		if l.AmountMinor != l.UnitPriceMicros.Amount(l.Quantity) {
			bad("line %+v: amount %d, want Price(%d).Amount(%d) = %d", k, l.AmountMinor, l.UnitPriceMicros, l.Quantity, l.UnitPriceMicros.Amount(l.Quantity))
		}
	}
	if inv.TotalMinor != sum {
		bad("invoice total %d, lines sum to %d", inv.TotalMinor, sum)
	}
	for k, q := range want {
		l, ok := got[k]
		if !ok {
			bad("missing line %+v (quantity %d)", k, q)
			continue
		}
		if l.Quantity != q {
			bad("line %+v: quantity %d, want %d", k, l.Quantity, q)
		}
		if k.metric == "plan_fee" {
			fee := billing.RateCards[k.plan].MonthlyFee
			amount := prorated(fee, q, c.period.Days())
			if l.AmountMinor != amount || l.UserID != nil || l.Member != "" || l.Unit != "day" {
				bad("fee line %+v: %d days cost %d, want %d of %d (%d days in %s)", k, q, l.AmountMinor, amount, fee, c.period.Days(), c.period)
			}
			wantTotal += amount
			continue
		}
		price := priceOf(k.plan, k.metric)
		if l.UnitPriceMicros != price || l.AmountMinor != price.Amount(q) {
			bad("line %+v: unit price %d amount %d, want %d and %d (the %s rate card)", k, l.UnitPriceMicros, l.AmountMinor, price, price.Amount(q), k.plan)
		}
		if l.Member != names[k.user] {
			bad("line %+v: member %q, want %q", k, l.Member, names[k.user])
		}
		wantTotal += price.Amount(q)
	}
	for k, l := range got {
		if _, ok := want[k]; !ok {
			bad("unexpected line %+v: %d × %d = %d", k, l.Quantity, l.UnitPriceMicros, l.AmountMinor)
		}
	}
	if inv.TotalMinor != wantTotal {
		bad("invoice total %d, want %d", inv.TotalMinor, wantTotal)
	}
	return problems
}

// TestCloseMonthPricesRollupsByThePlanOfEachDay generates months of usage
// and plan histories (mid-month upgrades and downgrades at any instant,
// accounts created mid-month, changes before and after the month) and
// checks every invoice against an independent recomputation: the total is
// the sum of the lines, each line is its quantity priced by the rate card
// of the plan in force on the days it came from, plan fees are the days on
// paid plans, and a plan change splits the lines.
func TestCloseMonthPricesRollupsByThePlanOfEachDay(t *testing.T) {
	t.Parallel()
	// Each case is closed on both databases; under the race detector (as
	// make test runs this package) the first 50 of the same cases.
	cases := 200
	if raceDetector {
		cases = 50
	}
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := t.Context()
		owner, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		var users []int64
		names := map[int64]string{owner.ID: owner.Name + " <" + owner.Email + ">", 0: "a former user", 987_654_321: "a former user"}
		users = append(users, owner.ID, 0, 987_654_321)
		var personal tenancy.Scope
		var personalOwner models.User
		for i := range 2 {
			u, p := dbtest.User(t, db)
			dbtest.AddMember(t, db, org, u, tenancy.RoleMember)
			names[u.ID] = u.Name + " <" + u.Email + ">"
			users = append(users, u.ID)
			if i == 0 {
				personal, personalOwner = p, u
			}
		}
		acct := org.AccountID()
		failed, laterOnly, splits, midMonth := 0, 0, 0, 0
		for i := range cases {
			c := genBillCase(int64(1000+i), acct, personal.AccountID(), personalOwner.ID, users)
			// One transaction per case's setup: one commit, not a dozen.
			dbtest.Must(t, dbtest.Plain(t, db).Transaction(func(tx *gorm.DB) error {
				for _, stmt := range []string{"DELETE FROM invoice_lines", "DELETE FROM invoices", "DELETE FROM usage_daily", "DELETE FROM plan_changes"} {
					dbtest.Must(t, tx.Exec(stmt).Error)
				}
				setPlan(t, tx, acct, c.current, c.created)
				for _, ch := range c.changes {
					insertPlanChange(t, tx, acct, ch.plan, ch.at)
				}
				dbtest.InsertUsage(t, tx, c.rows)
				return nil
			}))

			n := closeMonth(t, db, c.period, c.at)
			wantOrg := expectedLines(c, acct, c.planOn)
			wantPersonal := expectedLines(c, personal.AccountID(), func(time.Time) tenancy.Plan { return tenancy.PlanFree })
			wantN := 0
			for _, w := range []map[lineKey]int64{wantOrg, wantPersonal} {
				if len(w) > 0 {
					wantN++
				}
			}
			var problems []string
			if n != wantN {
				problems = append(problems, fmt.Sprintf("CloseMonth created %d invoices, want %d", n, wantN))
			}
			problems = append(problems, checkInvoice(t, db, c, acct, names, wantOrg)...)
			problems = append(problems, checkInvoice(t, db, c, personal.AccountID(), names, wantPersonal)...)

			// The bill so far on the month's last instant is the invoice.
			scope, err := tenancy.LoadScope(ctx, db, owner.ID, org.Account().PublicID)
			dbtest.Must(t, err)
			bill, err := billing.CurrentBill(ctx, db, scope, c.period.End().Add(-time.Microsecond))
			dbtest.Must(t, err)
			if invs := rawInvoices(t, db, "account_id = ?", acct); len(invs) == 1 {
				lines := rawInvoiceLines(t, db, invs[0].ID)
				same := len(lines) == len(bill.Lines) && bill.Total == invs[0].TotalMinor
				for j := 0; same && j < len(lines); j++ {
					b := bill.Lines[j]
					same = b.Quantity == lines[j].Quantity && b.AmountMinor == lines[j].AmountMinor && b.Plan == lines[j].Plan && b.Metric == lines[j].Metric
				}
				if !same {
					problems = append(problems, "CurrentBill on the month's last instant differs from the invoice")
				}
			}

			// Closing again changes nothing (checked on every fourth case:
			// the dedicated test below checks it thoroughly).
			if i%4 == 0 {
				before := dumpBilling(t, db)
				if again := closeMonth(t, db, c.period, c.at.Add(time.Hour)); again != 0 || dumpBilling(t, db) != before {
					problems = append(problems, fmt.Sprintf("closing again created %d invoices or changed one", again))
				}
			}

			plansInMonth := map[tenancy.Plan]bool{}
			for d := c.period.Start(); d.Before(c.period.End()); d = d.AddDate(0, 0, 1) {
				plansInMonth[c.planOn(d)] = true
			}
			if len(plansInMonth) > 1 {
				splits++
			}
			if !c.created.Before(c.period.Start()) {
				midMonth++
			}
			if len(problems) > 0 {
				failed++
				if c.historyStartsAfter() {
					laterOnly++
				}
				if failed <= 5 {
					shape := ""
					if c.historyStartsAfter() {
						shape = " [every plan change is after the month]"
					}
					t.Errorf("case %d (seed %d, %s, created %s, plan now %s, history %v)%s:\n\t%s", i, c.seed, c.period, c.created.Format(time.RFC3339Nano),
						c.current, c.changes, shape, strings.Join(problems[:min(len(problems), 8)], "\n\t"))
				}
			}
		}
		t.Logf("%d cases: %d with a plan change splitting the month, %d created mid-month; %d failed (%d of them with every plan change after the month)",
			cases, splits, midMonth, failed, laterOnly)
		if splits < cases/5 || midMonth < cases/10 {
			t.Errorf("the generator made too few mid-month changes (%d) or creations (%d)", splits, midMonth)
		}
	})
}

// TestCloseMonthAfterALaterUpgrade: a Free organization used the API in
// October and upgraded to Developer in November, before October was closed
// (the daily close runs up to 24 hours after a month ends; `billing close`
// may run any time later). October was Free all month: its invoice must
// carry no fee and price nothing.
func TestCloseMonthAfterALaterUpgrade(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := t.Context()
		admin, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, admin)
		now := time.Now().UTC()
		last := billing.MonthOf(now).Prev()
		setPlan(t, db, org.AccountID(), tenancy.PlanFree, last.Start().AddDate(0, -3, 0))
		dbtest.InsertUsage(t, db, []dbtest.UsageRow{
			dbtest.Usage(org.AccountID(), last.Start().AddDate(0, 0, 3).Format(time.DateOnly), admin.ID, usage.MetricAPIRequests, "indexes.read", 10_000),
			dbtest.Usage(org.AccountID(), last.Start().AddDate(0, 0, 9).Format(time.DateOnly), admin.ID, usage.MetricIndexingSeconds, "", 3_600),
		})
		scope, err := tenancy.LoadScope(ctx, db, admin.ID, org.Account().PublicID)
		dbtest.Must(t, err)
		_, err = billing.SaveBillingContact(ctx, db, scope, billing.BillingContactInput{Email: "billing@example.com", Address: "1 Main St"}, dbtest.ActorOf(admin))
		dbtest.Must(t, err)
		dbtest.Must(t, billing.ChangePlan(ctx, db, scope, tenancy.PlanDeveloper, dbtest.ActorOf(admin))) // now, in this month

		closeMonth(t, db, last, now)
		invs := rawInvoices(t, db, "account_id = ?", org.AccountID())
		if len(invs) != 1 {
			t.Fatalf("%d invoices, want 1 (Free with usage)", len(invs))
		}
		var desc []string
		for _, l := range rawInvoiceLines(t, db, invs[0].ID) {
			desc = append(desc, fmt.Sprintf("%s %s %d → %d", l.Plan, l.Metric, l.Quantity, l.AmountMinor))
			if l.Plan != tenancy.PlanFree {
				t.Errorf("line priced on %s: %s ×%d = %d; the account was Free all of %s", l.Plan, l.Metric, l.Quantity, l.AmountMinor, last)
			}
		}
		if invs[0].TotalMinor != 0 {
			t.Errorf("%s invoice total %s, want $0.00 (Free all month, upgraded on %s); lines: %v", last, cents(invs[0].TotalMinor), now.Format(time.DateOnly), desc)
		}
	})
}

func cents(minor int64) string { return fmt.Sprintf("$%d.%02d", minor/100, minor%100) }

func TestCloseMonthRefusesMonthsThatHaveNotEnded(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := t.Context()
		u, personal := dbtest.User(t, db)
		now := time.Now().UTC()
		cur := billing.MonthOf(now)
		dbtest.InsertUsage(t, db, []dbtest.UsageRow{dbtest.Usage(personal.AccountID(), now.Format(time.DateOnly), u.ID, usage.MetricAPIRequests, "indexes.read", 5)})
		setPlan(t, db, personal.AccountID(), tenancy.PlanDeveloper, now.AddDate(-1, 0, 0))
		for _, m := range []billing.Month{cur, billing.MonthOf(cur.End()), {Year: cur.Year + 3, Mon: cur.Mon}} {
			n, err := billing.CloseMonth(ctx, db, m, now)
			if !errors.Is(err, billing.ErrMonthNotEnded) || n != 0 {
				t.Errorf("closing %s on %s: %d, %v; want ErrMonthNotEnded", m, now.Format(time.DateOnly), n, err)
			}
		}
		// The month's last microsecond is still in it.
		if _, err := billing.CloseMonth(ctx, db, cur, cur.End().Add(-time.Microsecond)); !errors.Is(err, billing.ErrMonthNotEnded) {
			t.Errorf("closing %s before it ended: %v", cur, err)
		}
		if n := dbtest.CountRows(t, db, "invoices", ""); n != 0 {
			t.Fatalf("%d invoices written by refused closes", n)
		}
		if n := closeMonth(t, db, cur, cur.End()); n != 1 {
			t.Fatalf("closing %s once it ended created %d invoices, want 1", cur, n)
		}
	})
}

// billingAccounts is a set of accounts in every situation a close meets.
type billingAccounts struct {
	period                                billing.Month
	freeIdle, freeUsed, devIdle, devHalf  tenancy.Scope
	deleted                               tenancy.Scope
	users                                 []models.User
	freeUsedOwner, deletedOwner, devOwner models.User
}

func newBillingAccounts(t *testing.T, db *gorm.DB) billingAccounts {
	t.Helper()
	ctx := t.Context()
	f := billingAccounts{period: billing.Month{Year: 2026, Mon: time.September}} // 30 days
	start := f.period.Start()
	long := start.AddDate(-1, 0, 0)
	var u [5]models.User
	var personal [5]tenancy.Scope
	for i := range u {
		u[i], personal[i] = dbtest.User(t, db)
	}
	f.users = u[:]
	f.freeIdle = dbtest.Org(t, db, u[0])
	setPlan(t, db, f.freeIdle.AccountID(), tenancy.PlanFree, long)
	f.freeUsed, f.freeUsedOwner = personal[1], u[1]
	setPlan(t, db, f.freeUsed.AccountID(), tenancy.PlanFree, long)
	f.devIdle, f.devOwner = personal[2], u[2]
	setPlan(t, db, f.devIdle.AccountID(), tenancy.PlanDeveloper, long)
	f.devHalf = personal[3]
	setPlan(t, db, f.devHalf.AccountID(), tenancy.PlanDeveloper, start.AddDate(0, 0, 10).Add(15*time.Hour+4*time.Minute)) // the 11th, 15:04
	f.deleted, f.deletedOwner = dbtest.Org(t, db, u[4]), u[4]
	setPlan(t, db, f.deleted.AccountID(), tenancy.PlanDeveloper, long)
	day := start.AddDate(0, 0, 4).Format(time.DateOnly)
	dbtest.InsertUsage(t, db, []dbtest.UsageRow{
		dbtest.Usage(f.freeUsed.AccountID(), day, u[1].ID, usage.MetricAPIRequests, "indexes.read", 1234),
		dbtest.Usage(f.deleted.AccountID(), day, u[4].ID, usage.MetricAPIRequests, "indexes.read", 99),
		// Usage of the month before and after belongs to other invoices.
		dbtest.Usage(f.freeIdle.AccountID(), start.AddDate(0, 0, -1).Format(time.DateOnly), u[0].ID, usage.MetricAPIRequests, "indexes.read", 7),
		dbtest.Usage(f.freeIdle.AccountID(), f.period.End().Format(time.DateOnly), u[0].ID, usage.MetricAPIRequests, "indexes.read", 7),
	})
	deleted, err := tenancy.LoadScope(ctx, db, u[4].ID, f.deleted.Account().PublicID)
	dbtest.Must(t, err)
	dbtest.Must(t, models.DeleteOrganization(ctx, db, deleted, deleted.Account().Name, dbtest.ActorOf(u[4])))
	return f
}

var invoiceNumber = regexp.MustCompile(`^SB-\d{6}-[0-9A-F]{12}$`)

func TestCloseMonthInvoicesAccountsWithUsageOrAPaidPlan(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newBillingAccounts(t, db)
		n := closeMonth(t, db, f.period, time.Now())
		if n != 3 {
			t.Errorf("CloseMonth created %d invoices, want 3 (Free with usage, Developer idle, Developer from the 11th)", n)
		}
		if invs := rawInvoices(t, db, "account_id = ?", f.freeIdle.AccountID()); len(invs) != 0 {
			t.Errorf("a Free account without usage in %s got an invoice: %+v", f.period, invs)
		}
		if invs := rawInvoices(t, db, "account_id = ?", f.deleted.AccountID()); len(invs) != 0 {
			t.Errorf("a deleted account got an invoice")
		}
		one := func(s tenancy.Scope) (billing.Invoice, []billing.InvoiceLine) {
			t.Helper()
			invs := rawInvoices(t, db, "account_id = ?", s.AccountID())
			if len(invs) != 1 {
				t.Fatalf("account %q: %d invoices, want 1", s.Account().Name, len(invs))
			}
			return invs[0], rawInvoiceLines(t, db, invs[0].ID)
		}
		inv, lines := one(f.freeUsed)
		if inv.TotalMinor != 0 || len(lines) != 1 || lines[0].Quantity != 1234 || lines[0].AmountMinor != 0 || lines[0].Plan != tenancy.PlanFree {
			t.Errorf("Free with usage: total %d, lines %+v; want one free line of 1,234 requests", inv.TotalMinor, lines)
		}
		inv, lines = one(f.devIdle)
		if inv.TotalMinor != billing.RateCards[tenancy.PlanDeveloper].MonthlyFee || len(lines) != 1 || lines[0].Metric != "plan_fee" || lines[0].Quantity != 30 {
			t.Errorf("Developer all month without usage: total %d, lines %+v; want the whole fee, 30 days", inv.TotalMinor, lines)
		}
		inv, lines = one(f.devHalf)
		want := prorated(billing.RateCards[tenancy.PlanDeveloper].MonthlyFee, 20, 30)
		if len(lines) != 1 || lines[0].Quantity != 20 || inv.TotalMinor != want {
			t.Errorf("Developer created on the 11th: total %d, lines %+v; want 20 of 30 days, %d", inv.TotalMinor, lines, want)
		}
		if !strings.Contains(lines[0].Description, "20 of 30 days") {
			t.Errorf("fee line says %q", lines[0].Description)
		}
		seen := map[string]bool{}
		for _, inv := range rawInvoices(t, db, "") {
			if !invoiceNumber.MatchString(inv.Number) || !strings.HasPrefix(inv.Number, "SB-202609-") || seen[inv.Number] {
				t.Errorf("invoice number %q: not of the shape SB-202609-XXXXXXXXXXXX, or taken twice", inv.Number)
			}
			seen[inv.Number] = true
			if inv.BillTo == "" {
				t.Errorf("invoice %s bills nobody", inv.Number)
			}
		}
	})
}

func TestCloseMonthIsIdempotent(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newBillingAccounts(t, db)
		if n := closeMonth(t, db, f.period, time.Now()); n != 3 {
			t.Fatalf("first close created %d invoices, want 3", n)
		}
		before := dumpBilling(t, db)
		// New usage arrives for the closed month, and the plan changes:
		// the closed invoice stays as it was.
		dbtest.InsertUsage(t, db, []dbtest.UsageRow{dbtest.Usage(f.freeUsed.AccountID(), f.period.Start().Format(time.DateOnly), f.freeUsedOwner.ID, usage.MetricAPIRequests, "videos.read", 5)})
		setPlan(t, db, f.devIdle.AccountID(), tenancy.PlanFree, f.period.Start().AddDate(-1, 0, 0))
		for i := range 2 {
			if n := closeMonth(t, db, f.period, time.Now()); n != 0 {
				t.Fatalf("close #%d created %d invoices, want 0", i+2, n)
			}
			if after := dumpBilling(t, db); after != before {
				t.Fatalf("closing again changed the invoices:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		}
	})
}

// TestCloseMonthAgainReadsOnlyTheCandidates: serve closes the last twelve
// months every day; once a month's invoices are made, closing it again is
// one query, however many accounts were invoiced.
func TestCloseMonthAgainReadsOnlyTheCandidates(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newBillingAccounts(t, db)
		if n := closeMonth(t, db, f.period, time.Now()); n != 3 {
			t.Fatalf("first close created %d invoices, want 3", n)
		}
		before := tenancy.QueryCount()
		if n := closeMonth(t, db, f.period, time.Now()); n != 0 {
			t.Fatalf("closing again created %d invoices", n)
		}
		if n := tenancy.QueryCount() - before; n != 1 {
			t.Errorf("closing an invoiced month again took %d queries, want 1", n)
		}
		// An account with new usage in the month but no invoice yet is
		// still closed.
		late, _ := dbtest.User(t, db)
		lateScope, err := tenancy.PersonalScope(t.Context(), db, late.ID)
		dbtest.Must(t, err)
		dbtest.InsertUsage(t, db, []dbtest.UsageRow{dbtest.Usage(lateScope.AccountID(), f.period.Start().Format(time.DateOnly), late.ID, usage.MetricAPIRequests, "videos.read", 5)})
		if n := closeMonth(t, db, f.period, time.Now()); n != 1 {
			t.Errorf("a newly used account: closing created %d invoices, want 1", n)
		}
	})
}

// TestCloseMonthConcurrently: several servers closing the same month at
// once make one invoice per account.
func TestCloseMonthConcurrently(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newBillingAccounts(t, db)
		var wg sync.WaitGroup
		created := make([]int, 4)
		errs := make([]error, 4)
		for i := range created {
			wg.Add(1)
			go func() {
				defer wg.Done()
				created[i], errs[i] = billing.CloseMonth(context.Background(), db, f.period, time.Now())
			}()
		}
		wg.Wait()
		total := 0
		for i := range created {
			if errs[i] != nil {
				t.Errorf("closer %d: %v", i, errs[i])
			}
			total += created[i]
		}
		if total != 3 || dbtest.CountRows(t, db, "invoices", "") != 3 {
			t.Fatalf("concurrent closes created %d invoices (%d rows), want 3", total, dbtest.CountRows(t, db, "invoices", ""))
		}
	})
}

func TestCloseMonthBillsTheContact(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := t.Context()
		u, personal := dbtest.User(t, db)
		m := billing.Month{Year: 2026, Mon: time.February}
		setPlan(t, db, personal.AccountID(), tenancy.PlanDeveloper, m.Start().AddDate(0, -1, 0))
		_, err := billing.SaveBillingContact(ctx, db, personal, billing.BillingContactInput{
			Email: "Books@Example.com", Company: "Acme  Inc.", Address: "1 Main St\r\nSpringfield", VATID: "de 123 456 789"}, dbtest.ActorOf(u))
		dbtest.Must(t, err)
		closeMonth(t, db, m, time.Now())
		invs := rawInvoices(t, db, "account_id = ?", personal.AccountID())
		if len(invs) != 1 {
			t.Fatalf("%d invoices", len(invs))
		}
		want := "Acme Inc.\n1 Main St\nSpringfield\nbooks@example.com\nVAT DE123456789"
		if invs[0].BillTo != want {
			t.Errorf("bill to %q, want %q", invs[0].BillTo, want)
		}
		if invs[0].TotalMinor != 4900 {
			t.Errorf("February on Developer: %d, want the whole fee (28 of 28 days)", invs[0].TotalMinor)
		}
	})
}

// ChangePlan, the billing contact and Enterprise requests -------------------

func TestChangePlan(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := t.Context()
		f := dbtest.NewOrgFixture(t, db)
		admin := dbtest.ActorOf(f.AdminUser)
		acct := f.Admin.AccountID()
		audits := func() int64 {
			return dbtest.CountRows(t, db, "audit_events", "account_id = ? AND action = ?", acct, billing.AuditPlanChanged)
		}

		dbtest.WantIs(t, billing.ChangePlan(ctx, db, f.Admin, tenancy.PlanDeveloper, admin), billing.ErrNeedsBillingContact)
		if dbtest.ReloadAccount(t, db, acct).Plan != tenancy.PlanFree || dbtest.CountRows(t, db, "plan_changes", "") != 0 || audits() != 0 {
			t.Fatal("a refused upgrade wrote something")
		}
		for _, p := range []tenancy.Plan{tenancy.PlanEnterprise, "gold", ""} {
			dbtest.WantFields(t, billing.ChangePlan(ctx, db, f.Admin, p, admin), "plan")
		}
		dbtest.WantIs(t, billing.ChangePlan(ctx, db, f.Member, tenancy.PlanDeveloper, dbtest.ActorOf(f.MemberUser)), tenancy.ErrForbidden)
		dbtest.WantIs(t, billing.ChangePlan(ctx, db, f.Member, tenancy.PlanFree, dbtest.ActorOf(f.MemberUser)), tenancy.ErrForbidden)

		_, err := billing.SaveBillingContact(ctx, db, f.Admin, billing.BillingContactInput{Email: "billing@example.com", Address: "1 Main St"}, admin)
		dbtest.Must(t, err)
		before := dbtest.UTC()
		dbtest.Must(t, billing.ChangePlan(ctx, db, f.Admin, tenancy.PlanDeveloper, admin))
		a := dbtest.ReloadAccount(t, db, acct)
		if a.Plan != tenancy.PlanDeveloper {
			t.Fatalf("plan %s after upgrading", a.Plan)
		}
		if got, want := ratelimit.LimitsOf(a), ratelimit.PlanLimits[tenancy.PlanDeveloper]; got != want {
			t.Errorf("limits %+v after upgrading, want %+v", got, want)
		}
		// The next request loads the account again: its scope has the plan.
		fresh, err := tenancy.LoadScope(ctx, db, f.AdminUser.ID, f.Admin.Account().PublicID)
		dbtest.Must(t, err)
		if ratelimit.LimitsOf(fresh.Account()) != ratelimit.PlanLimits[tenancy.PlanDeveloper] {
			t.Error("a newly loaded scope still has the old limits")
		}
		var changes []billing.PlanChange
		dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT * FROM plan_changes WHERE account_id = ? ORDER BY id", acct).Scan(&changes).Error)
		// The first change also records the plan the account had until then.
		if len(changes) != 2 || changes[0].Plan != tenancy.PlanFree || changes[0].UserID != nil || !changes[0].EffectiveAt.Equal(f.Admin.Account().CreatedAt) ||
			changes[1].Plan != tenancy.PlanDeveloper || changes[1].UserID == nil || *changes[1].UserID != f.AdminUser.ID ||
			changes[1].EffectiveAt.Before(before) || changes[1].EffectiveAt.After(dbtest.UTC()) {
			t.Fatalf("plan history %+v, want Free since the account's creation, then Developer now by the administrator", changes)
		}
		// Choosing the current plan again is no change.
		dbtest.Must(t, billing.ChangePlan(ctx, db, f.Admin, tenancy.PlanDeveloper, admin))
		if dbtest.CountRows(t, db, "plan_changes", "") != 2 || audits() != 1 {
			t.Error("choosing the current plan recorded a change")
		}
		// Downgrading needs no contact check and applies at once.
		dbtest.Must(t, billing.ChangePlan(ctx, db, f.Admin, tenancy.PlanFree, admin))
		if a := dbtest.ReloadAccount(t, db, acct); a.Plan != tenancy.PlanFree || ratelimit.LimitsOf(a) != ratelimit.PlanLimits[tenancy.PlanFree] {
			t.Errorf("after downgrading: %s, %+v", a.Plan, ratelimit.LimitsOf(a))
		}
		if dbtest.CountRows(t, db, "plan_changes", "account_id = ?", acct) != 3 || audits() != 2 {
			t.Error("the downgrade is not in the history and the audit log")
		}
	})
}

// TestChangePlanRecordsThePlanBeforeTheFirstChange: an account that was on
// Developer from its creation without any history keeps those days priced
// as Developer after it downgrades.
func TestChangePlanRecordsThePlanBeforeTheFirstChange(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := t.Context()
		u, personal := dbtest.User(t, db)
		created := time.Now().UTC().AddDate(0, -2, 0).Truncate(time.Microsecond)
		setPlan(t, db, personal.AccountID(), tenancy.PlanDeveloper, created)
		scope, err := tenancy.PersonalScope(ctx, db, u.ID)
		dbtest.Must(t, err)
		dbtest.Must(t, billing.ChangePlan(ctx, db, scope, tenancy.PlanFree, dbtest.ActorOf(u)))
		var changes []billing.PlanChange
		dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT * FROM plan_changes WHERE account_id = ? ORDER BY effective_at, id", personal.AccountID()).Scan(&changes).Error)
		if len(changes) != 2 || changes[0].Plan != tenancy.PlanDeveloper || !changes[0].EffectiveAt.Equal(created) || changes[1].Plan != tenancy.PlanFree {
			t.Fatalf("history %+v, want Developer from creation then Free", changes)
		}
		last := billing.MonthOf(time.Now()).Prev()
		closeMonth(t, db, last, time.Now())
		invs := rawInvoices(t, db, "account_id = ?", personal.AccountID())
		if len(invs) != 1 || invs[0].TotalMinor != 4900 {
			t.Fatalf("%s, on Developer all month: %+v, want the whole fee", last, invs)
		}
	})
}

// TestChangePlanRefusesToLeaveEnterprise: Enterprise is arranged with sales
// (custom limits and prices); the page offers no switch from it, and the
// server must not accept one either — a forged POST would otherwise move an
// Enterprise account to Free while it keeps its custom limits.
func TestChangePlanRefusesToLeaveEnterprise(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := t.Context()
		u, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, u)
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE accounts SET plan = ?, rate_per_minute = 5000, rate_per_day = 5000000 WHERE id = ?", tenancy.PlanEnterprise, org.AccountID()).Error)
		scope, err := tenancy.LoadScope(ctx, db, u.ID, org.Account().PublicID)
		dbtest.Must(t, err)
		_, err = billing.SaveBillingContact(ctx, db, scope, billing.BillingContactInput{Email: "billing@example.com", Address: "1 Main St"}, dbtest.ActorOf(u))
		dbtest.Must(t, err)
		for _, p := range []tenancy.Plan{tenancy.PlanFree, tenancy.PlanDeveloper} {
			err := billing.ChangePlan(ctx, db, scope, p, dbtest.ActorOf(u))
			a := dbtest.ReloadAccount(t, db, org.AccountID())
			if err == nil || a.Plan != tenancy.PlanEnterprise {
				t.Errorf("an Enterprise account switched itself to %s (err %v): now %s with limits %+v at the %s rate card",
					p, err, a.Plan, ratelimit.LimitsOf(a), a.Plan)
			}
			dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE accounts SET plan = ? WHERE id = ?", tenancy.PlanEnterprise, org.AccountID()).Error)
			scope, err = tenancy.LoadScope(ctx, db, u.ID, org.Account().PublicID)
			dbtest.Must(t, err)
		}
		// Nor does it ask for Enterprise again.
		before := dbtest.CountAll(t, db)
		dbtest.WantIs(t, billing.RequestEnterprise(ctx, db, scope, 5, "", dbtest.ActorOf(u)), billing.ErrEnterpriseContract)
		dbtest.WantNothingWritten(t, db, before)
	})
}

func TestSaveBillingContact(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := t.Context()
		f := dbtest.NewOrgFixture(t, db)
		admin := dbtest.ActorOf(f.AdminUser)
		contacts := func() int64 { return dbtest.CountRows(t, db, "billing_contacts", "") }
		good := billing.BillingContactInput{Email: "billing@example.com", Company: "Acme", Address: "1 Main St", VATID: "FRXX999999999"}
		with := func(change func(*billing.BillingContactInput)) billing.BillingContactInput {
			in := good
			change(&in)
			return in
		}
		for _, c := range []struct {
			in     billing.BillingContactInput
			fields []string
		}{
			{with(func(in *billing.BillingContactInput) { in.Email = "" }), []string{"email"}},
			{with(func(in *billing.BillingContactInput) { in.Email = "not an email" }), []string{"email"}},
			{with(func(in *billing.BillingContactInput) { in.Email = "Ada <ada@example.com>" }), []string{"email"}},
			{with(func(in *billing.BillingContactInput) { in.Address = "" }), []string{"address"}},
			{with(func(in *billing.BillingContactInput) { in.Address = " \r\n\t " }), []string{"address"}},
			{with(func(in *billing.BillingContactInput) { in.Address = strings.Repeat("a", 1001) }), []string{"address"}},
			{with(func(in *billing.BillingContactInput) { in.Address = "1 Main\x00St" }), []string{"address"}},
			{with(func(in *billing.BillingContactInput) { in.VATID = "123456789" }), []string{"vat_id"}},
			{with(func(in *billing.BillingContactInput) { in.VATID = "D1234" }), []string{"vat_id"}},
			{with(func(in *billing.BillingContactInput) { in.VATID = "DE" + strings.Repeat("1", 14) }), []string{"vat_id"}},
			{with(func(in *billing.BillingContactInput) { in.VATID = "DE-123456789" }), []string{"vat_id"}},
			{with(func(in *billing.BillingContactInput) { in.Company = strings.Repeat("é", 201) }), []string{"company"}},
			{with(func(in *billing.BillingContactInput) { in.Company = "Acme\x07" }), []string{"company"}},
			{billing.BillingContactInput{}, []string{"email", "address"}},
		} {
			before := dbtest.CountAll(t, db)
			_, err := billing.SaveBillingContact(ctx, db, f.Admin, c.in, admin)
			dbtest.WantFields(t, err, c.fields...)
			dbtest.WantNothingWritten(t, db, before)
			if contacts() != 0 {
				t.Fatalf("a refused contact (%+v) was saved", c.in)
			}
		}
		_, err := billing.SaveBillingContact(ctx, db, f.Member, good, dbtest.ActorOf(f.MemberUser))
		dbtest.WantIs(t, err, tenancy.ErrForbidden)

		// Boundaries pass; values are normalised.
		c, err := billing.SaveBillingContact(ctx, db, f.Admin, billing.BillingContactInput{
			Email: "  Billing@Example.COM ", Company: "  Acme   Video\tLabs ", Address: " 1 Main St\r\nSpringfield \n", VATID: " gb 123 456 789 "}, admin)
		dbtest.Must(t, err)
		if c.Email != "billing@example.com" || c.Company != "Acme Video Labs" || c.Address != "1 Main St\nSpringfield" || c.VATID != "GB123456789" || c.PaymentMethod != "invoice" {
			t.Errorf("saved %+v", c)
		}
		_, err = billing.SaveBillingContact(ctx, db, f.Admin, with(func(in *billing.BillingContactInput) {
			in.Company, in.Address, in.VATID = strings.Repeat("é", 200), strings.Repeat("a", 1000), "DE"+strings.Repeat("1", 13)
		}), admin)
		dbtest.Must(t, err)
		got, err := billing.GetBillingContact(ctx, db, f.Admin)
		dbtest.Must(t, err)
		if contacts() != 1 || got.VATID != "DE"+strings.Repeat("1", 13) || got.AccountID != f.Admin.AccountID() {
			t.Errorf("saving again: %d rows, %+v; want the one row updated", contacts(), got)
		}
		if n := dbtest.CountRows(t, db, "audit_events", "account_id = ? AND action = ?", f.Admin.AccountID(), billing.AuditBillingContact); n != 2 {
			t.Errorf("%d audit events for two saves", n)
		}
		_, err = billing.GetBillingContact(ctx, db, f.Other)
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		_, err = billing.GetBillingContact(ctx, db, f.Member)
		dbtest.WantIs(t, err, tenancy.ErrForbidden)
	})
}

func TestRequestEnterprise(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := t.Context()
		f := dbtest.NewOrgFixture(t, db)
		admin := dbtest.ActorOf(f.AdminUser)
		for _, c := range []struct {
			seats   int64
			message string
			fields  []string
		}{
			{0, "", []string{"seats"}},
			{-3, "hi", []string{"seats"}},
			{1_000_001, "", []string{"seats"}},
			{10, strings.Repeat("x", 2001), []string{"message"}},
			{10, "bell\x07", []string{"message"}},
			{0, strings.Repeat("x", 2001), []string{"seats", "message"}},
		} {
			before := dbtest.CountAll(t, db)
			dbtest.WantFields(t, billing.RequestEnterprise(ctx, db, f.Admin, c.seats, c.message, admin), c.fields...)
			dbtest.WantNothingWritten(t, db, before)
		}
		dbtest.WantIs(t, billing.RequestEnterprise(ctx, db, f.Member, 5, "", dbtest.ActorOf(f.MemberUser)), tenancy.ErrForbidden)
		if since, err := billing.PendingEnterpriseRequest(ctx, db, f.Admin); err != nil || since != nil {
			t.Fatalf("a request pending before any: %v %v", since, err)
		}
		dbtest.Must(t, billing.RequestEnterprise(ctx, db, f.Admin, 1_000_000, strings.Repeat("x", 1990)+"\nthanks", admin))
		dbtest.Must(t, billing.RequestEnterprise(ctx, db, f.Admin, 1, "", admin))
		if n := dbtest.CountRows(t, db, "enterprise_requests", "account_id = ?", f.Admin.AccountID()); n != 2 {
			t.Errorf("%d requests recorded, want 2", n)
		}
		if since, err := billing.PendingEnterpriseRequest(ctx, db, f.Admin); err != nil || since == nil {
			t.Errorf("no pending request after asking: %v", err)
		}
		if dbtest.ReloadAccount(t, db, f.Admin.AccountID()).Plan != tenancy.PlanFree {
			t.Error("requesting Enterprise changed the plan")
		}
	})
}

// SnapshotStorage -------------------------------------------------------------

func storageRows(t *testing.T, db *gorm.DB, day string) map[[2]int64]int64 {
	t.Helper()
	var rows []usage.UsageDaily
	dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT * FROM usage_daily WHERE metric = ? AND day = ?", usage.MetricStorageSeconds, day).Scan(&rows).Error)
	out := map[[2]int64]int64{}
	for _, r := range rows {
		if _, dup := out[[2]int64{r.AccountID, r.UserID}]; dup {
			t.Fatalf("two storage rows for account %d, user %d on %s", r.AccountID, r.UserID, day)
		}
		out[[2]int64{r.AccountID, r.UserID}] = r.Quantity
	}
	return out
}

func TestSnapshotStorage(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := t.Context()
		f := dbtest.NewOrgFixture(t, db)
		shared := dbtest.NewIndex(t, db, f.Admin, "shared", "account")
		mine := dbtest.NewIndex(t, db, f.AdminPersonal, "mine", "")
		dbtest.AddVideo(t, db, f.Admin, shared.PublicID, "v", 100)
		dbtest.AddVideo(t, db, f.Admin, shared.PublicID, "v", 200)
		gone := dbtest.AddVideo(t, db, f.Member, shared.PublicID, "v", 300)
		dbtest.AddVideo(t, db, f.AdminPersonal, mine.PublicID, "v", 50)

		day1 := time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC)
		dbtest.Must(t, billing.SnapshotStorage(ctx, db, day1))
		want := map[[2]int64]int64{
			{f.Admin.AccountID(), f.AdminUser.ID}:         300,
			{f.Admin.AccountID(), f.MemberUser.ID}:        300,
			{f.AdminPersonal.AccountID(), f.AdminUser.ID}: 50,
		}
		if got := storageRows(t, db, "2031-03-04"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("snapshot %v, want %v", got, want)
		}
		// Later the same day: the day's snapshot is replaced, not added to.
		dbtest.AddVideo(t, db, f.Member2, shared.PublicID, "v", 40)
		_, err := models.DeleteVideo(ctx, db, f.Member, shared.PublicID, gone.PublicID)
		dbtest.Must(t, err)
		dbtest.Must(t, billing.SnapshotStorage(ctx, db, day1.Add(13*time.Hour+59*time.Minute)))
		want = map[[2]int64]int64{
			{f.Admin.AccountID(), f.AdminUser.ID}:         300,
			{f.Admin.AccountID(), f.Member2User.ID}:       40,
			{f.AdminPersonal.AccountID(), f.AdminUser.ID}: 50,
		}
		if got := storageRows(t, db, "2031-03-04"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("second snapshot of the day %v, want %v", got, want)
		}
		// The next day has its own row; the previous day's stays.
		dbtest.Must(t, billing.SnapshotStorage(ctx, db, day1.AddDate(0, 0, 1)))
		if got := storageRows(t, db, "2031-03-05"); len(got) != 3 {
			t.Errorf("next day's snapshot %v", got)
		}
		if got := storageRows(t, db, "2031-03-04"); len(got) != 3 {
			t.Errorf("the previous day's snapshot changed: %v", got)
		}
		// An account with no video left has no row of the day.
		_, err = models.DeleteIndex(ctx, db, f.AdminPersonal, mine.PublicID)
		dbtest.Must(t, err)
		dbtest.Must(t, billing.SnapshotStorage(ctx, db, day1.AddDate(0, 0, 1).Add(time.Hour)))
		if got := storageRows(t, db, "2031-03-05"); len(got) != 2 || got[[2]int64{f.AdminPersonal.AccountID(), f.AdminUser.ID}] != 0 {
			t.Errorf("snapshot after deleting every video of the personal account: %v", got)
		}
		// It shows as storage held in the usage report.
		rep, err := usage.UsageFor(ctx, db, f.Admin, usage.UsageQuery{From: day1.Truncate(24 * time.Hour), To: day1.Truncate(24*time.Hour).AddDate(0, 0, 2), Everyone: true})
		dbtest.Must(t, err)
		if fmt.Sprint(rep.StorageSeconds) != "[340 340]" {
			t.Errorf("storage per day %v, want [340 340]", rep.StorageSeconds)
		}
	})
}

// TestCloseMonthSplitsLinesAtAMidMonthUpgrade: a member's requests before
// and after an upgrade on the 16th are two lines at two prices, and the fee
// counts the days from the 16th (the day of the change is on the new plan).
func TestCloseMonthSplitsLinesAtAMidMonthUpgrade(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		admin, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, admin)
		m := billing.Month{Year: 2026, Mon: time.June} // 30 days
		setPlan(t, db, org.AccountID(), tenancy.PlanDeveloper, m.Start().AddDate(0, -2, 0))
		insertPlanChange(t, db, org.AccountID(), tenancy.PlanDeveloper, time.Date(2026, 6, 16, 12, 30, 0, 0, time.UTC))
		dbtest.InsertUsage(t, db, []dbtest.UsageRow{
			dbtest.Usage(org.AccountID(), "2026-06-10", admin.ID, usage.MetricAPIRequests, "indexes.read", 1000),
			dbtest.Usage(org.AccountID(), "2026-06-15", admin.ID, usage.MetricAPIRequests, "indexes.read", 500),
			dbtest.Usage(org.AccountID(), "2026-06-16", admin.ID, usage.MetricAPIRequests, "indexes.read", 250),
			dbtest.Usage(org.AccountID(), "2026-06-30", admin.ID, usage.MetricAPIRequests, "indexes.read", 125),
		})
		closeMonth(t, db, m, time.Now())
		invs := rawInvoices(t, db, "account_id = ?", org.AccountID())
		if len(invs) != 1 {
			t.Fatalf("%d invoices", len(invs))
		}
		var got []string
		for _, l := range rawInvoiceLines(t, db, invs[0].ID) {
			got = append(got, fmt.Sprintf("%s/%s/%d/%d", l.Plan, l.Metric, l.Quantity, l.AmountMinor))
		}
		sort.Strings(got)
		dev := billing.RateCards[tenancy.PlanDeveloper]
		want := []string{
			fmt.Sprintf("developer/api_requests/375/%d", dev.APIRequest.Amount(375)),
			fmt.Sprintf("developer/plan_fee/15/%d", prorated(dev.MonthlyFee, 15, 30)),
			"free/api_requests/1500/0",
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("lines %v, want %v", got, want)
		}
		if invs[0].TotalMinor != dev.APIRequest.Amount(375)+2450 {
			t.Errorf("total %d", invs[0].TotalMinor)
		}
	})
}

// TestSnapshotStorageConcurrently: every server runs the hourly snapshot
// (billingLoop: "several servers may all do it"); snapshots of the same day
// taken at once must all succeed and leave one row per member.
func TestSnapshotStorageConcurrently(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		idx := dbtest.NewIndex(t, db, f.Admin, "shared", "account")
		dbtest.AddVideo(t, db, f.Admin, idx.PublicID, "v", 100)
		dbtest.AddVideo(t, db, f.Member, idx.PublicID, "v", 200)
		at := time.Date(2031, 5, 6, 7, 0, 0, 0, time.UTC)
		failures := 0
		for round := range 20 {
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = billing.SnapshotStorage(context.Background(), db, at.Add(time.Duration(round)*time.Minute))
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					failures++
					if failures == 1 {
						t.Errorf("round %d: a concurrent snapshot failed: %v", round, err)
					}
				}
			}
		}
		if failures > 0 {
			t.Errorf("%d of 80 concurrent snapshots failed", failures)
		}
		if got := storageRows(t, db, "2031-05-06"); len(got) != 2 {
			t.Errorf("rows of the day %v, want one per member", got)
		}
	})
}
