package handlers

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"switchboard/models/billing"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
	"switchboard/views"
	"switchboard/views/paths"
)

// usagePeriod reads ?range=7d|30d|90d or ?month=YYYY-MM (default 30 days).
func usagePeriod(c echo.Context, now time.Time) (from, to time.Time, label, key string, err error) {
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if m := c.QueryParam("month"); m != "" {
		month, err := billing.ParseMonth(m)
		if err != nil || month.Start().After(now) || month.Start().Before(today.AddDate(-2, 0, 0)) {
			return from, to, "", "", echo.NewHTTPError(http.StatusBadRequest, "Choose a month of the last two years, like "+billing.MonthOf(now).String()+".")
		}
		return month.Start(), month.End(), month.Label(), "month=" + month.String(), nil
	}
	days := map[string]int{"": 30, "7d": 7, "30d": 30, "90d": 90}
	n, ok := days[c.QueryParam("range")]
	if !ok {
		return from, to, "", "", echo.NewHTTPError(http.StatusBadRequest, "The range is 7d, 30d or 90d.")
	}
	return today.AddDate(0, 0, 1-n), today.AddDate(0, 0, 1), fmt.Sprintf("Last %d days", n), fmt.Sprintf("range=%dd", n), nil
}

func (h *Billing) usageQuery(c echo.Context) (usage.UsageQuery, string, string, error) {
	from, to, label, key, err := usagePeriod(c, time.Now().UTC())
	if err != nil {
		return usage.UsageQuery{}, "", "", err
	}
	return usage.UsageQuery{From: from, To: to, Everyone: ScopeFrom(c).Can(tenancy.CapViewAccountUsage)}, label, key, nil
}

// UsagePage shows the account's usage (administrators) or the user's own
// (regular members of an organization).
func (h *Billing) UsagePage(c echo.Context) error {
	q, label, key, err := h.usageQuery(c)
	if err != nil {
		return err
	}
	scope := ScopeFrom(c)
	rep, err := usage.UsageFor(c.Request().Context(), h.db, scope, q)
	if err != nil {
		return err
	}
	shell, err := h.shell(c, "Usage", "usage")
	if err != nil {
		return err
	}
	p := views.UsagePageProps{
		// A personal account's usage is its owner's: no "all members", no
		// breakdown by member.
		Shell: shell, Period: label, Everyone: q.Everyone && scope.IsOrganization(), OrgNotice: !q.Everyone && scope.IsOrganization(),
		CSVHref: paths.UsageCSV() + "?" + key,
	}
	p.Ranges, p.Months = usagePeriods(key, time.Now())
	usageFigures(&p, rep, label)
	for _, cat := range slices.Sorted(maps.Keys(rep.Categories)) {
		p.Categories = append(p.Categories, views.CategoryRow{Category: cat, Requests: thousands(rep.Categories[cat])})
	}
	for _, m := range rep.Members {
		p.Members = append(p.Members, views.MemberUsageRow{Name: m.Name, Email: m.Email, Requests: thousands(m.APIRequests),
			Indexing: minutes(m.IndexingSeconds), Storage: hourDays(m.StorageSecDays)})
	}
	return render(c, http.StatusOK, views.UsagePage(p))
}

// usagePeriods are the periods the page offers, the one of key active: the
// last 7, 30 and 90 days, and the last three months.
func usagePeriods(key string, now time.Time) (ranges, months []views.RangeOption) {
	for _, r := range []struct{ label, key string }{{"7 days", "range=7d"}, {"30 days", "range=30d"}, {"90 days", "range=90d"}} {
		ranges = append(ranges, views.RangeOption{Label: r.label, Href: paths.Usage() + "?" + r.key, Active: r.key == key})
	}
	for m, i := billing.MonthOf(now), 0; i < 3; m, i = m.Prev(), i+1 {
		months = append(months, views.RangeOption{Label: m.Start().Format("Jan 2006"), Href: paths.WithQuery(paths.Usage(), url.Values{"month": {m.String()}}), Active: key == "month="+m.String()})
	}
	return ranges, months
}

