package handlers

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"switchboard/models/billing"
	"switchboard/models/ratelimit"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
	"switchboard/views"
	"switchboard/views/paths"
)

// Billing handles Settings › Usage and Settings › Billing & Plan.
type Billing struct{ *deps }

// money writes minor units as "$1,234.56".
func money(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s$%s.%02d", sign, thousands(minor/100), minor%100)
}

// decimal writes minor units as a plain number of dollars, "1234.56", for CSV.
func decimal(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d", sign, minor/100, minor%100)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// unitPrice writes a price per unit in millionths of a cent as dollars,
// with as many decimals as it needs (up to 6).
func unitPrice(p billing.Price) string {
	dollars := float64(p) / 1e8
	s := strconv.FormatFloat(dollars, 'f', 6, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if !strings.Contains(s, ".") {
		s += ".00"
	} else if len(s)-strings.Index(s, ".") == 2 {
		s += "0"
	}
	return "$" + s
}

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
	for _, r := range []struct{ label, key string }{{"7 days", "range=7d"}, {"30 days", "range=30d"}, {"90 days", "range=90d"}} {
		p.Ranges = append(p.Ranges, views.RangeOption{Label: r.label, Href: paths.Usage() + "?" + r.key, Active: r.key == key})
	}
	for m, i := billing.MonthOf(time.Now()), 0; i < 3; m, i = m.Prev(), i+1 {
		p.Months = append(p.Months, views.RangeOption{Label: m.Start().Format("Jan 2006"), Href: paths.WithQuery(paths.Usage(), url.Values{"month": {m.String()}}), Active: key == "month="+m.String()})
	}
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
	for _, cat := range slices.Sorted(maps.Keys(rep.Categories)) {
		p.Categories = append(p.Categories, views.CategoryRow{Category: cat, Requests: thousands(rep.Categories[cat])})
	}
	for _, m := range rep.Members {
		p.Members = append(p.Members, views.MemberUsageRow{Name: m.Name, Email: m.Email, Requests: thousands(m.APIRequests),
			Indexing: minutes(m.IndexingSeconds), Storage: hourDays(m.StorageSecDays)})
	}
	return render(c, http.StatusOK, views.UsagePage(p))
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

// spreadsheetCSV writes CSV that spreadsheets open as text: a cell that
// starts like a formula (a member may name themselves "=HYPERLINK(…)") gets
// a leading apostrophe, so it is shown, never evaluated.
type spreadsheetCSV struct{ *csv.Writer }

func newSpreadsheetCSV(w io.Writer) spreadsheetCSV { return spreadsheetCSV{csv.NewWriter(w)} }

func (w spreadsheetCSV) Write(record []string) error {
	safe := make([]string, len(record))
	for i, cell := range record {
		safe[i] = cell
		if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
			safe[i] = "'" + cell
		}
	}
	return w.Writer.Write(safe)
}

func (h *Billing) csvHeaders(c echo.Context, filename string) {
	hd := c.Response().Header()
	hd.Set("Content-Type", "text/csv; charset=utf-8")
	hd.Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	hd.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
}

// billingState carries refused forms back to the billing page.
type billingState struct {
	contact       *contactForm
	contactErrors tenancy.FieldErrors
	planError     string
	enterprise    *enterpriseForm
	enterpriseErr tenancy.FieldErrors
}

func (h *Billing) billingPage(c echo.Context, status int, st billingState) error {
	ctx := c.Request().Context()
	scope := ScopeFrom(c)
	contact, err := billing.GetBillingContact(ctx, h.db, scope)
	hasContact := err == nil
	if err != nil && !errors.Is(err, tenancy.ErrNotFound) {
		return err
	}
	bill, err := billing.CurrentBill(ctx, h.db, scope, time.Now().UTC())
	if err != nil {
		return err
	}
	page := pageOf(c)
	invoices, invoiceCount, err := billing.ListInvoices(ctx, h.db, scope, page)
	if err != nil {
		return err
	}
	since, err := billing.PendingEnterpriseRequest(ctx, h.db, scope)
	if err != nil {
		return err
	}
	shell, err := h.shell(c, "Billing & Plan", "billing")
	if err != nil {
		return err
	}
	current := scope.Account().Plan
	p := views.BillingPageProps{
		Shell: shell, Plan: current.Label(), HasContact: hasContact, ContactErrors: st.contactErrors, PlanError: st.planError,
		EnterpriseErrs: st.enterpriseErr, BillPeriod: bill.Period.Label(), BillTotal: money(bill.Total),
		InvoicePages: pagination(page, invoiceCount, false, paths.Billing(), nil),
	}
	if since != nil {
		p.EnterpriseSince = dateOnly(*since)
	}
	if st.contact != nil {
		p.ContactEmail, p.Company, p.Address, p.VATID = st.contact.Email, st.contact.Company, st.contact.Address, st.contact.VATID
	} else if hasContact {
		p.ContactEmail, p.Company, p.Address, p.VATID = contact.Email, contact.Company, contact.Address, contact.VATID
	}
	if st.enterprise != nil {
		p.Seats, p.Message = st.enterprise.Seats, st.enterprise.Message
	}
	order := map[tenancy.Plan]int{tenancy.PlanFree: 0, tenancy.PlanDeveloper: 1, tenancy.PlanEnterprise: 2}
	for _, plan := range []tenancy.Plan{tenancy.PlanFree, tenancy.PlanDeveloper, tenancy.PlanEnterprise} {
		rc, l := billing.RateCards[plan], ratelimit.PlanLimits[plan]
		col := views.PlanColumn{
			Key: string(plan), Name: plan.Label(), Price: money(rc.MonthlyFee) + " / month",
			PerMinute: thousands(l.PerMinute), PerDay: thousands(l.PerDay),
			APIPrice: unitPrice(rc.APIRequest * 1000), Indexing: unitPrice(rc.IndexingSec * 60), Storage: unitPrice(rc.StorageSecDy * 3600 * 30),
			Current: plan == current,
		}
		if plan == tenancy.PlanEnterprise {
			col.Price, col.PerMinute, col.PerDay = "Custom", "Custom", "Custom"
			col.APIPrice, col.Indexing, col.Storage = "From "+col.APIPrice, "From "+col.Indexing, "From "+col.Storage
		}
		col.CanSwitch = !col.Current && plan != tenancy.PlanEnterprise && current != tenancy.PlanEnterprise
		col.IsUpgrade = order[plan] > order[current]
		p.Plans = append(p.Plans, col)
	}
	for _, l := range bill.Lines {
		p.BillLines = append(p.BillLines, billLineRow(l))
	}
	for _, inv := range invoices {
		month, _ := billing.ParseMonth(inv.Period)
		p.Invoices = append(p.Invoices, views.InvoiceRow{ID: inv.PublicID, Number: inv.Number, Period: month.Label(), Total: money(inv.TotalMinor), Status: capitalize(inv.Status)})
	}
	return render(c, status, views.BillingPage(p))
}

// billLineRow shows a line in the units people read: indexing in minutes,
// storage in hour-days. The amount is the line's own, computed exactly on
// seconds.
func billLineRow(l billing.BillLine) views.BillLineRow {
	member := l.Member
	if member == "" {
		member = "Organization"
	}
	if i := strings.Index(member, " <"); i > 0 {
		member = member[:i]
	}
	row := views.BillLineRow{Member: member, Description: l.Description, Amount: money(l.AmountMinor)}
	switch l.Unit {
	case "second":
		row.Quantity = strconv.FormatFloat(float64(l.Quantity)/60, 'f', 1, 64) + " min"
		row.UnitPrice = unitPrice(l.UnitPriceMicros*60) + " / min"
	case "second-day":
		row.Quantity = strconv.FormatFloat(float64(l.Quantity)/3600, 'f', 1, 64) + " hour-days"
		row.UnitPrice = unitPrice(l.UnitPriceMicros*3600) + " / hour-day"
	default:
		row.Quantity = plural(l.Quantity, l.Unit, l.Unit+"s")
		row.UnitPrice = unitPrice(l.UnitPriceMicros) + " / " + l.Unit
	}
	return row
}

// BillingPage shows the plan, the current bill, invoices and the billing
// contact.
func (h *Billing) BillingPage(c echo.Context) error {
	return h.billingPage(c, http.StatusOK, billingState{})
}

const enterpriseContract = "This account is on an Enterprise contract. To change its plan, contact us."

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
	if errors.Is(err, billing.ErrNeedsBillingContact) {
		return h.billingPage(c, http.StatusUnprocessableEntity, billingState{planError: "Add a billing email and address below before upgrading."})
	}
	if errors.Is(err, billing.ErrEnterpriseContract) {
		return h.billingPage(c, http.StatusConflict, billingState{planError: enterpriseContract})
	}
	if err != nil {
		return err
	}
	l := ratelimit.PlanLimits[plan]
	return h.flashRedirect(c, flashSuccess, fmt.Sprintf("You're on the %s plan. From the next API request the limits are %s per minute and %s per day.",
		plan.Label(), thousands(l.PerMinute), thousands(l.PerDay)), paths.Billing())
}

