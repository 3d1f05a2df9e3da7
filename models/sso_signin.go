package models

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// SSOIdentity is what an identity provider said about a person.
type SSOIdentity struct {
	NameID       string
	NameIDFormat string
	Attributes   map[string][]string
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
	return len(s) <= 200 && plainText(s)
}

func first(attrs map[string][]string, names ...string) string {
	for _, n := range names {
		for _, v := range attrs[n] {
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
	}
	return ""
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
		email = first(id.Attributes, emailAttributes...)
		if email == "" && ValidEmail(NormalizeEmail(id.NameID)) {
			email = id.NameID
		}
	default:
		email = first(id.Attributes, c.EmailAttribute)
	}
	email = NormalizeEmail(email)
	if !ValidEmail(email) {
		if email == "" {
			return "", "", errors.New("the response carries no email address (set where it comes from in the connection's attribute mapping)")
		}
		return "", "", errors.New("the email the identity provider sent, “" + email + "”, is not a valid address")
	}
	if c.NameAttribute != "" {
		name = first(id.Attributes, c.NameAttribute)
	}
	if name == "" {
		name = first(id.Attributes, displayNameAttributes...)
	}
	if name == "" {
		name = strings.TrimSpace(first(id.Attributes, givenNameAttributes...) + " " + first(id.Attributes, surnameAttributes...))
	}
	if name == "" {
		name = email[:strings.IndexByte(email, '@')]
	}
	if n, fe := validateUserName(name); fe == nil {
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
	AuditSSOIdentityLinked   AuditAction = "sso.identity_linked"
	AuditSSOIdentityUnlinked AuditAction = "sso.identity_unlinked"
)

// SSOLink ties an identity at an organization's IdP (its NameID, the
// subject) to the user who linked it themselves.
type SSOLink struct {
	AccountID int64  `gorm:"primaryKey"`
	Subject   string `gorm:"primaryKey"`
	UserID    int64
	CreatedAt time.Time
}

// TableName is sso_links.
func (SSOLink) TableName() string { return "sso_links" }

// revokeAllAPIKeys stops every key of a user, in every account: their
// address changed hands (an unverified registration was taken over by its
// real owner).
func revokeAllAPIKeys(tx *gorm.DB, userID int64) error {
	return System("revoke every API key of a user whose address changed hands").Tx(tx.Statement.Context, tx, func(tx *gorm.DB) error {
		return tx.Model(&APIKey{}).Where("user_id = ? AND revoked_at IS NULL", userID).Update("revoked_at", now()).Error
	})
}

// dropSSOLinks forgets every identity linked to the user, in every
// organization: their address was just proved by someone who may not be
// who linked them.
func dropSSOLinks(tx *gorm.DB, userID int64) error {
	return System("drop the identities linked to a user before their address was proved").Tx(tx.Statement.Context, tx, func(tx *gorm.DB) error {
		return tx.Where("user_id = ?", userID).Delete(&SSOLink{}).Error
	})
}

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
func SSOSignIn(ctx context.Context, db *gorm.DB, sa SSOAccount, in SSOSignInInput) (Scope, error) {
	conn := sa.Connection
	var scope Scope
	err := ssoDoor.Tx(ctx, db, func(tx *gorm.DB) error {
		if _, err := lockAccount(tx, sa.Account.ID); err != nil {
			return err
		}
		user, err := linkedUser(tx, sa, in.Subject)
		switch {
		case err == nil:
			if scope, err = ScopeForSession(ctx, tx, user.ID, sa.Account.ID); err != nil {
				return ErrSSONotMember
			}
		case !errors.Is(err, ErrNotFound):
			return err
		case !conn.OwnsEmail(in.Email):
			return ErrSSODomain
		case !conn.VerifiedDomain(in.Email):
			return ErrSSOUnprovedDomain
		default:
			if user, err = admitByProvedDomain(ctx, tx, sa, in); err != nil {
				return err
			}
			if scope, err = ScopeForSession(ctx, tx, user.ID, sa.Account.ID); err != nil {
				return err
			}
		}
		if err := sa.sys().apply(tx.Model(&Membership{})).Where("user_id = ?", user.ID).Update("sso_signed_in_at", now()).Error; err != nil {
			return err
		}
		return recordAudit(tx, scope, Actor{UserID: user.ID, Name: user.Name, IP: in.IP}, AuditSSOSignedIn, who(user), "NameID "+in.Subject)
	})
	return scope, err
}

// linkedUser is the user who linked the subject at the organization's IdP;
// ErrNotFound when nobody did.
func linkedUser(tx *gorm.DB, sa SSOAccount, subject string) (User, error) {
	var user User
	if subject == "" {
		return user, ErrNotFound
	}
	err := sa.sys().mark(tx).Joins("JOIN sso_links ON sso_links.user_id = users.id AND sso_links.account_id = ? AND sso_links.subject = ?", sa.Account.ID, subject).
		Take(&user).Error
	return user, notFound(err)
}

// admitByProvedDomain finds or creates the user of an address in a domain
// the organization proved, and makes them a member when JIT allows.
func admitByProvedDomain(ctx context.Context, tx *gorm.DB, sa SSOAccount, in SSOSignInInput) (User, error) {
	conn := sa.Connection
	var user User
	err := tx.Where("email = ?", in.Email).Take(&user).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		if !conn.JIT {
			return user, ErrSSONotMember
		}
		t := now()
		if user, _, err = createUser(ctx, tx, in.Name, in.Email, "", &t); err != nil {
			return user, err
		}
	case err != nil:
		return user, err
	case user.EmailVerifiedAt == nil:
		t := now()
		if err := tx.Model(&User{}).Where("id = ?", user.ID).Updates(map[string]any{"email_verified_at": t, "password_hash": "", "updated_at": t}).Error; err != nil {
			return user, err
		}
		if err := deleteUserSessions(tx, user.ID, 0); err != nil {
			return user, err
		}
		if err := revokeAllAPIKeys(tx, user.ID); err != nil {
			return user, err
		}
		if err := dropSSOLinks(tx, user.ID); err != nil {
			return user, err
		}
	}
	org := sa.sys()
	var n int64
	if err := org.apply(tx.Model(&Membership{})).Where("user_id = ?", user.ID).Count(&n).Error; err != nil {
		return user, err
	}
	if n == 0 {
		if !conn.JIT {
			return user, ErrSSONotMember
		}
		if err := org.apply(tx).Create(&Membership{UserID: user.ID, Role: conn.DefaultRole}).Error; err != nil {
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
func LinkSSOIdentity(ctx context.Context, db *gorm.DB, sa SSOAccount, userID int64, subject, ip string) (Scope, error) {
	var scope Scope
	err := ssoDoor.Tx(ctx, db, func(tx *gorm.DB) error {
		if _, err := lockAccount(tx, sa.Account.ID); err != nil {
			return err
		}
		var user User
		if err := tx.Take(&user, userID).Error; err != nil {
			return notFound(err)
		}
		var err error
		if scope, err = ScopeForSession(ctx, tx, userID, sa.Account.ID); err != nil {
			return ErrSSONotMember
		}
		if !user.Verified() {
			return ErrSSOLinkUnverified
		}
		if subject == "" {
			return ErrSSONoSubject
		}
		holder, err := linkedUser(tx, sa, subject)
		switch {
		case err == nil && holder.ID != userID:
			return ErrSSOIdentityTaken
		case err != nil && !errors.Is(err, ErrNotFound):
			return err
		}
		if err := scope.apply(tx).Where("user_id = ?", userID).Delete(&SSOLink{}).Error; err != nil {
			return err
		}
		if err := scope.apply(tx).Create(&SSOLink{Subject: subject, UserID: userID, CreatedAt: now()}).Error; err != nil {
			return err
		}
		if err := scope.apply(tx.Model(&Membership{})).Where("user_id = ?", userID).Update("sso_signed_in_at", now()).Error; err != nil {
			return err
		}
		return recordAudit(tx, scope, Actor{UserID: user.ID, Name: user.Name, IP: ip}, AuditSSOIdentityLinked, who(user), "NameID "+subject)
	})
	return scope, err
}

// UnlinkSSOIdentity forgets the identity the scope's user linked at its
// organization's IdP; nothing happens when there is none.
func UnlinkSSOIdentity(ctx context.Context, db *gorm.DB, s Scope, actor Actor) error {
	if !s.IsOrganization() {
		return ErrNotFound
	}
	return s.write(ctx, db, func(tx *gorm.DB) error {
		res := s.apply(tx).Where("user_id = ?", s.UserID()).Delete(&SSOLink{})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		return recordAudit(tx, s, actor, AuditSSOIdentityUnlinked, actor.Name, "")
	})
}

// SSOLinkChoice is an organization of the user's that signs in through SSO,
// and whether the user linked an identity there.
type SSOLinkChoice struct {
	Account  Account
	LinkedAt *time.Time
}

// ListSSOLinkChoices lists the organizations the user belongs to that have
// an identity provider, by name, with the user's link in each.
func ListSSOLinkChoices(ctx context.Context, db *gorm.DB, userID int64) ([]SSOLinkChoice, error) {
	var rows []struct {
		Account
		LinkedAt *time.Time
	}
	// Which organizations have a connection is theirs to know, not the
	// user's; that they sign in through SSO is public (their sign-in page).
	err := System("list which of a user's organizations sign in through SSO").Do(ctx, db, func(tx *gorm.DB) error {
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

// RequiresSSO reports whether the scope may only be entered from a session
// that signed in through the organization's IdP: enforcement is on and the
// member is not an administrator (administrators keep a password way in,
// so a broken IdP cannot lock the organization out).
func (s Scope) RequiresSSO() bool {
	return s.IsOrganization() && s.account.SSOEnforced && s.role != RoleAdmin
}
