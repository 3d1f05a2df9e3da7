package billing

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"switchboard/models/tenancy"
)

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
	email, ok := tenancy.ParseEmail(in.Email)
	if !ok {
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
