package billing

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"switchboard/models"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// jobSnapshotStorage is SnapshotStorage's key for lockJob.
const jobSnapshotStorage int64 = 1

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

// Invoices -----------------------------------------------------------------

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

// Billing contact and plan ---------------------------------------------------

// BillingContact is who an account's bills are addressed to.
type BillingContact struct {
	AccountID     int64 `gorm:"primaryKey"`
	Email         string
	Company       string
	Address       string
	VATID         string `gorm:"column:vat_id"`
	PaymentMethod string
	UpdatedAt     time.Time
}

// BillingContactInput is the billing contact form.
type BillingContactInput struct {
	Email   string
	Company string
	Address string
	VATID   string
}

var vatID = regexp.MustCompile(`^[A-Z]{2}[0-9A-Z+*.]{2,13}$`)

// GetBillingContact returns the account's contact; ErrNotFound when none.
func GetBillingContact(ctx context.Context, db *gorm.DB, s tenancy.Scope) (BillingContact, error) {
	if err := s.Require(tenancy.CapManageBilling); err != nil {
		return BillingContact{}, err
	}
	var c BillingContact
	err := s.Read(ctx, db, func(tx *gorm.DB) error { return s.Apply(tx).Take(&c).Error })
	return c, tenancy.NotFound(err)
}

// SaveBillingContact records where bills go. Payment is by invoice; no card
// data ever reaches the server.
func SaveBillingContact(ctx context.Context, db *gorm.DB, s tenancy.Scope, in BillingContactInput, actor tenancy.Actor) (BillingContact, error) {
	if err := s.Require(tenancy.CapManageBilling); err != nil {
		return BillingContact{}, err
	}
	fe := tenancy.FieldErrors{}
	email := tenancy.NormalizeEmail(in.Email)
	if !tenancy.ValidEmail(email) {
		fe["email"] = "Enter the email bills are sent to, like billing@example.com."
	}
	company := strings.Join(strings.Fields(in.Company), " ")
	if utf8.RuneCountInString(company) > 200 || !tenancy.PlainText(company) {
		fe["company"] = "The company name must be at most 200 characters, without control characters."
	}
	address := strings.TrimSpace(strings.ReplaceAll(in.Address, "\r\n", "\n"))
	switch {
	case address == "":
		fe["address"] = "Enter the postal address bills are made out to."
	case utf8.RuneCountInString(address) > 1000 || !tenancy.PlainText(strings.ReplaceAll(address, "\n", " ")):
		fe["address"] = "The address must be at most 1,000 characters."
	}
	vat := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(in.VATID), " ", ""))
	if vat != "" && !vatID.MatchString(vat) {
		fe["vat_id"] = "A VAT ID starts with its two-letter country code, like DE123456789 or FRXX999999999."
	}
	if err := fe.OrNil(); err != nil {
		return BillingContact{}, err
	}
	c := BillingContact{Email: email, Company: company, Address: address, VATID: vat, PaymentMethod: "invoice", UpdatedAt: tenancy.Now()}
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		if err := s.Apply(tx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "account_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"email", "company", "address", "vat_id", "payment_method", "updated_at"}),
		}).Create(&c).Error; err != nil {
			return err
		}
		return tenancy.RecordAudit(tx, s, actor, AuditBillingContact, email, "")
	})
	c.AccountID = s.AccountID()
	return c, err
}

// Audit actions of billing.
const (
	AuditPlanChanged    tenancy.AuditAction = "billing.plan_changed"
	AuditBillingContact tenancy.AuditAction = "billing.contact_changed"
	AuditEnterprise     tenancy.AuditAction = "billing.enterprise_requested"
)

// ErrNeedsBillingContact: upgrading needs a billing email and address.
var ErrNeedsBillingContact = errors.New("add a billing email and address before upgrading")

// ErrEnterpriseContract: an Enterprise account's terms are arranged with us:
// it neither changes its own plan nor asks for Enterprise again.
var ErrEnterpriseContract = errors.New("this account is on an Enterprise contract; contact us to change its plan")

