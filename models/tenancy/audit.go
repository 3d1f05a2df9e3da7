package tenancy

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// AuditAction names what an audit event records.
type AuditAction string

const (
	AuditRenamed       AuditAction = "organization.renamed"
	AuditRequire2FAOn  AuditAction = "organization.require_2fa_on"
	AuditRequire2FAOff AuditAction = "organization.require_2fa_off"
)

// Actor is who did something, as the audit log remembers them.
type Actor struct {
	UserID int64
	Name   string
	IP     string
}

// AuditEvent is one line of an account's audit log.
type AuditEvent struct {
	ID          int64
	AccountID   int64
	ActorUserID *int64
	ActorName   string
	Action      AuditAction
	Target      string
	Details     string
	IP          string
	CreatedAt   time.Time
}

// RecordAudit adds an event to the scope's audit log, in tx (the
// transaction of the change it records, so both commit or neither).
func RecordAudit(tx *gorm.DB, s Scope, actor Actor, action AuditAction, target, details string) error {
	ev := AuditEvent{ActorName: actor.Name, Action: action, Target: target, Details: details, IP: actor.IP}
	if actor.UserID != 0 {
		ev.ActorUserID = &actor.UserID
	}
	return s.Apply(tx).Create(&ev).Error
}

// ListAuditEvents returns a page of the scope's audit log, newest first.
func ListAuditEvents(ctx context.Context, db *gorm.DB, s Scope, page Page) ([]AuditEvent, int64, error) {
	var total int64
	var rows []AuditEvent
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		if err := s.Apply(tx.Model(&AuditEvent{})).Count(&total).Error; err != nil {
			return err
		}
		return s.Apply(tx).Order("created_at DESC, id DESC").Limit(page.Size).Offset(page.Offset()).Find(&rows).Error
	})
	return rows, total, err
}
