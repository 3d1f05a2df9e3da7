package handlers

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"switchboard/models/billing"
	"switchboard/models/tenancy"
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

// keep shows a refused form's submitted values, else the saved contact.
func (st billingState) keep(p *views.BillingPageProps, saved billing.BillingContact, hasSaved bool) {
	switch {
	case st.contact != nil:
		p.ContactEmail, p.Company, p.Address, p.VATID = st.contact.Email, st.contact.Company, st.contact.Address, st.contact.VATID
	case hasSaved:
		p.ContactEmail, p.Company, p.Address, p.VATID = saved.Email, saved.Company, saved.Address, saved.VATID
	}
	if st.enterprise != nil {
		p.Seats, p.Message = st.enterprise.Seats, st.enterprise.Message
	}
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
	p := views.BillingPageProps{
		Shell: shell, Plan: scope.Account().Plan.Label(), Plans: planColumns(scope.Account().Plan),
		HasContact: hasContact, ContactErrors: st.contactErrors, PlanError: st.planError, EnterpriseErrs: st.enterpriseErr,
		BillPeriod: bill.Period.Label(), BillTotal: money(bill.Total), BillLines: billLineRows(bill.Lines),
		Invoices: invoiceRows(invoices), InvoicePages: pagination(page, invoiceCount, false, paths.Billing(), nil),
	}
	if since != nil {
		p.EnterpriseSince = dateOnly(*since)
	}
	st.keep(&p, contact, hasContact)
	return render(c, status, views.BillingPage(p))
}

func billLineRows(lines []billing.BillLine) []views.BillLineRow {
	var rows []views.BillLineRow
	for _, l := range lines {
		rows = append(rows, billLineRow(l))
	}
	return rows
}

func invoiceRows(invoices []billing.Invoice) []views.InvoiceRow {
	var rows []views.InvoiceRow
	for _, inv := range invoices {
		month, _ := billing.ParseMonth(inv.Period)
		rows = append(rows, views.InvoiceRow{ID: inv.PublicID, Number: inv.Number, Period: month.Label(), Total: money(inv.TotalMinor), Status: capitalize(inv.Status)})
	}
	return rows
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
	if status, msg, ok := refusal(err); ok {
		return h.billingPage(c, status, billingState{planError: msg})
	}
	if err != nil {
		return err
	}
	return h.flashRedirect(c, flashSuccess, "Thanks: we recorded your request for Enterprise and will be in touch.", paths.Billing())
}