// ChangePlan moves the account between Free and Developer. The new rate
// limits apply to the next API request; billing splits the month at the
// change.
func ChangePlan(ctx context.Context, db *gorm.DB, s tenancy.Scope, plan tenancy.Plan, actor tenancy.Actor) error {
	if err := s.Require(tenancy.CapManageBilling); err != nil {
		return err
	}
	if plan != tenancy.PlanFree && plan != tenancy.PlanDeveloper {
		return tenancy.FieldErrors{"plan": "Choose Free or Developer; Enterprise is arranged with us (request it below)."}
	}
	return s.Write(ctx, db, func(tx *gorm.DB) error {
		a, err := s.LockAs(tx, tenancy.CapManageBilling)
		if err != nil {
			return err
		}
		if a.Plan == tenancy.PlanEnterprise {
			// Enterprise terms are a contract; leaving them is arranged with us too.
			return ErrEnterpriseContract
		}
		if a.Plan == plan {
			return nil
		}
		if plan != tenancy.PlanFree {
			var n int64
			if err := s.Apply(tx.Model(&BillingContact{})).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return ErrNeedsBillingContact
			}
		}
		t := tenancy.Now()
		// The plan the account had before its first recorded change.
		var history int64
		if err := s.Apply(tx.Model(&PlanChange{})).Count(&history).Error; err != nil {
			return err
		}
		if history == 0 {
			if err := s.Apply(tx).Create(&PlanChange{Plan: a.Plan, EffectiveAt: a.CreatedAt}).Error; err != nil {
				return err
			}
		}
		user := actor.UserID
		if err := s.Apply(tx).Create(&PlanChange{Plan: plan, EffectiveAt: t, UserID: &user}).Error; err != nil {
			return err
		}
		if err := tx.Model(&tenancy.Account{}).Where("id = ?", a.ID).Updates(map[string]any{"plan": plan, "updated_at": t}).Error; err != nil {
			return err
		}
		return tenancy.RecordAudit(tx, s, actor, AuditPlanChanged, a.Plan.Label()+" → "+plan.Label(), "")
	})
}

// EnterpriseRequest is a request for the Enterprise plan, recorded for sales.
type EnterpriseRequest struct {
	ID        int64
	AccountID int64
	UserID    *int64
	Seats     int64
	Message   string
	CreatedAt time.Time
}

// RequestEnterprise records a request for the Enterprise plan; an account
// already on it gets ErrEnterpriseContract.
func RequestEnterprise(ctx context.Context, db *gorm.DB, s tenancy.Scope, seats int64, message string, actor tenancy.Actor) error {
	if err := s.Require(tenancy.CapManageBilling); err != nil {
		return err
	}
	if s.Account().Plan == tenancy.PlanEnterprise {
		return ErrEnterpriseContract
	}
	message = strings.TrimSpace(message)
	fe := tenancy.FieldErrors{}
	if seats < 1 || seats > 1_000_000 {
		fe["seats"] = "How many people will use Switchboard? Enter a number from 1."
	}
	if utf8.RuneCountInString(message) > 2000 || !tenancy.PlainText(strings.ReplaceAll(message, "\n", " ")) {
		fe["message"] = "Keep the message under 2,000 characters."
	}
	if err := fe.OrNil(); err != nil {
		return err
	}
	user := actor.UserID
	return s.Write(ctx, db, func(tx *gorm.DB) error {
		if err := s.Apply(tx).Create(&EnterpriseRequest{UserID: &user, Seats: seats, Message: message}).Error; err != nil {
			return err
		}
		return tenancy.RecordAudit(tx, s, actor, AuditEnterprise, fmt.Sprintf("%d seats", seats), "")
	})
}

// PendingEnterpriseRequest reports when the account last asked for Enterprise.
func PendingEnterpriseRequest(ctx context.Context, db *gorm.DB, s tenancy.Scope) (*time.Time, error) {
	var r EnterpriseRequest
	err := s.Read(ctx, db, func(tx *gorm.DB) error { return s.Apply(tx).Order("created_at DESC").Take(&r).Error })
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	return &r.CreatedAt, err
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
