package models

import (
	"context"
	"errors"
	"slices"
	"strings"

	"gorm.io/gorm"
)

// SSOIdentity is what an identity provider said about a person.
type SSOIdentity struct {
	NameID     string
	Attributes map[string][]string
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
	// ErrSSOUnprovedDomain: the email belongs to someone who already had an
	// account, and the organization has not proved (by DNS) that it owns the
	// domain, so its IdP may not speak for them.
	ErrSSOUnprovedDomain = errors.New("the address belongs to an existing account and the organization has not proved it owns the domain")
)

// revokeAllAPIKeys stops every key of a user, in every account: their
// address changed hands (an unverified registration was taken over by its
// real owner).
func revokeAllAPIKeys(tx *gorm.DB, userID int64) error {
	return systemWrite(tx.Model(&APIKey{})).Where("user_id = ? AND revoked_at IS NULL", userID).Update("revoked_at", now()).Error
}

// OwnsEmail reports whether the email is in one of the connection's domains.
func (c SSOConnection) OwnsEmail(email string) bool {
	at := strings.LastIndexByte(email, '@')
	return at > 0 && slices.Contains(c.Domains, email[at+1:])
}

// SSOSignIn admits the person an accepted response names into the
// organization: an unknown email in its domains becomes a user and a member
// (just-in-time provisioning), a known user becomes a member if not one yet
// (also only with JIT on). Linking an address nobody proved (someone may have
// registered it first) proves it, removes the password, ends every session
// and revokes every API key, so a squatter's credentials open nothing.
//
// An IdP speaks for people who already had an account here only once the
// organization proved by DNS that it owns their domain; before that it may
// sign in only the users it created itself. Otherwise any administrator
// could claim a victim's domain and sign in as them.
func SSOSignIn(ctx context.Context, db *gorm.DB, sa SSOAccount, email, name, nameID, ip string) (Scope, error) {
	conn := sa.Connection
	if !conn.OwnsEmail(email) {
		return Scope{}, ErrSSODomain
	}
	var scope Scope
	err := inTx(ctx, db, func(tx *gorm.DB) error {
		if _, err := lockAccount(tx, sa.Account.ID); err != nil {
			return err
		}
		var user User
		err := tx.Where("email = ?", email).Take(&user).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			if !conn.JIT {
				return ErrSSONotMember
			}
			t := now()
			if user, _, err = createUser(ctx, tx, name, email, "", &t); err != nil {
				return err
			}
			if err := tx.Model(&User{}).Where("id = ?", user.ID).Update("sso_origin_account_id", sa.Account.ID).Error; err != nil {
				return err
			}
		case err != nil:
			return err
		case !conn.VerifiedDomain(email) && (user.SSOOriginAccountID == nil || *user.SSOOriginAccountID != sa.Account.ID):
			return ErrSSOUnprovedDomain
		case user.EmailVerifiedAt == nil:
			t := now()
			if err := tx.Model(&User{}).Where("id = ?", user.ID).Updates(map[string]any{"email_verified_at": t, "password_hash": "", "updated_at": t}).Error; err != nil {
				return err
			}
			if err := deleteUserSessions(tx, user.ID, 0); err != nil {
				return err
			}
			if err := revokeAllAPIKeys(tx, user.ID); err != nil {
				return err
			}
		}
		var n int64
		if err := tx.Model(&Membership{}).Where("account_id = ? AND user_id = ?", sa.Account.ID, user.ID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			if !conn.JIT {
				return ErrSSONotMember
			}
			if err := tx.Create(&Membership{AccountID: sa.Account.ID, UserID: user.ID, Role: conn.DefaultRole}).Error; err != nil {
				return err
			}
		}
		if err := tx.Model(&Membership{}).Where("account_id = ? AND user_id = ?", sa.Account.ID, user.ID).Update("sso_signed_in_at", now()).Error; err != nil {
			return err
		}
		if scope, err = ScopeForSession(ctx, tx, user.ID, sa.Account.ID); err != nil {
			return err
		}
		return recordAudit(tx, scope, Actor{UserID: user.ID, Name: user.Name, IP: ip}, AuditSSOSignedIn, who(user), "NameID "+nameID)
	})
	return scope, err
}

// RequiresSSO reports whether the scope may only be entered from a session
// that signed in through the organization's IdP: enforcement is on and the
// member is not an administrator (administrators keep a password way in,
// so a broken IdP cannot lock the organization out).
func (s Scope) RequiresSSO() bool {
	return s.IsOrganization() && s.account.SSOEnforced && s.role != RoleAdmin
}
