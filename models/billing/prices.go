package billing

import (
	"fmt"
	"time"

	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// Currency of every amount: amounts are integer minor units (cents).
const Currency = "USD"

// Price is a unit price in millionths of a minor unit, so that fractions of
// a cent per unit stay exact integers.
type Price int64

// Amount prices a quantity, rounding half up to a whole minor unit.
func (p Price) Amount(quantity int64) int64 {
	return (quantity*int64(p) + 500_000) / 1_000_000
}

// RateCard is what a plan costs: a monthly fee (prorated by day) and a unit
// price per metric.
type RateCard struct {
	MonthlyFee   int64 // minor units
	APIRequest   Price // per request
	IndexingSec  Price // per second of video indexed
	StorageSecDy Price // per second of video held for a day
}

// RateCards is the one price list, per plan.
var RateCards = map[tenancy.Plan]RateCard{
	tenancy.PlanFree:       {},
	tenancy.PlanDeveloper:  {MonthlyFee: 4900, APIRequest: 20_000, IndexingSec: 50_000, StorageSecDy: 90},
	tenancy.PlanEnterprise: {MonthlyFee: 0, APIRequest: 16_000, IndexingSec: 40_000, StorageSecDy: 72},
}

// unitPrice is the price of one unit of a metric on a plan.
func (r RateCard) unitPrice(metric string) Price {
	switch metric {
	case usage.MetricAPIRequests:
		return r.APIRequest
	case usage.MetricIndexingSeconds:
		return r.IndexingSec
	case usage.MetricStorageSeconds:
		return r.StorageSecDy
	}
	return 0
}

// metricUnit names the unit a metric's quantity counts.
func metricUnit(metric string) string {
	switch metric {
	case usage.MetricAPIRequests:
		return "request"
	case usage.MetricIndexingSeconds:
		return "second"
	case usage.MetricStorageSeconds:
		return "second-day"
	}
	return "day"
}

// MetricLabel is a metric as bills and pages name it.
func MetricLabel(metric, category string) string {
	switch metric {
	case usage.MetricAPIRequests:
		if category != "" {
			return "API requests (" + category + ")"
		}
		return "API requests"
	case usage.MetricIndexingSeconds:
		return "Indexing time"
	case usage.MetricStorageSeconds:
		return "Storage held"
	case metricPlanFee:
		return "Plan fee"
	}
	return metric
}

// metricPlanFee is the prorated monthly fee on bills.
const metricPlanFee = "plan_fee"

// Month is a calendar month in UTC.
type Month struct {
	Year int
	Mon  time.Month
}

// ParseMonth reads YYYY-MM.
func ParseMonth(s string) (Month, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return Month{}, fmt.Errorf("%q is not a month like 2026-11", s)
	}
	return Month{t.Year(), t.Month()}, nil
}

// MonthOf is the month of t.
func MonthOf(t time.Time) Month { u := t.UTC(); return Month{u.Year(), u.Month()} }

func (m Month) String() string   { return fmt.Sprintf("%04d-%02d", m.Year, m.Mon) }
func (m Month) Start() time.Time { return time.Date(m.Year, m.Mon, 1, 0, 0, 0, 0, time.UTC) }
func (m Month) End() time.Time   { return m.Start().AddDate(0, 1, 0) } // exclusive
func (m Month) Days() int        { return int(m.End().Sub(m.Start()).Hours() / 24) }
func (m Month) Prev() Month      { return MonthOf(m.Start().AddDate(0, 0, -1)) }

// Label is "November 2026".
func (m Month) Label() string { return m.Start().Format("January 2006") }
