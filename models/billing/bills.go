package billing

import (
	"context"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// PlanChange is one entry of an account's plan history.
type PlanChange struct {
	ID          int64
	AccountID   int64
	Plan        tenancy.Plan
	EffectiveAt time.Time
	UserID      *int64
}

// planOnDays returns the plan in force on each day of [from, to): the
// latest change made before the day ends; with no history at all, the plan
// the account has now from the day it was created; before that, Free.
// The whole history is read, not just changes before to: an account that
// has changed plan since must not be billed for the past at today's plan.
func planOnDays(tx *gorm.DB, s tenancy.Scope, from, to time.Time) ([]tenancy.Plan, error) {
	a := s.Account()
	var changes []PlanChange
	if err := s.Apply(tx).Order("effective_at, id").Find(&changes).Error; err != nil {
		return nil, err
	}
	var days []tenancy.Plan
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		end := d.AddDate(0, 0, 1)
		plan := tenancy.PlanFree
		if len(changes) == 0 && a.CreatedAt.Before(end) {
			plan = a.Plan
		}
		for _, c := range changes {
			if c.EffectiveAt.Before(end) {
				plan = c.Plan
			}
		}
		days = append(days, plan)
	}
	return days, nil
}

// BillLine is one line of a bill: a member's use of a metric under one plan,
// or a plan's prorated fee.
type BillLine struct {
	UserID          *int64
	Member          string
	Plan            tenancy.Plan
	Metric          string
	Category        string
	Description     string
	Quantity        int64
	Unit            string
	UnitPriceMicros Price
	AmountMinor     int64
}

// Bill is one account's consolidated bill for a month (so far).
type Bill struct {
	Period Month
	Lines  []BillLine
	Total  int64
}

// HasCharges reports whether the bill has anything to show.
func (b Bill) HasCharges() bool { return len(b.Lines) > 0 }

// rollupRow is usage summed per day, member, metric and category.
type rollupRow struct {
	Day      string
	UserID   int64
	Metric   string
	Category string
	Quantity int64
}

// buildBill prices the scope's account's rollups of [period start, until)
// by the rate card of the plan in force each day: one line per member,
// metric, category and plan, and a prorated fee line per paid plan.
func buildBill(tx *gorm.DB, scope tenancy.Scope, period Month, until time.Time) (Bill, error) {
	bill := Bill{Period: period}
	from, to := period.Start(), period.End()
	if until.Before(to) {
		to = until
	}
	if !to.After(from) {
		return bill, nil
	}
	plans, err := planOnDays(tx, scope, from, to)
	if err != nil {
		return bill, err
	}
	var rows []rollupRow
	if err := scope.Apply(tx.Model(&usage.UsageDaily{})).
		Select("day, user_id, metric, category, SUM(quantity) AS quantity").
		Where("day >= ? AND day < ?", usage.DayOf(from), usage.DayOf(to)).
		Group("day, user_id, metric, category").Scan(&rows).Error; err != nil {
		return bill, err
	}
	type key struct {
		user             int64
		metric, category string
		plan             tenancy.Plan
	}
	sums := map[key]int64{}
	users := map[int64]bool{}
	for _, r := range rows {
		day, err := time.Parse(time.DateOnly, r.Day)
		if err != nil {
			return bill, err
		}
		i := int(day.Sub(from).Hours() / 24)
		if i < 0 || i >= len(plans) {
			continue
		}
		sums[key{r.UserID, r.Metric, r.Category, plans[i]}] += r.Quantity
		users[r.UserID] = true
	}
	names, err := memberNames(tx, users)
	if err != nil {
		return bill, err
	}
	// Plan fees, prorated by the days each paid plan was in force.
	feeDays := map[tenancy.Plan]int64{}
	var feeOrder []tenancy.Plan
	for _, p := range plans {
		if RateCards[p].MonthlyFee > 0 {
			if feeDays[p] == 0 {
				feeOrder = append(feeOrder, p)
			}
			feeDays[p]++
		}
	}
	for _, p := range feeOrder {
		price := Price(RateCards[p].MonthlyFee * 1_000_000 / int64(period.Days()))
		bill.Lines = append(bill.Lines, BillLine{
			Member: "", Plan: p, Metric: metricPlanFee, Description: p.Label() + " plan, " + fmt.Sprint(feeDays[p]) + " of " + fmt.Sprint(period.Days()) + " days",
			Quantity: feeDays[p], Unit: "day", UnitPriceMicros: price, AmountMinor: price.Amount(feeDays[p]),
		})
	}
	keys := make([]key, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if names[a.user] != names[b.user] {
			return names[a.user] < names[b.user]
		}
		if a.user != b.user {
			return a.user < b.user
		}
		if a.metric != b.metric {
			return a.metric < b.metric
		}
		if a.category != b.category {
			return a.category < b.category
		}
		return a.plan < b.plan
	})
	for _, k := range keys {
		price := RateCards[k.plan].unitPrice(k.metric)
		user := k.user
		bill.Lines = append(bill.Lines, BillLine{
			UserID: &user, Member: names[k.user], Plan: k.plan, Metric: k.metric, Category: k.category,
			Description: MetricLabel(k.metric, k.category) + " · " + k.plan.Label(),
			Quantity:    sums[k], Unit: metricUnit(k.metric), UnitPriceMicros: price, AmountMinor: price.Amount(sums[k]),
		})
	}
	for _, l := range bill.Lines {
		bill.Total += l.AmountMinor
	}
	return bill, nil
}

// memberNames names the users of a bill: "Ada Lovelace <ada@example.com>".
func memberNames(tx *gorm.DB, ids map[int64]bool) (map[int64]string, error) {
	out := map[int64]string{}
	if len(ids) == 0 {
		return out, nil
	}
	list := make([]int64, 0, len(ids))
	for id := range ids {
		list = append(list, id)
	}
	var users []models.User
	if err := tx.Select("id, name, email").Where("id IN ?", list).Find(&users).Error; err != nil {
		return nil, err
	}
	for _, u := range users {
		out[u.ID] = u.Name + " <" + u.Email + ">"
	}
	for _, id := range list {
		if out[id] == "" {
			out[id] = "a former user"
		}
	}
	return out, nil
}

// CurrentBill is the consolidated bill of the month in progress, so far.
func CurrentBill(ctx context.Context, db *gorm.DB, s tenancy.Scope, at time.Time) (Bill, error) {
	if err := s.Require(tenancy.CapManageBilling); err != nil {
		return Bill{}, err
	}
	day := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
	var bill Bill
	err := s.Read(ctx, db, func(tx *gorm.DB) (err error) {
		bill, err = buildBill(tx, s, MonthOf(at), day)
		return err
	})
	return bill, err
}
