package models

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// Passkey limits.
const (
	// PasskeyNameMax bounds a passkey's name, in characters.
	PasskeyNameMax = 64
	// PasskeysMax is how many passkeys one user may register.
	PasskeysMax = 20
	// PasskeyChallengeTTL is how long a WebAuthn ceremony may take, from
	// its options to its answer.
	PasskeyChallengeTTL = 5 * time.Minute
)

// Why a passkey was refused.
var (
	// ErrPasskeyRefused: the browser's answer does not verify (another
	// origin, a wrong signature, a passkey that is not the user's or no
	// longer exists, a signature counter that went back, no user
	// verification).
	ErrPasskeyRefused = errors.New("the passkey was not accepted")
	// ErrPasskeyChallenge: the ceremony's challenge is unknown, expired,
	// already answered, or was issued for something else.
	ErrPasskeyChallenge = errors.New("the passkey request expired or was already used")
	// ErrNoPasskey: the user has no passkey to sign in with.
	ErrNoPasskey = errors.New("no passkey is registered")
	// ErrPasskeysUnavailable: the deployment's public URL cannot be a
	// WebAuthn relying party (an IP address, or http on a host other than
	// localhost).
	ErrPasskeysUnavailable = errors.New("passkeys need the dashboard at a domain name, over https (or http://localhost)")
)

// Passkey is one of a user's WebAuthn credentials (a passkey or a security
// key). It belongs to the user, like their authenticator app, and serves in
// every account.
type Passkey struct {
	ID     int64
	UserID int64
	// CredentialID is the authenticator's credential ID, base64url.
	CredentialID string
	Name         string
	// Credential is the verified credential record as JSON.
	Credential string
	SignCount  int64
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// passkeyPurpose says which ceremony a challenge was issued for: an answer
// is accepted only by the ceremony it was issued for.
type passkeyPurpose string

const (
	// A registration challenge is issued only once the user's password was
	// checked (BeginPasskeyRegistration). The value changed when that check
	// came in, so that a challenge issued without it (by a server of the
	// previous release, during a rolling deploy) is never answered.
	purposeRegister     passkeyPurpose = "register-after-password"
	purposeSecondFactor passkeyPurpose = "second-factor"
	purposePasswordless passkeyPurpose = "passwordless"
)

// WebAuthnChallenge is a ceremony in progress, found by the hash of the
// token its browser holds; it is deleted by the request that answers it.
type WebAuthnChallenge struct {
	ID          int64
	TokenHash   string
	Purpose     string
	UserID      *int64
	SessionData string
	ExpiresAt   time.Time
	CreatedAt   time.Time
}

func (WebAuthnChallenge) TableName() string { return "webauthn_challenges" }

// PasskeyRP is the dashboard as a WebAuthn relying party: its ID is the
// host of the public URL, and the only origin it accepts is that URL's.
type PasskeyRP struct{ wa *webauthn.WebAuthn }

// NewPasskeyRP makes the relying party of the dashboard at baseURL. Browsers
// offer WebAuthn only to a domain name (never an IP address) in a secure
// context, so any other URL is ErrPasskeysUnavailable.
func NewPasskeyRP(baseURL, displayName string) (*PasskeyRP, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("%w: %q is not an origin", ErrPasskeysUnavailable, baseURL)
	}
	host := u.Hostname()
	switch {
	case host == "" || net.ParseIP(host) != nil:
		return nil, fmt.Errorf("%w: %q has no domain name", ErrPasskeysUnavailable, baseURL)
	case u.Scheme == "https":
	case u.Scheme == "http" && (host == "localhost" || strings.HasSuffix(host, ".localhost")):
	default:
		return nil, fmt.Errorf("%w: %q is not https", ErrPasskeysUnavailable, baseURL)
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  host,
		RPDisplayName:         displayName,
		RPOrigins:             []string{u.Scheme + "://" + u.Host},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationRequired,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPasskeysUnavailable, err)
	}
	return &PasskeyRP{wa: wa}, nil
}

