package models

import (
	"context"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// AuditSecurityChanged: a member's sign-in security changed (a second
// factor added or removed, recovery codes used or regenerated, sessions
// ended). Its details say which change.
const AuditSecurityChanged tenancy.AuditAction = "member.security_changed"

// securityAuditDoor writes a member's security change into their
// organizations' logs: the member may be shut out of an organization by
// its two-factor policy (having just removed their last factor), and its
// administrators still need to see it.
var securityAuditDoor = tenancy.System("record a member's security change in their organizations' audit logs")

// RecordSecurityChange writes change into the audit log of every
// organization the user belongs to, so that their administrators see when
// a member's second factors and sessions change (the user's own email says
// so too).
func RecordSecurityChange(ctx context.Context, db *gorm.DB, user User, actor tenancy.Actor, change string) error {
	m, err := tenancy.MembershipsOf(ctx, db, user.ID)
	if err != nil {
		return err
	}
	for _, row := range m.Rows {
		if row.Kind != tenancy.KindOrganization {
			continue
		}
		s := securityAuditDoor.In(row.Account)
		if err := s.Write(ctx, db, func(tx *gorm.DB) error {
			return tenancy.RecordAudit(tx, s, actor, AuditSecurityChanged, user.AuditName(), change)
		}); err != nil {
			return err
		}
	}
	return nil
}
