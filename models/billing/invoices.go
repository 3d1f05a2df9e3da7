package billing

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// Invoice is a closed monthly bill; it never changes once made.
type Invoice struct {
	ID         int64
	PublicID   string
	AccountID  int64
	Number     string
	Period     string
	Currency   string
	TotalMinor int64
	Status     string
	BillTo     string
	CreatedAt  time.Time
}

// InvoiceLine is a line of an invoice: the bill's line as it was closed.
type InvoiceLine struct {
	ID        int64
	InvoiceID int64
	AccountID int64
	Position  int64
	BillLine
}

func vatLine(vat string) string {
	if vat == "" {
		return ""
	}
	return "VAT " + vat
}

// invoiceNumber is unique per account and month.
func invoiceNumber(a tenancy.Account, period Month) string {
	id := strings.ToUpper(strings.ReplaceAll(a.PublicID, "-", ""))
	if len(id) > 12 {
		id = id[:12]
	}
	return fmt.Sprintf("SB-%04d%02d-%s", period.Year, period.Mon, id)
}

// ListInvoices returns the account's invoices, newest first.
func ListInvoices(ctx context.Context, db *gorm.DB, s tenancy.Scope, page tenancy.Page) ([]Invoice, int64, error) {
	if err := s.Require(tenancy.CapManageBilling); err != nil {
		return nil, 0, err
	}
	var total int64
	var list []Invoice
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		if err := s.Apply(tx.Model(&Invoice{})).Count(&total).Error; err != nil {
			return err
		}
		return s.Apply(tx).Order("period DESC, id DESC").Limit(page.Size).Offset(page.Offset()).Find(&list).Error
	})
	return list, total, err
}

// GetInvoice returns an invoice of the account with its lines.
func GetInvoice(ctx context.Context, db *gorm.DB, s tenancy.Scope, publicID string) (Invoice, []InvoiceLine, error) {
	if err := s.Require(tenancy.CapManageBilling); err != nil {
		return Invoice{}, nil, err
	}
	var inv Invoice
	var lines []InvoiceLine
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		if err := s.Apply(tx).Where("public_id = ?", publicID).Take(&inv).Error; err != nil {
			return tenancy.NotFound(err)
		}
		return s.Apply(tx).Where("invoice_id = ?", inv.ID).Order("position").Find(&lines).Error
	})
	return inv, lines, err
}
