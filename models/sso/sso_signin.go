package sso

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/tenancy"
)

// SSOIdentity is what an identity provider said about a person.
type SSOIdentity struct {
	NameID       string
	NameIDFormat string
	// Attributes are the values of the attributes by their Name (an
	// attribute sent twice has the values of both).
	Attributes map[string][]string
	// FriendlyNames are the Names of the attributes by their FriendlyName,
	// a label any attribute may carry: an attribute is looked up by its
	// FriendlyName only when no attribute has that Name.
	FriendlyNames map[string][]string
}

// values are the values of the attribute named name: by its Name, else,
// when no attribute has that Name, of the attributes with that
// FriendlyName.
func (id SSOIdentity) values(name string) []string {
	if vs, ok := id.Attributes[name]; ok {
		return vs
	}
	var vs []string
	for _, n := range id.FriendlyNames[name] {
		vs = append(vs, id.Attributes[n]...)
	}
	return vs
}

// first is the first value, trimmed and not blank, of the first of the
// attributes named names that has one (see values).
func (id SSOIdentity) first(names ...string) string {
	for _, n := range names {
		for _, v := range id.values(n) {
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
	}
	return ""
}

// emailFrom is the email the attributes named names carry (see values),
// refusing a response that carries two different ones: two values of one
// attribute, two of the names, or an attribute by Name and another by
// FriendlyName that disagree. The address that decides must be the only
// one.
func (id SSOIdentity) emailFrom(names ...string) (string, error) {
	var seen []string
	for _, n := range names {
		vs := slices.Clone(id.Attributes[n])
		for _, other := range id.FriendlyNames[n] {
			vs = append(vs, id.Attributes[other]...)
		}
		for _, v := range vs {
			if v = strings.TrimSpace(v); v != "" && !slices.Contains(seen, tenancy.NormalizeEmail(v)) {
				seen = append(seen, tenancy.NormalizeEmail(v))
			}
		}
	}
	if len(seen) > 1 {
		return "", fmt.Errorf("the response carries %d different email addresses (%s): it must carry one", len(seen), strings.Join(seen, ", "))
	}
	return id.first(names...), nil
}

// transientNameID is the NameID format that changes at every sign-in.
const transientNameID = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"

// Subject is the NameID as a lasting name for the person, which links
// key on; "" when the IdP sends a transient one, which names nobody twice.
func (id SSOIdentity) Subject() string {
	if id.NameIDFormat == transientNameID {
		return ""
	}
	return strings.TrimSpace(id.NameID)
}

// Attribute names the usual identity providers send, tried in order: Okta,
// Entra ID (claim URIs), Google Workspace, Keycloak, ADFS and SimpleSAMLphp
// (OIDs), and plain names.
var (
	emailAttributes = []string{
		"email", "mail", "Email", "EmailAddress", "emailAddress", "emailaddress", "User.email",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
		"http://schemas.xmlsoap.org/claims/EmailAddress",
		"urn:oid:0.9.2342.19200300.100.1.3", "urn:oid:1.2.840.113549.1.9.1",
	}
	displayNameAttributes = []string{
		"displayName", "displayname", "name", "fullName",
		"http://schemas.microsoft.com/identity/claims/displayname",
		"urn:oid:2.16.840.1.113730.3.1.241",
		"cn", "commonName", "urn:oid:2.5.4.3",
	}
	givenNameAttributes = []string{
		"givenName", "givenname", "firstName", "first_name", "FirstName", "User.FirstName",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname", "urn:oid:2.5.4.42",
	}
	surnameAttributes = []string{
		"sn", "surname", "lastName", "last_name", "LastName", "User.LastName",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname", "urn:oid:2.5.4.4",
	}
)

// EmailFromNameID, as the email attribute setting, takes the email from the
// NameID.
const EmailFromNameID = "nameid"

func validAttributeChoice(s string) bool {
	return len(s) <= 200 && tenancy.PlainText(s)
}

// MapIdentity picks the email and name out of an identity the way the
// connection says, with defaults that work for the usual identity
// providers unedited: the email from the usual attributes, else the NameID
// if it is an email; the name from a display name, else given name and
// surname, else the email's local part.
func (c SSOConnection) MapIdentity(id SSOIdentity) (email, name string, err error) {
	switch c.EmailAttribute {
	case EmailFromNameID:
		email = id.NameID
	case "":
		if email, err = id.emailFrom(emailAttributes...); err != nil {
			return "", "", err
		}
		if _, ok := tenancy.ParseEmail(id.NameID); email == "" && ok {
			email = id.NameID
		}
	default:
		if email, err = id.emailFrom(c.EmailAttribute); err != nil {
			return "", "", err
		}
	}
	sent := strings.TrimSpace(email)
	email, ok := tenancy.ParseEmail(sent)
	if !ok {
		if sent == "" {
			return "", "", errors.New("the response carries no email address (set where it comes from in the connection's attribute mapping)")
		}
		return "", "", errors.New("the email the identity provider sent, “" + sent + "”, is not a valid address")
	}
	if c.NameAttribute != "" {
		name = id.first(c.NameAttribute)
	}
	if name == "" {
		name = id.first(displayNameAttributes...)
	}
	if name == "" {
		name = strings.TrimSpace(id.first(givenNameAttributes...) + " " + id.first(surnameAttributes...))
	}
	if name == "" {
		name = email[:strings.IndexByte(email, '@')]
	}
	if n, fe := models.ValidateUserName(name); fe == nil {
		name = n
	} else {
		name = email[:strings.IndexByte(email, '@')]
	}
	return email, name, nil
}

// Refusals of an SSO sign-in, after the response itself was accepted.
var (
	ErrSSODomain    = errors.New("the email's domain does not belong to the organization")
	ErrSSONotMember = errors.New("the person is not a member of the organization and just-in-time provisioning is off")
	// ErrSSOUnprovedDomain: the organization has not proved by DNS that it
	// owns the address's domain, and nobody linked this identity: its IdP
	// may not create or sign in anyone there.
	ErrSSOUnprovedDomain = errors.New("the organization has not proved it owns the address's domain, and the identity is not linked to a user")
	// ErrSSOIdentityTaken: another user already linked this IdP identity.
	ErrSSOIdentityTaken = errors.New("this identity at the organization's IdP is linked to another user")
	// ErrSSOLinkUnverified: linking needs an address its owner proved.
	ErrSSOLinkUnverified = errors.New("verify your email address before linking an identity")
	// ErrSSONoSubject: the IdP sent no lasting NameID to link.
	ErrSSONoSubject = errors.New("the identity provider sent no lasting NameID (it is empty or transient)")
)

// Audit actions of identity links.
const (
	AuditSSOIdentityLinked   tenancy.AuditAction = "sso.identity_linked"
	AuditSSOIdentityUnlinked tenancy.AuditAction = "sso.identity_unlinked"
)

// OwnsEmail reports whether the email is in one of the connection's domains,
// proved or not.
func (c SSOConnection) OwnsEmail(email string) bool {
	at := strings.LastIndexByte(email, '@')
	return at > 0 && slices.Contains(c.Domains, email[at+1:])
}

// SSOSignInInput is who an accepted response names: the subject (NameID)
// and the email and name mapped from it.
type SSOSignInInput struct {
	Subject, Email, Name, IP string
}

// SSOSignIn admits the person an accepted response names into the
// organization. The organization's IdP speaks only for:
//
//   - an identity a member linked to their user themselves (LinkSSOIdentity);
//   - addresses in a domain the organization proved by DNS: an unknown one
//     becomes a user and a member (just-in-time provisioning), a known user
//     becomes a member if not one yet (also only with JIT on).
//
// Nothing else: an organization that merely typed a domain cannot create
// accounts there, which their owners would later take over while the IdP
// kept signing in as them. Signing in a known address nobody proved (someone
// may have registered it first) proves it, removes the password, ends every
// session and revokes every API key, so a squatter's credentials open
// nothing.
func SSOSignIn(ctx context.Context, db *gorm.DB, sa SSOAccount, in SSOSignInInput) (tenancy.Scope, error) {
	conn := sa.Connection
	var scope tenancy.Scope
	err := ssoDoor.Tx(ctx, db, func(tx *gorm.DB) error {
		if _, err := tenancy.LockAccount(tx, sa.Account.ID); err != nil {
			return err
		}
		user, err := models.LinkedUser(tx, sa.sys(), in.Subject)
		switch {
		case err == nil:
			if scope, err = tenancy.ScopeForSession(ctx, tx, user.ID, sa.Account.ID); err != nil {
				return ErrSSONotMember
			}
		case !errors.Is(err, tenancy.ErrNotFound):
			return err
		case !conn.OwnsEmail(in.Email):
			return ErrSSODomain
		case !conn.VerifiedDomain(in.Email):
			return ErrSSOUnprovedDomain
		default:
			if user, err = admitByProvedDomain(ctx, tx, sa, in); err != nil {
				return err
			}
			if scope, err = tenancy.ScopeForSession(ctx, tx, user.ID, sa.Account.ID); err != nil {
				return err
			}
		}
		if err := sa.sys().Apply(tx.Model(&tenancy.Membership{})).Where("user_id = ?", user.ID).Update("sso_signed_in_at", tenancy.Now()).Error; err != nil {
			return err
		}
		return tenancy.RecordAudit(tx, scope, tenancy.Actor{UserID: user.ID, Name: user.Name, IP: in.IP}, AuditSSOSignedIn, user.AuditName(), "NameID "+in.Subject)
	})
	return scope, err
}

// admitByProvedDomain finds or creates the user of an address in a domain
// the organization proved, and makes them a member when JIT allows.
func admitByProvedDomain(ctx context.Context, tx *gorm.DB, sa SSOAccount, in SSOSignInInput) (models.User, error) {
	conn := sa.Connection
	var user models.User
	err := tx.Where("email = ?", in.Email).Take(&user).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		if !conn.JIT {
			return user, ErrSSONotMember
		}
		t := tenancy.Now()
		if user, _, err = models.CreateUser(ctx, tx, in.Name, in.Email, "", &t); err != nil {
			return user, err
		}
	case err != nil:
		return user, err
	case user.EmailVerifiedAt == nil:
		if err := models.ProveAddressByIdP(tx, user.ID); err != nil {
			return user, err
		}
	}
	org := sa.sys()
	var n int64
	if err := org.Apply(tx.Model(&tenancy.Membership{})).Where("user_id = ?", user.ID).Count(&n).Error; err != nil {
		return user, err
	}
	if n == 0 {
		if !conn.JIT {
			return user, ErrSSONotMember
		}
		if err := org.Apply(tx).Create(&tenancy.Membership{UserID: user.ID, Role: conn.DefaultRole}).Error; err != nil {
			return user, err
		}
	}
	return user, nil
}