type contactForm struct {
	Email   string `form:"email"`
	Company string `form:"company"`
	Address string `form:"address"`
	VATID   string `form:"vat_id"`
}

// ContactSubmit saves the billing contact.
func (h *Billing) ContactSubmit(c echo.Context) error {
	var f contactForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	_, err := billing.SaveBillingContact(c.Request().Context(), h.db, ScopeFrom(c), billing.BillingContactInput(f), actor(c))
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.billingPage(c, http.StatusUnprocessableEntity, billingState{contact: &f, contactErrors: fe})
	}
	if err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, "Saved the billing contact.", paths.Billing())
}

type enterpriseForm struct {
	Seats   string `form:"seats"`
	Message string `form:"message"`
}

// EnterpriseSubmit records a request for the Enterprise plan.
func (h *Billing) EnterpriseSubmit(c echo.Context) error {
	var f enterpriseForm
	if err := bindForm(c, &f); err != nil {
		return err
	}
	// ParseInt gives 0 for what is not a number and the largest int64 for a
	// number too large: the model refuses both with the field's message.
	seats, _ := strconv.ParseInt(strings.TrimSpace(f.Seats), 10, 64)
	err := billing.RequestEnterprise(c.Request().Context(), h.db, ScopeFrom(c), seats, f.Message, actor(c))
	if fe, ok := tenancy.AsFieldErrors(err); ok {
		return h.billingPage(c, http.StatusUnprocessableEntity, billingState{enterprise: &f, enterpriseErr: fe})
	}
	if errors.Is(err, billing.ErrEnterpriseContract) {
		return h.billingPage(c, http.StatusConflict, billingState{planError: enterpriseContract})
	}
	if err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, "Thanks: we recorded your request for Enterprise and will be in touch.", paths.Billing())
}

