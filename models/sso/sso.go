// Package sso is single sign-on through an organization's SAML identity
// provider: connections and their metadata, proved domains, the state of
// sign-ins in flight, and admitting the people a response names.
package sso

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// ssoDoor is the authority of single sign-on before a user is known: a
// sign-in names its organization by slug or proved email domain, both
// public, and the organization's IdP speaks for the person.
var ssoDoor = tenancy.System("single sign-on, before a user is known")

// SSOAccount is an organization that signs in through SSO, found by a
// sign-in before any scope exists.
type SSOAccount struct {
	Account    tenancy.Account
	Connection SSOConnection
}

// sys is the system acting in the organization for its sign-ins.
func (sa SSOAccount) sys() tenancy.Scope { return ssoDoor.In(sa.Account) }

// FindSSOBySlug returns the organization with the slug and its connection;
// ErrNotFound when either is missing (the organization is still returned
// when only the connection is).
func FindSSOBySlug(ctx context.Context, db *gorm.DB, slug string) (SSOAccount, error) {
	var sa SSOAccount
	err := ssoDoor.Do(ctx, db, func(tx *gorm.DB) error {
		if err := tx.Where("slug = ? AND kind = ?", slug, tenancy.KindOrganization).Take(&sa.Account).Error; err != nil {
			return tenancy.NotFound(err)
		}
		var err error
		sa.Connection, err = loadSSOConnection(tx, sa.sys())
		return err
	})
	return sa, err
}

// FindSSOByEmail returns the organization that proved it owns the email's
// domain; an organization that merely listed it is not found.
func FindSSOByEmail(ctx context.Context, db *gorm.DB, email string) (SSOAccount, error) {
	email = tenancy.NormalizeEmail(email)
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return SSOAccount{}, tenancy.ErrNotFound
	}
	var sa SSOAccount
	err := ssoDoor.Do(ctx, db, func(tx *gorm.DB) error {
		var d SSODomain
		if err := tx.Where("domain = ? AND verified_at IS NOT NULL", email[at+1:]).Take(&d).Error; err != nil {
			return tenancy.NotFound(err)
		}
		if err := tx.Take(&sa.Account, d.AccountID).Error; err != nil {
			return tenancy.NotFound(err)
		}
		var err error
		sa.Connection, err = loadSSOConnection(tx, sa.sys())
		return err
	})
	return sa, err
}

// DeleteExpiredSSOState drops answered or expired requests and replay
// records past their assertions' lifetime.
func DeleteExpiredSSOState(ctx context.Context, db *gorm.DB) error {
	t := tenancy.Now()
	return tenancy.System("delete expired SSO requests and replay records").Tx(ctx, db, func(tx *gorm.DB) error {
		if err := tx.Exec("DELETE FROM sso_replays WHERE expires_at < ?", t).Error; err != nil {
			return err
		}
		return tx.Exec("DELETE FROM sso_requests WHERE expires_at < ?", t.Add(-24*time.Hour)).Error
	})
}

// Domain proof ----------------------------------------------------------

// Audit actions of domain proof.
const (
	AuditSSODomainVerified     tenancy.AuditAction = "sso.domain_verified"
	AuditSSODomainClaimDropped tenancy.AuditAction = "sso.domain_claim_dropped"
	AuditSSOLinkDropped        tenancy.AuditAction = "sso.link_dropped"
)

// Refusals of a domain proof.
var (
	// ErrDomainNotProved: the DNS TXT record was not found.
	ErrDomainNotProved = errors.New("the verification record was not found")
	// ErrDomainProvedElsewhere: another organization proved the domain
	// first; it owns it.
	ErrDomainProvedElsewhere = errors.New("another organization has proved it owns this domain")
)

// VerifySSODomain looks up the domain's TXT record and, when it carries the
// token, proves the domain for the organization; administrators only.
// lookup is the DNS resolver's LookupTXT.
func VerifySSODomain(ctx context.Context, db *gorm.DB, s tenancy.Scope, domain string, lookup func(context.Context, string) ([]string, error), actor tenancy.Actor) error {
	if err := s.Require(tenancy.CapManageAccount); err != nil {
		return err
	}
	var d SSODomain
	var owner int64
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		if err := s.Apply(tx).Where("domain = ?", normalizeDomain(domain)).Take(&d).Error; err != nil {
			return tenancy.NotFound(err)
		}
		var err error
		owner, err = domainOwner(tx, d.Domain)
		return err
	})
	switch {
	case err != nil:
		return err
	case d.VerifiedAt != nil:
		return nil
	case owner != 0:
		return ErrDomainProvedElsewhere
	}
	name, want := d.VerificationRecord()
	records, err := lookup(ctx, name)
	if err != nil || !slices.Contains(records, want) {
		return fmt.Errorf("%w at %s", ErrDomainNotProved, name)
	}
	return s.Write(ctx, db, func(tx *gorm.DB) error {
		return proveDomain(tx, s, actor, d.Domain, "TXT "+name)
	})
}

