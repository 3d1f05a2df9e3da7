package sso

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"switchboard/models/tenancy"
)

// Audit actions of single sign-on.
const (
	AuditSSOConfigured tenancy.AuditAction = "sso.configured"
	AuditSSOSignedIn   tenancy.AuditAction = "sso.signed_in"
	// AuditSSOSHA1Allowed and AuditSSOSHA1Refused record an administrator
	// allowing SHA-1 signatures for a legacy IdP, and taking that back.
	AuditSSOSHA1Allowed tenancy.AuditAction = "sso.sha1_allowed"
	AuditSSOSHA1Refused tenancy.AuditAction = "sso.sha1_refused"
)

// SSOConnection is an organization's SAML identity provider and the rules
// for signing its members in through it.
type SSOConnection struct {
	AccountID         int64  `gorm:"primaryKey"`
	IDPMetadataXML    string `gorm:"column:idp_metadata_xml"`
	IDPMetadataURL    string `gorm:"column:idp_metadata_url"`
	IDPEntityID       string `gorm:"column:idp_entity_id"`
	JIT               bool   `gorm:"column:jit"`
	DefaultRole       tenancy.Role
	Enforce           bool
	AllowIDPInitiated bool `gorm:"column:allow_idp_initiated"`
	// AllowSHA1 accepts responses signed or digested with SHA-1, for a
	// legacy IdP that cannot do better; off, they are refused.
	AllowSHA1      bool   `gorm:"column:allow_sha1"`
	EmailAttribute string // "" picks the usual attributes, "nameid" the NameID
	NameAttribute  string // "" picks the usual attributes
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Domains        []string    `gorm:"-"`
	DomainRecords  []SSODomain `gorm:"-"`
}

// VerifiedDomain reports whether the email's domain is one the organization
// proved it owns.
func (c SSOConnection) VerifiedDomain(email string) bool {
	at := strings.LastIndexByte(email, '@')
	for _, d := range c.DomainRecords {
		if at > 0 && d.Domain == email[at+1:] && d.VerifiedAt != nil {
			return true
		}
	}
	return false
}

// TableName is sso_connections.
func (SSOConnection) TableName() string { return "sso_connections" }

// SSODomain is an email domain an organization listed for single sign-on.
// Any number of organizations may list a domain; the one that proves it
// (VerifiedAt) owns it, and its claim is the only one left.
type SSODomain struct {
	AccountID         int64  `gorm:"primaryKey"`
	Domain            string `gorm:"primaryKey"`
	VerificationToken string
	VerifiedAt        *time.Time
}

// VerificationRecord is the DNS TXT record that proves the domain: its
// name and value.
func (d SSODomain) VerificationRecord() (name, value string) {
	return "_switchboard." + d.Domain, "switchboard-domain-verification=" + d.VerificationToken
}

// TableName is sso_domains.
func (SSODomain) TableName() string { return "sso_domains" }

// IDPMetadata parses the stored identity provider metadata.
func (c SSOConnection) IDPMetadata() (*saml.EntityDescriptor, error) {
	return samlsp.ParseMetadata([]byte(c.IDPMetadataXML))
}

// SSOSettingsInput is the Single sign-on form. MetadataXML is the IdP's
// metadata, pasted or fetched from MetadataURL by the caller.
type SSOSettingsInput struct {
	MetadataXML       string
	MetadataURL       string
	Domains           string
	JIT               bool
	DefaultRole       string
	Enforce           bool
	AllowIDPInitiated bool
	// ConfirmIDPInitiated is the administrator's confirmation, needed to
	// turn IdP-initiated sign-in on, that they know it is open to login
	// CSRF.
	ConfirmIDPInitiated bool
	AllowSHA1           bool
	EmailAttribute      string
	NameAttribute       string
}