// usageFigures puts the period's totals and daily charts into the page.
func usageFigures(p *views.UsagePageProps, rep usage.UsageReport, label string) {
	requests, indexing, storage := usage.Total(rep.APIRequests), usage.Total(rep.IndexingSeconds), usage.Total(rep.StorageSeconds)
	latestStorage := int64(0)
	for i := len(rep.StorageSeconds) - 1; i >= 0; i-- {
		if rep.StorageSeconds[i] > 0 {
			latestStorage = rep.StorageSeconds[i]
			break
		}
	}
	p.TotalCards = []views.StatCard{
		{Label: "API requests", Value: thousands(requests)},
		{Label: "Indexing", Value: minutes(indexing)},
		{Label: "Storage held now", Value: hours(latestStorage)},
	}
	p.Charts = []views.BarChartProps{
		chart("requests", "API requests per day", "requests", rep.Days, rep.APIRequests, thousands,
			fmt.Sprintf("%s API requests in %s.", thousands(requests), strings.ToLower(label))),
		chart("indexing", "Indexing per day", "minutes", rep.Days, rep.IndexingSeconds, minutes,
			fmt.Sprintf("%s of video indexed in %s.", minutes(indexing), strings.ToLower(label))),
		chart("storage", "Storage held per day", "hours", rep.Days, rep.StorageSeconds, hours,
			fmt.Sprintf("Video held each day; %s held now (%s hour-days in the period).", hours(latestStorage), hourDays(storage))),
	}
}

func minutes(seconds int64) string {
	if seconds > 0 && seconds < 60 {
		return "<1 min"
	}
	return thousands((seconds+30)/60) + " min"
}

func hours(seconds int64) string {
	return strconv.FormatFloat(float64(seconds)/3600, 'f', 1, 64) + " h"
}

// hourDays shows second-days of storage held as hour-days: with a decimal
// while small, so that a few minutes of video held show as more than 0.
func hourDays(secondDays int64) string {
	if secondDays < 100*3600 {
		return strconv.FormatFloat(float64(secondDays)/3600, 'f', 1, 64) + " hour-days"
	}
	return thousands((secondDays+1800)/3600) + " hour-days"
}

func chart(id, title, unit string, days []string, values []int64, format func(int64) string, summary string) views.BarChartProps {
	p := views.BarChartProps{ID: id, Title: title, Unit: unit, Summary: summary}
	var max int64
	for i, d := range days {
		t, _ := time.Parse(time.DateOnly, d)
		p.Bars = append(p.Bars, views.Bar{Label: t.Format("Jan 2"), Value: float64(values[i]), Display: format(values[i])})
		if values[i] > max {
			max = values[i]
		}
	}
	p.MaxText = format(max)
	return p
}

// UsageCSV exports the period's usage, line by line.
func (h *Billing) UsageCSV(c echo.Context) error {
	q, _, key, err := h.usageQuery(c)
	if err != nil {
		return err
	}
	rows, err := usage.UsageRows(c.Request().Context(), h.db, ScopeFrom(c), q)
	if err != nil {
		return err
	}
	h.csvHeaders(c, "usage-"+strings.NewReplacer("range=", "", "month=", "").Replace(key)+".csv")
	w := newSpreadsheetCSV(c.Response())
	_ = w.Write([]string{"day", "member", "email", "metric", "category", "quantity", "unit"})
	for _, r := range rows {
		_ = w.Write([]string{r.Day, r.Name, r.Email, r.Metric, r.Category, strconv.FormatInt(r.Quantity, 10), metricUnitName(r.Metric)})
	}
	w.Flush()
	return w.Error()
}

func metricUnitName(metric string) string {
	switch metric {
	case usage.MetricAPIRequests:
		return "requests"
	case usage.MetricIndexingSeconds:
		return "seconds"
	case usage.MetricStorageSeconds:
		return "second-days"
	}
	return ""
}