// ProveSSODomainByOperator proves a domain the organization (by public ID
// or slug) listed, without DNS: for self-hosted operators, whose word is
// the proof. The audit log names the command.
func ProveSSODomainByOperator(ctx context.Context, db *gorm.DB, accountPublicIDOrSlug, domain, command string) (tenancy.Account, error) {
	var a tenancy.Account
	door := tenancy.System("the operator proves a domain: switchboard sso verify-domain")
	err := door.Tx(ctx, db, func(tx *gorm.DB) error {
		err := tx.Where("public_id = ? AND kind = ?", accountPublicIDOrSlug, tenancy.KindOrganization).Take(&a).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			err = tx.Where("slug = ? AND kind = ?", accountPublicIDOrSlug, tenancy.KindOrganization).Take(&a).Error
		}
		if err != nil {
			return tenancy.NotFound(err)
		}
		scope := door.In(a)
		var d SSODomain
		if err := scope.Apply(tx).Where("domain = ?", normalizeDomain(domain)).Take(&d).Error; err != nil {
			return fmt.Errorf("%s has not listed %s in its single sign-on settings: %w", a.Name, domain, tenancy.NotFound(err))
		}
		if d.VerifiedAt != nil {
			return nil
		}
		return proveDomain(tx, scope, tenancy.Actor{Name: "Operator (" + command + ")"}, d.Domain, "proved by the operator command, without DNS")
	})
	return a, err
}

// domainOwner is the organization that proved the domain, 0 when none did.
func domainOwner(tx *gorm.DB, domain string) (int64, error) {
	var ids []int64
	err := ssoDoor.Do(tx.Statement.Context, tx, func(tx *gorm.DB) error {
		return tx.Model(&SSODomain{}).Where("domain = ? AND verified_at IS NOT NULL", domain).Pluck("account_id", &ids).Error
	})
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	return ids[0], nil
}

// proveDomain marks the scope's claim of domain proved, unless another
// organization proved it first (ErrDomainProvedElsewhere), and drops every
// other organization's claim of it, telling each in its audit log.
func proveDomain(tx *gorm.DB, s tenancy.Scope, actor tenancy.Actor, domain, how string) error {
	if owner, err := domainOwner(tx, domain); err != nil || owner != 0 {
		if err == nil && owner != s.AccountID() {
			err = ErrDomainProvedElsewhere
		}
		return err
	}
	err := s.Apply(tx.Model(&SSODomain{})).Where("domain = ?", domain).Update("verified_at", tenancy.Now()).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return ErrDomainProvedElsewhere // proved concurrently by another
	}
	if err != nil {
		return err
	}
	if err := dropOtherClaims(tx, s, domain); err != nil {
		return err
	}
	return tenancy.RecordAudit(tx, s, actor, AuditSSODomainVerified, domain, how)
}

// dropOtherClaims removes the claims of domain of every organization but
// the scope's, which just proved it, and tells each in its audit log.
func dropOtherClaims(tx *gorm.DB, s tenancy.Scope, domain string) error {
	door := tenancy.System("drop other organizations' claims of a domain one proved")
	return door.Tx(tx.Statement.Context, tx, func(tx *gorm.DB) error {
		var others []int64
		if err := tx.Model(&SSODomain{}).Where("domain = ? AND account_id <> ?", domain, s.AccountID()).
			Order("account_id").Pluck("account_id", &others).Error; err != nil || len(others) == 0 {
			return err
		}
		if err := tx.Where("domain = ? AND account_id IN ?", domain, others).Delete(&SSODomain{}).Error; err != nil {
			return err
		}
		t := tenancy.Now()
		events := make([]tenancy.AuditEvent, len(others))
		for i, id := range others {
			events[i] = tenancy.AuditEvent{AccountID: id, ActorName: "Switchboard", Action: AuditSSODomainClaimDropped, Target: domain,
				Details: "another organization proved it owns " + domain + "; it was removed from your single sign-on domains", CreatedAt: t}
		}
		return tx.Create(&events).Error
	})
}

// DomainNotice is a domain the organization lost to another's proof.
type DomainNotice struct {
	Domain string
	At     time.Time
}

// RecentDomainLosses lists the domains taken from the organization's
// single sign-on settings by another organization's proof in the last 30
// days, newest first, for its SSO page to say so.
func RecentDomainLosses(ctx context.Context, db *gorm.DB, s tenancy.Scope) ([]DomainNotice, error) {
	if err := s.Require(tenancy.CapManageAccount); err != nil {
		return nil, err
	}
	var events []tenancy.AuditEvent
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		return s.Apply(tx).Where("action = ? AND created_at > ?", AuditSSODomainClaimDropped, tenancy.Now().AddDate(0, 0, -30)).
			Order("created_at DESC, id DESC").Limit(20).Find(&events).Error
	})
	out := make([]DomainNotice, len(events))
	for i, e := range events {
		out[i] = DomainNotice{Domain: e.Target, At: e.CreatedAt}
	}
	return out, err
}
