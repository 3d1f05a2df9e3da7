// Package billing prices usage: rate cards and plans (prices.go, plans.go),
// the consolidated bill of a month in progress (bills.go), and the monthly
// invoices the system closes (invoices.go, this file), with the daily
// storage snapshots they bill for.
package billing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// jobSnapshotStorage is SnapshotStorage's key for tenancy.LockJob.
const jobSnapshotStorage int64 = 1

// Closing months ------------------------------------------------------------

// ErrMonthNotEnded: a month is closed only once it is over.
var ErrMonthNotEnded = errors.New("the month has not ended yet")

// CloseMonth creates one invoice per account that had usage or a paid plan
// in the month (none for a Free account without usage). It refuses a month
// that has not ended, and is idempotent: an account's invoice for a month is
// made once and never changed. It returns how many invoices it created.
func CloseMonth(ctx context.Context, db *gorm.DB, period Month, at time.Time) (int, error) {
	if at.Before(period.End()) {
		return 0, fmt.Errorf("%s: %w (it ends %s)", period, ErrMonthNotEnded, period.End().Format(time.DateOnly))
	}
	// Accounts already invoiced for the month are left out here, not only
	// in closeAccountMonth: serve closes the last twelve months every day,
	// and would otherwise lock and re-read every account every time.
	var ids []int64
	err := tenancy.System("find the accounts to invoice for a month").Do(ctx, db, func(tx *gorm.DB) error {
		return tx.Raw(`SELECT account_id FROM (
			SELECT account_id FROM usage_daily WHERE day >= ? AND day < ?
			UNION SELECT account_id FROM plan_changes WHERE effective_at < ? AND plan <> ?
			UNION SELECT id FROM accounts WHERE plan <> ? AND created_at < ?
			EXCEPT SELECT account_id FROM invoices WHERE period = ?
		) candidates ORDER BY account_id`,
			usage.DayOf(period.Start()), usage.DayOf(period.End()), period.End(), tenancy.PlanFree, tenancy.PlanFree, period.End(), period.String()).Scan(&ids).Error
	})
	if err != nil {
		return 0, err
	}
	created := 0
	for _, id := range ids {
		made, err := closeAccountMonth(ctx, db, id, period)
		if err != nil {
			return created, fmt.Errorf("account %d: %w", id, err)
		}
		if made {
			created++
		}
	}
	return created, nil
}

func closeAccountMonth(ctx context.Context, db *gorm.DB, accountID int64, period Month) (bool, error) {
	made := false
	door := tenancy.System("close an account's month into its invoice")
	err := door.Tx(ctx, db, func(tx *gorm.DB) error {
		a, err := tenancy.LockAccount(tx, accountID)
		if errors.Is(err, tenancy.ErrNotFound) {
			return nil // deleted since
		}
		if err != nil {
			return err
		}
		scope := door.In(a)
		var n int64
		if err := scope.Apply(tx.Model(&Invoice{})).Where("period = ?", period.String()).Count(&n).Error; err != nil || n > 0 {
			return err
		}
		bill, err := buildBill(tx, scope, period, period.End())
		if err != nil || !bill.HasCharges() {
			return err
		}
		var contact BillingContact
		billTo := a.Name
		if err := scope.Apply(tx).Take(&contact).Error; err == nil {
			billTo = strings.TrimSpace(strings.Join([]string{contact.Company, contact.Address, contact.Email, vatLine(contact.VATID)}, "\n"))
		}
		inv := Invoice{PublicID: tenancy.NewObjectID(), Number: invoiceNumber(a, period), Period: period.String(), Currency: Currency,
			TotalMinor: bill.Total, Status: "issued", BillTo: billTo}
		res := scope.Apply(tx).Clauses(clause.OnConflict{DoNothing: true}).Create(&inv)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		for i, l := range bill.Lines {
			line := InvoiceLine{InvoiceID: inv.ID, Position: int64(i + 1), BillLine: l}
			if err := scope.Apply(tx).Create(&line).Error; err != nil {
				return err
			}
		}
		made = true
		return nil
	})
	return made, err
}

// Storage snapshots ----------------------------------------------------------

// SnapshotStorage records, for the day of at, how much video each member of
// each account holds (replacing the day's earlier snapshot). Run it hourly:
// the day's last snapshot is what the day is billed for.
func SnapshotStorage(ctx context.Context, db *gorm.DB, at time.Time) error {
	day := usage.DayOf(at)
	return tenancy.System("snapshot the video each member holds").Tx(ctx, db, func(tx *gorm.DB) error {
		// Two instances may snapshot the same day at once; the second waits
		// for the first and then replaces its rows, never colliding with them.
		if err := tenancy.LockJob(tx, jobSnapshotStorage); err != nil {
			return err
		}
		var rows []struct {
			AccountID   int64
			CreatedByID int64
			Seconds     int64
		}
		err := tx.Raw(`SELECT account_id, COALESCE(created_by_id, 0) AS created_by_id, SUM(duration_seconds) AS seconds
			FROM videos GROUP BY account_id, COALESCE(created_by_id, 0)`).Scan(&rows).Error
		if err != nil {
			return err
		}
		if err := tx.Exec("DELETE FROM usage_daily WHERE day = ? AND metric = ?", day, usage.MetricStorageSeconds).Error; err != nil {
			return err
		}
		out := make([]usage.UsageDaily, 0, len(rows))
		for _, r := range rows {
			if r.Seconds > 0 {
				out = append(out, usage.UsageDaily{AccountID: r.AccountID, Day: day, UserID: r.CreatedByID, Metric: usage.MetricStorageSeconds, Quantity: r.Seconds})
			}
		}
		if len(out) == 0 {
			return nil
		}
		return tx.Session(&gorm.Session{CreateBatchSize: 500}).Create(&out).Error
	})
}