// LinkSSOIdentity ties the subject an accepted response names to the user
// who started the linking sign-in, signed in with their password: from now
// on the organization's IdP signs them in by it, whatever their address.
// The user must be a member and have proved their address; one subject
// links one user, and a user links one subject per organization (a new
// link replaces theirs).
func LinkSSOIdentity(ctx context.Context, db *gorm.DB, sa SSOAccount, userID int64, subject, ip string) (tenancy.Scope, error) {
	var scope tenancy.Scope
	err := ssoDoor.Tx(ctx, db, func(tx *gorm.DB) error {
		if _, err := tenancy.LockAccount(tx, sa.Account.ID); err != nil {
			return err
		}
		var user models.User
		if err := tx.Take(&user, userID).Error; err != nil {
			return tenancy.NotFound(err)
		}
		var err error
		if scope, err = tenancy.ScopeForSession(ctx, tx, userID, sa.Account.ID); err != nil {
			return ErrSSONotMember
		}
		if !user.Verified() {
			return ErrSSOLinkUnverified
		}
		if subject == "" {
			return ErrSSONoSubject
		}
		holder, err := models.LinkedUser(tx, sa.sys(), subject)
		switch {
		case err == nil && holder.ID != userID:
			return ErrSSOIdentityTaken
		case err != nil && !errors.Is(err, tenancy.ErrNotFound):
			return err
		}
		if err := scope.Apply(tx).Where("user_id = ?", userID).Delete(&models.SSOLink{}).Error; err != nil {
			return err
		}
		if err := scope.Apply(tx).Create(&models.SSOLink{Subject: subject, UserID: userID, CreatedAt: tenancy.Now()}).Error; err != nil {
			return err
		}
		if err := scope.Apply(tx.Model(&tenancy.Membership{})).Where("user_id = ?", userID).Update("sso_signed_in_at", tenancy.Now()).Error; err != nil {
			return err
		}
		return tenancy.RecordAudit(tx, scope, tenancy.Actor{UserID: user.ID, Name: user.Name, IP: ip}, AuditSSOIdentityLinked, user.AuditName(), "NameID "+subject)
	})
	return scope, err
}