func (h *Billing) invoiceProps(c echo.Context, id string) (views.InvoicePageProps, []billing.InvoiceLine, billing.Invoice, error) {
	inv, lines, err := billing.GetInvoice(c.Request().Context(), h.db, ScopeFrom(c), id)
	if err != nil {
		return views.InvoicePageProps{}, nil, inv, err
	}
	month, _ := billing.ParseMonth(inv.Period)
	p := views.InvoicePageProps{ID: inv.PublicID, Number: inv.Number, Period: month.Label(), Issued: dateOnly(inv.CreatedAt),
		Status: capitalize(inv.Status), BillTo: strings.Split(inv.BillTo, "\n"), From: "Switchboard", Total: money(inv.TotalMinor)}
	for _, l := range lines {
		p.Lines = append(p.Lines, billLineRow(l.BillLine))
	}
	return p, lines, inv, nil
}

// InvoicePage shows a closed invoice, or its CSV when the ID ends in .csv.
func (h *Billing) InvoicePage(c echo.Context) error {
	id := c.Param("id")
	if strings.HasSuffix(id, ".csv") {
		return h.invoiceCSV(c, strings.TrimSuffix(id, ".csv"))
	}
	p, _, _, err := h.invoiceProps(c, id)
	if err != nil {
		return err
	}
	if p.Shell, err = h.shell(c, "Invoice "+p.Number, "billing"); err != nil {
		return err
	}
	p.Shell.ReturnTo = paths.Billing()
	return render(c, http.StatusOK, views.InvoicePage(p))
}

// InvoicePrintPage shows the invoice alone, for printing.
func (h *Billing) InvoicePrintPage(c echo.Context) error {
	p, _, _, err := h.invoiceProps(c, c.Param("id"))
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.InvoicePrintPage(p))
}

func (h *Billing) invoiceCSV(c echo.Context, id string) error {
	_, lines, inv, err := h.invoiceProps(c, id)
	if err != nil {
		return err
	}
	h.csvHeaders(c, url.PathEscape(inv.Number)+".csv")
	w := newSpreadsheetCSV(c.Response())
	_ = w.Write([]string{"invoice", "period", "member", "plan", "metric", "category", "description", "quantity", "unit", "unit_price_usd", "amount_usd"})
	for _, l := range lines {
		_ = w.Write([]string{inv.Number, inv.Period, l.Member, string(l.Plan), l.Metric, l.Category, l.Description,
			strconv.FormatInt(l.Quantity, 10), l.Unit, strings.TrimPrefix(unitPrice(l.UnitPriceMicros), "$"), decimal(l.AmountMinor)})
	}
	_ = w.Write([]string{inv.Number, inv.Period, "", "", "", "", "Total", "", "", "", decimal(inv.TotalMinor)})
	w.Flush()
	return w.Error()
}
