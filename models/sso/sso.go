package sso

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
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
	AllowIDPInitiated bool   `gorm:"column:allow_idp_initiated"`
	EmailAttribute    string // "" picks the usual attributes, "nameid" the NameID
	NameAttribute     string // "" picks the usual attributes
	CreatedAt         time.Time
	UpdatedAt         time.Time
	Domains           []string    `gorm:"-"`
	DomainRecords     []SSODomain `gorm:"-"`
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
	EmailAttribute    string
	NameAttribute     string
}

var domainSyntax = regexp.MustCompile(`^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

// publicEmailDomains cannot belong to an organization: anyone can have an
// address there.
var publicEmailDomains = []string{"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com",
	"icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.com", "mail.com", "yandex.com"}

// ParseDomains splits a form's domains on commas and spaces, lower-cased,
// without duplicates.
func ParseDomains(raw string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(strings.ToLower(raw), func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		f = strings.TrimPrefix(strings.TrimSpace(f), "@")
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
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
		JIT: in.JIT, DefaultRole: role, Enforce: in.Enforce, AllowIDPInitiated: in.AllowIDPInitiated,
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
		t := tenancy.Now()
		conn.CreatedAt, conn.UpdatedAt = t, t
		if err := s.Apply(tx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "account_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"idp_metadata_xml", "idp_metadata_url", "idp_entity_id", "jit", "default_role", "enforce", "allow_idp_initiated", "email_attribute", "name_attribute", "updated_at"}),
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
		return tenancy.RecordAudit(tx, s, actor, AuditSSOConfigured, ed.EntityID, fmt.Sprintf("domains %s; JIT %s as %s; enforce %s; IdP-initiated %s",
			strings.Join(domains, ", "), onOff(conn.JIT), role.Label(), onOff(conn.Enforce), onOff(conn.AllowIDPInitiated)))
	})
	return conn, err
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
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return SSOAccount{}, tenancy.ErrNotFound
	}
	var sa SSOAccount
	err := ssoDoor.Do(ctx, db, func(tx *gorm.DB) error {
		var d SSODomain
		if err := tx.Where("domain = ? AND verified_at IS NOT NULL", tenancy.NormalizeEmail(email[at+1:])).Take(&d).Error; err != nil {
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

// SP key ----------------------------------------------------------------

// SPKey is the service provider's signing key and certificate, generated
// once per deployment and shared by every server through the database.
type SPKey struct {
	ID        int64
	KeyPEM    string `gorm:"column:key_pem"`
	CertPEM   string `gorm:"column:cert_pem"`
	CreatedAt time.Time
}

// TableName is sp_keys.
func (SPKey) TableName() string { return "sp_keys" }

// LoadSPKey returns the service provider's key pair, creating it on first use.
func LoadSPKey(ctx context.Context, db *gorm.DB) (*rsa.PrivateKey, *x509.Certificate, error) {
	var k SPKey
	err := db.WithContext(ctx).Take(&k, 1).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		created, cerr := newSPKey()
		if cerr != nil {
			return nil, nil, cerr
		}
		// Two servers may race to create it: the first one wins, both read it.
		if err := db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&created).Error; err != nil {
			return nil, nil, err
		}
		err = db.WithContext(ctx).Take(&k, 1).Error
	}
	if err != nil {
		return nil, nil, err
	}
	return parseSPKey(k)
}

func newSPKey() (SPKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return SPKey{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return SPKey{}, err
	}
	t := tenancy.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Switchboard SAML service provider"},
		NotBefore:    t.Add(-time.Hour),
		NotAfter:     t.AddDate(20, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return SPKey{}, err
	}
	return SPKey{
		ID:        1,
		KeyPEM:    string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})),
		CertPEM:   string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		CreatedAt: t,
	}, nil
}

func parseSPKey(k SPKey) (*rsa.PrivateKey, *x509.Certificate, error) {
	kb, _ := pem.Decode([]byte(k.KeyPEM))
	cb, _ := pem.Decode([]byte(k.CertPEM))
	if kb == nil || cb == nil {
		return nil, nil, errors.New("the stored SAML service provider key is damaged")
	}
	key, err := x509.ParsePKCS1PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	return key, cert, err
}

// Requests and replays --------------------------------------------------

// SSO request purposes.
const (
	SSOLogin   = "login"
	SSOTest    = "test"
	SSOLinking = "link" // a sign-in that links the identity to the user who started it
)

// SSORequestTTL is how long an IdP has to answer an AuthnRequest.
const SSORequestTTL = 10 * time.Minute

// SSORequest is an AuthnRequest this service provider issued.
type SSORequest struct {
	ID         string `gorm:"primaryKey"`
	AccountID  int64
	Purpose    string
	UserID     *int64
	Result     string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	ConsumedAt *time.Time
}

// TableName is sso_requests.
func (SSORequest) TableName() string { return "sso_requests" }

// RecordSSORequest remembers an AuthnRequest of the organization so that
// only responses to it are accepted. userID is who started it: the
// administrator running a connection test, the member linking an identity.
func RecordSSORequest(ctx context.Context, db *gorm.DB, sa SSOAccount, id, purpose string, userID *int64) error {
	t := tenancy.Now()
	s := sa.sys()
	return s.Write(ctx, db, func(tx *gorm.DB) error {
		return s.Apply(tx).Create(&SSORequest{ID: id, Purpose: purpose, UserID: userID, CreatedAt: t, ExpiresAt: t.Add(SSORequestTTL)}).Error
	})
}

// OpenSSORequest returns an unanswered, unexpired request of the
// organization; ErrNotFound for one this SP never issued, for another
// organization, or already answered.
func OpenSSORequest(ctx context.Context, db *gorm.DB, sa SSOAccount, id string) (SSORequest, error) {
	var r SSORequest
	s := sa.sys()
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		return s.Apply(tx).Where("id = ? AND consumed_at IS NULL AND expires_at > ?", id, tenancy.Now()).Take(&r).Error
	})
	return r, tenancy.NotFound(err)
}

// ConsumeSSORequest marks a request answered, with the outcome of a
// connection test; a request answered concurrently is ErrNotFound.
func ConsumeSSORequest(ctx context.Context, db *gorm.DB, sa SSOAccount, id, result string) error {
	s := sa.sys()
	return s.Write(ctx, db, func(tx *gorm.DB) error {
		res := s.Apply(tx.Model(&SSORequest{})).
			Where("id = ? AND consumed_at IS NULL AND expires_at > ?", id, tenancy.Now()).
			Updates(map[string]any{"consumed_at": tenancy.Now(), "result": result})
		if res.Error == nil && res.RowsAffected != 1 {
			return tenancy.ErrNotFound
		}
		return res.Error
	})
}

// SSOTestResult returns the outcome of a connection test run by the user.
func SSOTestResult(ctx context.Context, db *gorm.DB, s tenancy.Scope, id string) (SSORequest, error) {
	if err := s.Require(tenancy.CapManageAccount); err != nil {
		return SSORequest{}, err
	}
	var r SSORequest
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		return s.Apply(tx).Where("id = ? AND purpose = ? AND user_id = ?", id, SSOTest, s.UserID()).Take(&r).Error
	})
	return r, tenancy.NotFound(err)
}

// ReplayCache records the assertions accepted, shared by every server
// through the database, and refuses one seen before.
type ReplayCache struct{ DB *gorm.DB }

// Consume implements saml.AssertionReplayCache.
func (c ReplayCache) Consume(assertionID string, expiresAt time.Time) error {
	err := c.DB.Exec("INSERT INTO sso_replays (assertion_id, expires_at) VALUES (?, ?)", assertionID, expiresAt.UTC()).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) || (err != nil && strings.Contains(strings.ToLower(err.Error()), "unique")) {
		return saml.ErrAssertionReplayed
	}
	return err
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
		if err := s.Apply(tx).Where("domain = ?", strings.ToLower(strings.TrimSpace(domain))).Take(&d).Error; err != nil {
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
		if err := scope.Apply(tx).Where("domain = ?", strings.ToLower(strings.TrimSpace(domain))).Take(&d).Error; err != nil {
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

// BindSSOLogin remembers which browser started a sign-in: the hash of a
// nonce its cookie carries.
func BindSSOLogin(ctx context.Context, db *gorm.DB, sa SSOAccount, requestID, browserHash string) error {
	s := sa.sys()
	return s.Write(ctx, db, func(tx *gorm.DB) error {
		return s.Apply(tx.Model(&SSORequest{})).Where("id = ?", requestID).Update("browser_hash", browserHash).Error
	})
}

// FinishSSOLogin records, with the request answered, who the IdP signed in;
// the browser that started the sign-in takes the session next.
func FinishSSOLogin(ctx context.Context, db *gorm.DB, sa SSOAccount, requestID string, userID int64) error {
	s := sa.sys()
	return s.Write(ctx, db, func(tx *gorm.DB) error {
		res := s.Apply(tx.Model(&SSORequest{})).
			Where("id = ? AND consumed_at IS NULL AND expires_at > ?", requestID, tenancy.Now()).
			Updates(map[string]any{"consumed_at": tenancy.Now(), "outcome_user_id": userID})
		if res.Error == nil && res.RowsAffected != 1 {
			return tenancy.ErrNotFound
		}
		return res.Error
	})
}

// ErrSSOOtherBrowser: the sign-in was finished in a browser that did not
// start it (a login CSRF), or was already taken.
var ErrSSOOtherBrowser = errors.New("this sign-in was started in another browser or already finished")

// TakeSSOLogin hands a finished sign-in to the browser that started it,
// once: it returns who to sign in.
func TakeSSOLogin(ctx context.Context, db *gorm.DB, sa SSOAccount, requestID, browserHash string) (int64, error) {
	var r struct {
		OutcomeUserID *int64
		BrowserHash   string
	}
	s := sa.sys()
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		err := s.Apply(tx.Model(&SSORequest{})).Select("outcome_user_id, browser_hash").
			Where("id = ? AND purpose IN ? AND consumed_at > ? AND taken_at IS NULL", requestID, []string{SSOLogin, SSOLinking}, tenancy.Now().Add(-5*time.Minute)).
			Take(&r).Error
		if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && (r.OutcomeUserID == nil || r.BrowserHash == "" || browserHash == "" ||
			subtle.ConstantTimeCompare([]byte(r.BrowserHash), []byte(browserHash)) != 1)) {
			return ErrSSOOtherBrowser
		}
		if err != nil {
			return err
		}
		res := s.Apply(tx.Model(&SSORequest{})).Where("id = ? AND taken_at IS NULL", requestID).Update("taken_at", tenancy.Now())
		if res.Error == nil && res.RowsAffected != 1 {
			return ErrSSOOtherBrowser
		}
		return res.Error
	})
	if err != nil {
		return 0, err
	}
	return *r.OutcomeUserID, nil
}