// UnlinkSSOIdentity forgets the identity the scope's user linked at its
// organization's IdP; nothing happens when there is none.
func UnlinkSSOIdentity(ctx context.Context, db *gorm.DB, s tenancy.Scope, actor tenancy.Actor) error {
	if !s.IsOrganization() {
		return tenancy.ErrNotFound
	}
	return s.Write(ctx, db, func(tx *gorm.DB) error {
		res := s.Apply(tx).Where("user_id = ?", s.UserID()).Delete(&models.SSOLink{})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		return tenancy.RecordAudit(tx, s, actor, AuditSSOIdentityUnlinked, actor.Name, "")
	})
}

// SSOLinkChoice is an organization of the user's that signs in through SSO,
// and whether the user linked an identity there.
type SSOLinkChoice struct {
	Account  tenancy.Account
	LinkedAt *time.Time
}

// ListSSOLinkChoices lists the organizations the user belongs to that have
// an identity provider, by name, with the user's link in each.
func ListSSOLinkChoices(ctx context.Context, db *gorm.DB, userID int64) ([]SSOLinkChoice, error) {
	var rows []struct {
		tenancy.Account
		LinkedAt *time.Time
	}
	// Which organizations have a connection is theirs to know, not the
	// user's; that they sign in through SSO is public (their sign-in page).
	err := tenancy.System("list which of a user's organizations sign in through SSO").Do(ctx, db, func(tx *gorm.DB) error {
		return tx.Table("accounts").
			Select("accounts.*, sso_links.created_at AS linked_at").
			Joins("JOIN memberships ON memberships.account_id = accounts.id AND memberships.user_id = ?", userID).
			Joins("JOIN sso_connections ON sso_connections.account_id = accounts.id").
			Joins("LEFT JOIN sso_links ON sso_links.account_id = accounts.id AND sso_links.user_id = ?", userID).
			Order("accounts.name, accounts.id").Scan(&rows).Error
	})
	out := make([]SSOLinkChoice, len(rows))
	for i, r := range rows {
		out[i] = SSOLinkChoice{Account: r.Account, LinkedAt: r.LinkedAt}
	}
	return out, err
}