// passkeyUser is a user as the WebAuthn library sees them. The user handle
// is the public ID: opaque, stable, and no personal data.
type passkeyUser struct {
	user  User
	creds []webauthn.Credential
}

func (p passkeyUser) WebAuthnID() []byte                         { return []byte(p.user.PublicID) }
func (p passkeyUser) WebAuthnName() string                       { return p.user.Email }
func (p passkeyUser) WebAuthnDisplayName() string                { return p.user.Name }
func (p passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

// loadPasskeyUser reads the user's passkeys as credential records; the
// counter column is the one that counts.
func loadPasskeyUser(ctx context.Context, db *gorm.DB, user User) (passkeyUser, error) {
	rows, err := ListPasskeys(ctx, db, user.ID)
	if err != nil {
		return passkeyUser{}, err
	}
	pu := passkeyUser{user: user}
	for _, r := range rows {
		cred, err := r.record()
		if err != nil {
			return passkeyUser{}, err
		}
		pu.creds = append(pu.creds, cred)
	}
	return pu, nil
}

func (p Passkey) record() (webauthn.Credential, error) {
	var cred webauthn.Credential
	if err := json.Unmarshal([]byte(p.Credential), &cred); err != nil {
		return cred, fmt.Errorf("passkey %d: damaged record: %w", p.ID, err)
	}
	cred.Authenticator.SignCount = uint32(p.SignCount)
	cred.Authenticator.CloneWarning = false
	return cred, nil
}

func credentialID(raw []byte) string { return base64.RawURLEncoding.EncodeToString(raw) }

// ListPasskeys returns the user's passkeys, oldest first.
func ListPasskeys(ctx context.Context, db *gorm.DB, userID int64) ([]Passkey, error) {
	var rows []Passkey
	err := db.WithContext(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&rows).Error
	return rows, err
}

// PasskeyOptions are the options for navigator.credentials, as JSON, and
// the token that names the ceremony (for the browser's cookie).
type PasskeyOptions struct {
	JSON  []byte
	Token string
}

// begin remembers a ceremony's session data under a new token, and sweeps
// ceremonies nobody finished.
func begin(ctx context.Context, db *gorm.DB, purpose passkeyPurpose, userID *int64, sd *webauthn.SessionData, options any) (PasskeyOptions, error) {
	data, err := json.Marshal(sd)
	if err != nil {
		return PasskeyOptions{}, err
	}
	out, err := json.Marshal(options)
	if err != nil {
		return PasskeyOptions{}, err
	}
	token := tenancy.NewToken()
	t := tenancy.Now()
	err = tenancy.InTx(ctx, db, func(tx *gorm.DB) error {
		if err := tx.Where("expires_at < ?", t).Delete(&WebAuthnChallenge{}).Error; err != nil {
			return err
		}
		return tx.Create(&WebAuthnChallenge{
			TokenHash: tenancy.HashToken(token), Purpose: string(purpose), UserID: userID,
			SessionData: string(data), ExpiresAt: t.Add(PasskeyChallengeTTL), CreatedAt: t,
		}).Error
	})
	return PasskeyOptions{JSON: out, Token: token}, err
}

// consume takes the ceremony named by token out of the table (so that it is
// answered at most once, even by two requests racing) and returns its
// session data, if it was issued for purpose and userID (0: no user) and
// has not expired. Anything else is ErrPasskeyChallenge.
func consume(ctx context.Context, db *gorm.DB, token string, purpose passkeyPurpose, userID int64) (webauthn.SessionData, error) {
	var sd webauthn.SessionData
	if token == "" || len(token) > 128 {
		return sd, ErrPasskeyChallenge
	}
	var ch WebAuthnChallenge
	err := db.WithContext(ctx).Where("token_hash = ?", tenancy.HashToken(token)).Take(&ch).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return sd, ErrPasskeyChallenge
	}
	if err != nil {
		return sd, err
	}
	res := db.WithContext(ctx).Where("id = ?", ch.ID).Delete(&WebAuthnChallenge{})
	if res.Error != nil {
		return sd, res.Error
	}
	if res.RowsAffected != 1 {
		return sd, ErrPasskeyChallenge // answered by a concurrent request
	}
	var owner int64
	if ch.UserID != nil {
		owner = *ch.UserID
	}
	if ch.Purpose != string(purpose) || owner != userID || !tenancy.Now().Before(ch.ExpiresAt) {
		return sd, ErrPasskeyChallenge
	}
	if err := json.Unmarshal([]byte(ch.SessionData), &sd); err != nil {
		return sd, ErrPasskeyChallenge
	}
	return sd, nil
}

