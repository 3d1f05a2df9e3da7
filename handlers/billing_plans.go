package handlers

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"switchboard/models/billing"
	"switchboard/models/ratelimit"
	"switchboard/models/tenancy"
	"switchboard/views"
	"switchboard/views/paths"
)

// planColumns are the plan table's columns, in the domain's order, for an
// account on current.
func planColumns(current tenancy.Plan) []views.PlanColumn {
	var cols []views.PlanColumn
	for _, plan := range tenancy.Plans() {
		rc, l := billing.RateCards[plan], ratelimit.PlanLimits[plan]
		col := views.PlanColumn{
			Key: string(plan), Name: plan.Label(), Price: money(rc.MonthlyFee) + " / month",
			PerMinute: thousands(l.PerMinute), PerDay: thousands(l.PerDay),
			APIPrice: unitPrice(rc.APIRequest * 1000), Indexing: unitPrice(rc.IndexingSec * 60), Storage: unitPrice(rc.StorageSecDy * 3600 * 30),
			Current:   plan == current,
			CanSwitch: current.CanSwitchTo(plan),
			IsUpgrade: plan.Rank() > current.Rank(),
		}
		if plan.ByContract() {
			// A contract's terms are its own; the rate card is where they start.
			col.Price, col.PerMinute, col.PerDay = "Custom", "Custom", "Custom"
			col.APIPrice, col.Indexing, col.Storage = "From "+col.APIPrice, "From "+col.Indexing, "From "+col.Storage
		}
		cols = append(cols, col)
	}
	return cols
}

type planForm struct {
	Plan string `form:"plan"`
}

// PlanSubmit upgrades or downgrades between Free and Developer.
func (h *Billing) PlanSubmit(c echo.Context) error {
	var f planForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	plan := tenancy.Plan(f.Plan)
	err := billing.ChangePlan(c.Request().Context(), h.db, ScopeFrom(c), plan, actor(c))
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.billingPage(c, http.StatusUnprocessableEntity, billingState{planError: fe["plan"]})
	}
	if status, msg, ok := refusal(err); ok {
		return h.billingPage(c, status, billingState{planError: msg})
	}
	if err != nil {
		return err
	}
	l := ratelimit.PlanLimits[plan]
	return h.flashRedirect(c, flashSuccess, fmt.Sprintf("You're on the %s plan. From the next API request the limits are %s per minute and %s per day.",
		plan.Label(), thousands(l.PerMinute), thousands(l.PerDay)), paths.Billing())
}