var domainSyntax = regexp.MustCompile(`^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

// publicEmailDomains cannot belong to an organization: anyone can have an
// address there.
var publicEmailDomains = []string{"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com",
	"icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.com", "mail.com", "yandex.com"}

// ParseDomains splits a form's domains on commas and spaces, in the form
// addresses' domains are compared in (see normalizeDomain), without
// duplicates.
func ParseDomains(raw string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		f = normalizeDomain(strings.TrimPrefix(strings.TrimSpace(f), "@"))
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// normalizeDomain is a domain as addresses' domains are compared
// (tenancy.NormalizeDomain: ASCII, IDNA); one that is no domain name is
// returned trimmed, with only its ASCII letters lower-cased, for the
// form to refuse.
func normalizeDomain(s string) string {
	if d, ok := tenancy.NormalizeDomain(s); ok {
		return d
	}
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, strings.TrimSpace(s))
}

// validateIDPMetadata checks that metadata describes an identity provider
// Switchboard can use: SSO over HTTP-Redirect, and a signing certificate.
func validateIDPMetadata(xml string) (*saml.EntityDescriptor, string) {
	if strings.TrimSpace(xml) == "" {
		return nil, "Paste the identity provider's metadata XML, or give its https URL."
	}
	if len(xml) > MaxMetadataSize {
		return nil, "The metadata is larger than 1 MiB."
	}
	ed, err := samlsp.ParseMetadata([]byte(xml))
	if err != nil {
		return nil, "This is not SAML metadata an identity provider publishes: " + err.Error()
	}
	if len(ed.IDPSSODescriptors) == 0 {
		return nil, "The metadata describes no identity provider (no IDPSSODescriptor)."
	}
	hasRedirect := false
	var certs []*x509.Certificate
	for _, d := range ed.IDPSSODescriptors {
		for _, s := range d.SingleSignOnServices {
			if s.Binding == saml.HTTPRedirectBinding {
				hasRedirect = true
			}
		}
		for _, k := range d.KeyDescriptors {
			if k.Use != "" && k.Use != "signing" {
				continue
			}
			for _, xc := range k.KeyInfo.X509Data.X509Certificates {
				// Read as the response check reads them: one unreadable
				// certificate there refuses every response.
				der, err := base64.StdEncoding.DecodeString(strings.Map(dropXMLSpace, xc.Data))
				if err != nil {
					return nil, "A signing certificate in the metadata is not base64: " + err.Error()
				}
				cert, err := x509.ParseCertificate(der)
				if err != nil {
					return nil, "A signing certificate in the metadata could not be read: " + err.Error()
				}
				certs = append(certs, cert)
			}
		}
	}
	switch {
	case !hasRedirect:
		return nil, "The identity provider offers no SingleSignOnService with the HTTP-Redirect binding."
	case len(certs) == 0:
		return nil, "The metadata has no signing certificate, so responses could not be verified."
	}
	// An expired certificate verifies no response; one beside it (a
	// rollover) may still be current.
	t := tenancy.Now()
	latest := certs[0]
	for _, c := range certs {
		if t.Before(c.NotAfter) {
			return ed, ""
		}
		if c.NotAfter.After(latest.NotAfter) {
			latest = c
		}
	}
	return nil, "The metadata's signing certificates have expired (the latest on " + latest.NotAfter.UTC().Format("2 January 2006") +
		"): download the identity provider's current metadata."
}

// dropXMLSpace drops the white space (RE2's \s) that wraps base64 in XML.
func dropXMLSpace(r rune) rune {
	switch r {
	case ' ', '\t', '\n', '\f', '\r':
		return -1
	}
	return r
}

// MaxMetadataSize bounds pasted and fetched metadata.
const MaxMetadataSize = 1 << 20

// GetSSOConnection returns the organization's connection; ErrNotFound when
// none is configured.
func GetSSOConnection(ctx context.Context, db *gorm.DB, s tenancy.Scope) (SSOConnection, error) {
	if err := s.Require(tenancy.CapViewAccount); err != nil {
		return SSOConnection{}, err
	}
	var c SSOConnection
	err := s.Read(ctx, db, func(tx *gorm.DB) (err error) {
		c, err = loadSSOConnection(tx, s)
		return err
	})
	return c, err
}

// loadSSOConnection reads the scope's account's connection and domains.
func loadSSOConnection(tx *gorm.DB, s tenancy.Scope) (SSOConnection, error) {
	var c SSOConnection
	if err := s.Apply(tx).Take(&c).Error; err != nil {
		return c, tenancy.NotFound(err)
	}
	err := s.Apply(tx).Order("domain").Find(&c.DomainRecords).Error
	for _, d := range c.DomainRecords {
		c.Domains = append(c.Domains, d.Domain)
	}
	return c, err
}

// SaveSSOConnection creates or replaces the organization's connection;
// administrators only. Enforcement is copied onto the account, where every
// request's scope check reads it.
func SaveSSOConnection(ctx context.Context, db *gorm.DB, s tenancy.Scope, in SSOSettingsInput, actor tenancy.Actor) (SSOConnection, error) {
	if err := s.Require(tenancy.CapManageAccount); err != nil {
		return SSOConnection{}, err
	}
	if !s.IsOrganization() {
		return SSOConnection{}, tenancy.ErrNotFound
	}
	fe := tenancy.FieldErrors{}
	ed, msg := validateIDPMetadata(in.MetadataXML)
	if msg != "" {
		fe["metadata_xml"] = msg
	}
	domains := ParseDomains(in.Domains)
	if len(domains) > 50 {
		fe["domains"] = "At most 50 domains."
	}
	for _, d := range domains {
		if !domainSyntax.MatchString(d) {
			fe["domains"] = "“" + d + "” is not a domain name like example.com."
			break
		}
		if slices.Contains(publicEmailDomains, d) {
			fe["domains"] = "“" + d + "” is a public email service: anyone can have an address there."
			break
		}
	}
	role, ok := tenancy.ParseRole(in.DefaultRole)
	if !ok {
		fe["default_role"] = "Choose Administrator or Regular user."
	}
	if !validAttributeChoice(in.EmailAttribute) {
		fe["email_attribute"] = "Choose where the email comes from."
	}
	if !tenancy.PlainText(in.NameAttribute) || len(in.NameAttribute) > 200 {
		fe["name_attribute"] = "Give an attribute name, or leave it empty."
	}
	if err := fe.OrNil(); err != nil {
		return SSOConnection{}, err
	}
	conn := SSOConnection{
		AccountID: s.AccountID(), IDPMetadataXML: in.MetadataXML, IDPMetadataURL: in.MetadataURL, IDPEntityID: ed.EntityID,
		JIT: in.JIT, DefaultRole: role, Enforce: in.Enforce, AllowIDPInitiated: in.AllowIDPInitiated, AllowSHA1: in.AllowSHA1,
		EmailAttribute: strings.TrimSpace(in.EmailAttribute), NameAttribute: strings.TrimSpace(in.NameAttribute), Domains: domains,
	}
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		taken, err := provedElsewhere(tx, s, domains)
		if err != nil {
			return err
		}
		if len(taken) > 0 {
			return tenancy.FieldErrors{"domains": "Another organization has proved it owns " + strings.Join(taken, ", ") + ". Remove it, or ask us if you believe the domain is yours."}
		}
		var saved SSOConnection
		if err := s.Apply(tx).Limit(1).Find(&saved).Error; err != nil {
			return err
		}
		if conn.AllowIDPInitiated && !saved.AllowIDPInitiated && !in.ConfirmIDPInitiated {
			return tenancy.FieldErrors{"confirm_idp_initiated": ConfirmIDPInitiatedMessage}
		}
		t := tenancy.Now()
		conn.CreatedAt, conn.UpdatedAt = t, t
		if err := s.Apply(tx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "account_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"idp_metadata_xml", "idp_metadata_url", "idp_entity_id", "jit", "default_role", "enforce", "allow_idp_initiated", "allow_sha1", "email_attribute", "name_attribute", "updated_at"}),
		}).Create(&conn).Error; err != nil {
			return err
		}
		// Domains kept keep their token and proof; new ones get a token.
		var before []SSODomain
		if err := s.Apply(tx).Find(&before).Error; err != nil {
			return err
		}
		kept := map[string]SSODomain{}
		for _, d := range before {
			kept[d.Domain] = d
		}
		if err := s.Apply(tx).Where("1 = 1").Delete(&SSODomain{}).Error; err != nil {
			return err
		}
		for _, d := range domains {
			rec, ok := kept[d]
			if !ok {
				rec = SSODomain{Domain: d, VerificationToken: tenancy.NewObjectID()}
			}
			rec.AccountID = 0 // set from the scope
			if err := s.Apply(tx).Create(&rec).Error; err != nil {
				if errors.Is(err, gorm.ErrDuplicatedKey) {
					// Another organization proved it since the check above.
					return tenancy.FieldErrors{"domains": "Another organization has proved it owns " + d + "."}
				}
				return err
			}
		}
		if err := tx.Model(&tenancy.Account{}).Where("id = ?", s.AccountID()).Update("sso_enforced", conn.Enforce).Error; err != nil {
			return err
		}
		if conn.AllowSHA1 != saved.AllowSHA1 {
			action, details := AuditSSOSHA1Allowed, "responses signed or digested with SHA-1 are accepted from this identity provider"
			if !conn.AllowSHA1 {
				action, details = AuditSSOSHA1Refused, "responses signed or digested with SHA-1 are refused again"
			}
			if err := tenancy.RecordAudit(tx, s, actor, action, ed.EntityID, details); err != nil {
				return err
			}
		}
		return tenancy.RecordAudit(tx, s, actor, AuditSSOConfigured, ed.EntityID, fmt.Sprintf("domains %s; JIT %s as %s; enforce %s; IdP-initiated %s; SHA-1 %s",
			strings.Join(domains, ", "), onOff(conn.JIT), role.Label(), onOff(conn.Enforce), onOff(conn.AllowIDPInitiated), allowedRefused(conn.AllowSHA1)))
	})
	return conn, err
}

// ConfirmIDPInitiatedMessage refuses turning IdP-initiated sign-in on
// without the confirmation.
const ConfirmIDPInitiatedMessage = "Confirm that you understand the risk of login CSRF before allowing sign-ins started at the IdP."

func allowedRefused(b bool) string {
	if b {
		return "allowed"
	}
	return "refused"
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// provedElsewhere are the domains of domains another organization than the
// scope's proved, by name. Proofs are public knowledge: whoever owns a
// domain owns it for everyone.
func provedElsewhere(tx *gorm.DB, s tenancy.Scope, domains []string) ([]string, error) {
	var taken []string
	err := ssoDoor.Do(tx.Statement.Context, tx, func(tx *gorm.DB) error {
		return tx.Model(&SSODomain{}).Where("domain IN ? AND account_id <> ? AND verified_at IS NOT NULL", domains, s.AccountID()).
			Order("domain").Pluck("domain", &taken).Error
	})
	return taken, err
}