// BeginPasskeyRegistration starts registering a passkey for the user, once
// password is theirs (a field error on current_password otherwise, and no
// challenge is issued): a passkey signs in without the password, so a
// session alone, a stolen cookie perhaps, must not be enough to add one.
// A user without a password (made by SSO or SCIM) is refused too: they set
// one first through an emailed reset link, as the profile page tells them,
// which proves the mailbox. The passkey is a discoverable credential with
// user verification, none of the user's existing passkeys again.
func (rp *PasskeyRP) BeginPasskeyRegistration(ctx context.Context, db *gorm.DB, user User, password string) (PasskeyOptions, error) {
	if err := ConfirmPassword(user, password, "add the passkey"); err != nil {
		return PasskeyOptions{}, err
	}
	pu, err := loadPasskeyUser(ctx, db, user)
	if err != nil {
		return PasskeyOptions{}, err
	}
	if len(pu.creds) >= PasskeysMax {
		return PasskeyOptions{}, tenancy.FieldErrors{"name": fmt.Sprintf("You have %d passkeys, the most one person may have. Remove one first.", PasskeysMax)}
	}
	exclude := webauthn.Credentials(pu.creds).CredentialDescriptors()
	creation, sd, err := rp.wa.BeginRegistration(pu, webauthn.WithExclusions(exclude))
	if err != nil {
		return PasskeyOptions{}, err
	}
	return begin(ctx, db, purposeRegister, &user.ID, sd, creation)
}

// cleanPasskeyName trims the name; an empty one becomes "Passkey N".
func cleanPasskeyName(name string, n int) (string, tenancy.FieldErrors) {
	name = strings.Join(strings.Fields(name), " ")
	switch {
	case name == "":
		return fmt.Sprintf("Passkey %d", n), nil
	case utf8.RuneCountInString(name) > PasskeyNameMax:
		return "", tenancy.FieldErrors{"name": fmt.Sprintf("Use at most %d characters.", PasskeyNameMax)}
	}
	return name, nil
}

// FinishPasskeyRegistration verifies the browser's answer (response, the
// credential as JSON) to the ceremony named by token, and stores the
// passkey under name. A user who had no recovery codes gets ten, returned
// to be shown once: losing the only passkey must not lock them out.
func (rp *PasskeyRP) FinishPasskeyRegistration(ctx context.Context, db *gorm.DB, user User, token string, response []byte, name string) (Passkey, []string, error) {
	sd, err := consume(ctx, db, token, purposeRegister, user.ID)
	if err != nil {
		return Passkey{}, nil, err
	}
	pu, err := loadPasskeyUser(ctx, db, user)
	if err != nil {
		return Passkey{}, nil, err
	}
	name, fe := cleanPasskeyName(name, len(pu.creds)+1)
	if fe != nil {
		return Passkey{}, nil, fe
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Passkey{}, nil, fmt.Errorf("%w: %v", ErrPasskeyRefused, err)
	}
	cred, err := rp.wa.CreateCredential(pu, sd, parsed)
	if err != nil {
		return Passkey{}, nil, fmt.Errorf("%w: %v", ErrPasskeyRefused, err)
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return Passkey{}, nil, err
	}
	var recovery []string
	p := Passkey{UserID: user.ID, CredentialID: credentialID(cred.ID), Name: name, Credential: string(record),
		SignCount: int64(cred.Authenticator.SignCount), CreatedAt: tenancy.Now()}
	err = tenancy.InTx(ctx, db, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Passkey{}).Where("user_id = ?", user.ID).Count(&n).Error; err != nil {
			return err
		}
		if n >= PasskeysMax {
			return tenancy.FieldErrors{"name": fmt.Sprintf("You have %d passkeys, the most one person may have. Remove one first.", PasskeysMax)}
		}
		var taken int64
		if err := tx.Model(&Passkey{}).Where("credential_id = ?", p.CredentialID).Count(&taken).Error; err != nil {
			return err
		}
		if taken > 0 {
			// Registered already (by this user, or claimed by another): a
			// credential ID names one passkey of one user.
			return fmt.Errorf("%w: the credential is registered already", ErrPasskeyRefused)
		}
		var codes int64
		if err := tx.Model(&RecoveryCode{}).Where("user_id = ?", user.ID).Count(&codes).Error; err != nil {
			return err
		}
		if err := tx.Create(&p).Error; err != nil {
			return err
		}
		if codes == 0 {
			var err error
			recovery, err = replaceRecoveryCodes(tx, user.ID)
			return err
		}
		return nil
	})
	return p, recovery, err
}

