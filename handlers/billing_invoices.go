package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"switchboard/models/billing"
	"switchboard/views"
	"switchboard/views/paths"
)

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