// BeginPasskeySignIn starts the second step of a sign-in with one of the
// user's passkeys. A user without any is ErrNoPasskey.
func (rp *PasskeyRP) BeginPasskeySignIn(ctx context.Context, db *gorm.DB, user User) (PasskeyOptions, error) {
	pu, err := loadPasskeyUser(ctx, db, user)
	if err != nil {
		return PasskeyOptions{}, err
	}
	if len(pu.creds) == 0 {
		return PasskeyOptions{}, ErrNoPasskey
	}
	assertion, sd, err := rp.wa.BeginLogin(pu, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return PasskeyOptions{}, err
	}
	return begin(ctx, db, purposeSecondFactor, &user.ID, sd, assertion)
}

// FinishPasskeySignIn verifies the user's answer to the second step.
func (rp *PasskeyRP) FinishPasskeySignIn(ctx context.Context, db *gorm.DB, user User, token string, response []byte) (Passkey, error) {
	sd, err := consume(ctx, db, token, purposeSecondFactor, user.ID)
	if err != nil {
		return Passkey{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return Passkey{}, fmt.Errorf("%w: %v", ErrPasskeyRefused, err)
	}
	pu, err := loadPasskeyUser(ctx, db, user)
	if err != nil {
		return Passkey{}, err
	}
	cred, err := rp.wa.ValidateLogin(pu, sd, parsed)
	if err != nil {
		return Passkey{}, fmt.Errorf("%w: %v", ErrPasskeyRefused, err)
	}
	return usedPasskey(ctx, db, user.ID, cred)
}

// BeginPasswordlessSignIn starts a sign-in with a passkey alone: the
// browser offers the passkeys it has for the dashboard, and the one chosen
// names its user.
func (rp *PasskeyRP) BeginPasswordlessSignIn(ctx context.Context, db *gorm.DB) (PasskeyOptions, error) {
	assertion, sd, err := rp.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return PasskeyOptions{}, err
	}
	return begin(ctx, db, purposePasswordless, nil, sd, assertion)
}

// FinishPasswordlessSignIn verifies the answer and returns the passkey's
// user. The user handle the authenticator returns must be that user's.
func (rp *PasskeyRP) FinishPasswordlessSignIn(ctx context.Context, db *gorm.DB, token string, response []byte) (User, Passkey, error) {
	sd, err := consume(ctx, db, token, purposePasswordless, 0)
	if err != nil {
		return User{}, Passkey{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return User{}, Passkey{}, fmt.Errorf("%w: %v", ErrPasskeyRefused, err)
	}
	var owner User
	lookup := func(rawID, userHandle []byte) (webauthn.User, error) {
		var p Passkey
		if err := db.WithContext(ctx).Where("credential_id = ?", credentialID(rawID)).Take(&p).Error; err != nil {
			return nil, err
		}
		u, err := GetUser(ctx, db, p.UserID)
		if err != nil {
			return nil, err
		}
		if string(userHandle) != u.PublicID {
			return nil, errors.New("the user handle is not the passkey's user")
		}
		owner = u
		return loadPasskeyUser(ctx, db, u)
	}
	_, cred, err := rp.wa.ValidatePasskeyLogin(lookup, sd, parsed)
	if err != nil {
		return User{}, Passkey{}, fmt.Errorf("%w: %v", ErrPasskeyRefused, err)
	}
	p, err := usedPasskey(ctx, db, owner.ID, cred)
	return owner, p, err
}

// usedPasskey records a verified use: the new signature counter and when.
// A counter that did not move forward (a cloned key, or a replay) is
// refused, unless the authenticator keeps no counter (always 0). The update
// names the counter it read, so two uses racing cannot both pass.
func usedPasskey(ctx context.Context, db *gorm.DB, userID int64, cred *webauthn.Credential) (Passkey, error) {
	if cred.Authenticator.CloneWarning {
		return Passkey{}, fmt.Errorf("%w: the signature counter went back (a cloned key?)", ErrPasskeyRefused)
	}
	var p Passkey
	err := db.WithContext(ctx).Where("user_id = ? AND credential_id = ?", userID, credentialID(cred.ID)).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Passkey{}, fmt.Errorf("%w: the passkey was removed", ErrPasskeyRefused)
	}
	if err != nil {
		return Passkey{}, err
	}
	next := int64(cred.Authenticator.SignCount)
	if next != 0 && next <= p.SignCount {
		return Passkey{}, fmt.Errorf("%w: the signature counter did not move on", ErrPasskeyRefused)
	}
	t := tenancy.Now()
	res := db.WithContext(ctx).Model(&Passkey{}).Where("id = ? AND sign_count = ?", p.ID, p.SignCount).
		Updates(map[string]any{"sign_count": next, "last_used_at": t})
	if res.Error != nil {
		return Passkey{}, res.Error
	}
	if res.RowsAffected != 1 {
		return Passkey{}, fmt.Errorf("%w: used concurrently", ErrPasskeyRefused)
	}
	p.SignCount, p.LastUsedAt = next, &t
	return p, nil
}

// RenamePasskey renames one of the user's passkeys; another user's passkey
// is tenancy.ErrNotFound. A bad name is a field error on name.
func RenamePasskey(ctx context.Context, db *gorm.DB, userID, id int64, name string) (Passkey, error) {
	var p Passkey
	err := db.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Passkey{}, tenancy.ErrNotFound
	}
	if err != nil {
		return Passkey{}, err
	}
	if strings.TrimSpace(name) == "" {
		return Passkey{}, tenancy.FieldErrors{"name": "Enter a name."}
	}
	clean, fe := cleanPasskeyName(name, 0)
	if fe != nil {
		return Passkey{}, fe
	}
	res := db.WithContext(ctx).Model(&Passkey{}).Where("id = ? AND user_id = ?", id, userID).Update("name", clean)
	if res.Error != nil {
		return Passkey{}, res.Error
	}
	if res.RowsAffected != 1 {
		return Passkey{}, tenancy.ErrNotFound
	}
	p.Name = clean
	return p, nil
}

// RemovePasskey removes one of the user's passkeys once their password is
// right (a field error on current_password otherwise), and their recovery
// codes when no second factor is left; another user's passkey is
// tenancy.ErrNotFound.
func RemovePasskey(ctx context.Context, db *gorm.DB, userID, id int64, password string) (Passkey, error) {
	var p Passkey
	err := db.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Passkey{}, tenancy.ErrNotFound
	}
	if err != nil {
		return Passkey{}, err
	}
	user, err := GetUser(ctx, db, userID)
	if err != nil {
		return Passkey{}, err
	}
	if !PasswordMatches(user, password) {
		return Passkey{}, tenancy.FieldErrors{"current_password": "That is not your current password."}
	}
	err = tenancy.InTx(ctx, db, func(tx *gorm.DB) error {
		res := tx.Where("id = ? AND user_id = ?", id, userID).Delete(&Passkey{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return tenancy.ErrNotFound
		}
		return dropOrphanRecoveryCodes(tx, userID)
	})
	return p, err
}
