package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"gorm.io/gorm"
)

// Invitation limits.
const (
	InvitationTTL        = 7 * 24 * time.Hour
	MaxInvitesPerRequest = 50
)

// Invitation asks someone, by email, to join an organization with a role.
// Only its token's hash is stored; the token travels in the emailed link.
type Invitation struct {
	ID           int64
	PublicID     string
	AccountID    int64
	Email        string
	Role         Role
	TokenHash    string
	InvitedByID  *int64
	ExpiresAt    time.Time
	SentAt       time.Time
	AcceptedAt   *time.Time
	AcceptedByID *int64
	RevokedAt    *time.Time
	CreatedAt    time.Time
}

// InvitationState is where an invitation stands.
type InvitationState string

const (
	InvitationPending  InvitationState = "pending"
	InvitationExpired  InvitationState = "expired"
	InvitationRevoked  InvitationState = "revoked"
	InvitationAccepted InvitationState = "accepted"
)

// State says whether the invitation can still be accepted, and if not why.
func (inv Invitation) State() InvitationState {
	switch {
	case inv.AcceptedAt != nil:
		return InvitationAccepted
	case inv.RevokedAt != nil:
		return InvitationRevoked
	case !now().Before(inv.ExpiresAt):
		return InvitationExpired
	}
	return InvitationPending
}

// SentInvitation is an invitation with the token for its link; the token
// exists only here, never in the database.
type SentInvitation struct {
	Invitation
	Token string
}

// InviteResult says what became of each address of an invite form.
type InviteResult struct {
	Invited        []SentInvitation
	AlreadyMembers []string
	AlreadyInvited []string
	Invalid        []string
}

// parseEmails splits a form's addresses on commas, semicolons and new lines,
// trims, lower-cases and de-duplicates them, keeping their order.
func parseEmails(raw string) []string {
	// Spaces separate too: no valid address contains one.
	fields := strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == ';' || unicode.IsSpace(r) })
	var out []string
	for _, f := range fields {
		e := NormalizeEmail(f)
		if e != "" && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// Invite invites every valid address of raw to the scope's organization with
// role; administrators only. Addresses that are invalid, already members or
// already invited are reported, and the others are still invited. An expired
// invitation is renewed.
func Invite(ctx context.Context, db *gorm.DB, s Scope, raw string, role Role, actor Actor) (InviteResult, error) {
	var res InviteResult
	if err := s.require(CapManageMembers); err != nil {
		return res, err
	}
	if !s.IsOrganization() {
		return res, ErrNotFound
	}
	fe := FieldErrors{}
	if _, ok := ParseRole(string(role)); !ok {
		fe["role"] = "Choose Administrator or Regular user."
	}
	emails := parseEmails(raw)
	switch {
	case len(emails) == 0:
		fe["emails"] = "Enter at least one email address."
	case len(emails) > MaxInvitesPerRequest:
		fe["emails"] = fmt.Sprintf("Invite at most %d people at a time (you entered %d addresses).", MaxInvitesPerRequest, len(emails))
	}
	if err := fe.orNil(); err != nil {
		return res, err
	}
	var valid []string
	for _, e := range emails {
		if ValidEmail(e) {
			valid = append(valid, e)
		} else {
			res.Invalid = append(res.Invalid, e)
		}
	}
	if len(valid) == 0 {
		return res, FieldErrors{"emails": "None of these is a valid email address: " + strings.Join(res.Invalid, ", ") + "."}
	}
	err := inTx(ctx, db, func(tx *gorm.DB) error {
		// Concurrent invitations of one address wait for each other here
		// instead of failing on the unique index.
		if _, err := s.lockAs(tx, CapManageMembers); err != nil {
			return err
		}
		var members []string
		if err := tx.Table("users").Joins("JOIN memberships ON memberships.user_id = users.id AND memberships.account_id = ?", s.AccountID()).
			Where("users.email IN ?", valid).Pluck("users.email", &members).Error; err != nil {
			return err
		}
		var open []Invitation
		if err := s.apply(tx).Where("email IN ? AND accepted_at IS NULL AND revoked_at IS NULL", valid).Find(&open).Error; err != nil {
			return err
		}
		for _, email := range valid {
			if slices.Contains(members, email) {
				res.AlreadyMembers = append(res.AlreadyMembers, email)
				continue
			}
			i := slices.IndexFunc(open, func(inv Invitation) bool { return inv.Email == email })
			if i >= 0 && open[i].State() == InvitationPending {
				res.AlreadyInvited = append(res.AlreadyInvited, email)
				continue
			}
			var sent SentInvitation
			var err error
			if i >= 0 { // expired: renew it with the role asked for now
				sent, err = renewInvitation(tx, s, open[i], &role)
			} else {
				sent, err = createInvitation(tx, s, email, role)
			}
			if err != nil {
				return err
			}
			if err := recordAudit(tx, s, actor, AuditInvited, email, "as "+role.Label()); err != nil {
				return err
			}
			res.Invited = append(res.Invited, sent)
		}
		return nil
	})
	return res, err
}

func createInvitation(tx *gorm.DB, s Scope, email string, role Role) (SentInvitation, error) {
	token := NewToken()
	t := now()
	inviter := s.userID
	inv := Invitation{PublicID: newObjectID(), Email: email, Role: role, TokenHash: HashToken(token),
		InvitedByID: &inviter, ExpiresAt: t.Add(InvitationTTL), SentAt: t}
	err := s.apply(tx).Create(&inv).Error
	return SentInvitation{Invitation: inv, Token: token}, err
}

// renewInvitation gives an open invitation a new token and a new week; the
// old link stops working.
func renewInvitation(tx *gorm.DB, s Scope, inv Invitation, role *Role) (SentInvitation, error) {
	token := NewToken()
	t := now()
	inv.TokenHash, inv.ExpiresAt, inv.SentAt = HashToken(token), t.Add(InvitationTTL), t
	updates := map[string]any{"token_hash": inv.TokenHash, "expires_at": inv.ExpiresAt, "sent_at": inv.SentAt}
	if role != nil {
		inv.Role = *role
		updates["role"] = inv.Role
	}
	err := s.apply(tx.Model(&Invitation{})).Where("id = ?", inv.ID).Updates(updates).Error
	return SentInvitation{Invitation: inv, Token: token}, err
}

// InvitationRow is an open invitation with its inviter's name.
type InvitationRow struct {
	Invitation
	InvitedByName string
}

// ListInvitations returns the scope's open invitations (pending and
// expired), newest first.
func ListInvitations(ctx context.Context, db *gorm.DB, s Scope, page Page) ([]InvitationRow, int64, error) {
	if err := s.require(CapManageMembers); err != nil {
		return nil, 0, err
	}
	open := func() *gorm.DB {
		return s.apply(db.WithContext(ctx).Model(&Invitation{})).Where("invitations.accepted_at IS NULL AND invitations.revoked_at IS NULL")
	}
	var total int64
	if err := open().Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var rows []InvitationRow
	err := open().Select("invitations.*, users.name AS invited_by_name").
		Joins("LEFT JOIN users ON users.id = invitations.invited_by_id").
		Order("invitations.created_at DESC, invitations.id DESC").
		Limit(page.Size).Offset(page.Offset()).Find(&rows).Error
	return rows, total, err
}

func openInvitation(tx *gorm.DB, s Scope, publicID string) (Invitation, error) {
	var inv Invitation
	err := s.apply(tx).Where("public_id = ? AND accepted_at IS NULL AND revoked_at IS NULL", publicID).Take(&inv).Error
	return inv, notFound(err)
}

// ResendInvitation sends an open invitation again with a new link valid for
// a week; administrators only.
func ResendInvitation(ctx context.Context, db *gorm.DB, s Scope, publicID string, actor Actor) (SentInvitation, error) {
	if err := s.require(CapManageMembers); err != nil {
		return SentInvitation{}, err
	}
	var sent SentInvitation
	err := inTx(ctx, db, func(tx *gorm.DB) error {
		if _, err := s.lockAs(tx, CapManageMembers); err != nil {
			return err
		}
		inv, err := openInvitation(tx, s, publicID)
		if err != nil {
			return err
		}
		if sent, err = renewInvitation(tx, s, inv, nil); err != nil {
			return err
		}
		return recordAudit(tx, s, actor, AuditInvitationResent, inv.Email, "")
	})
	return sent, err
}

// RevokeInvitation makes an open invitation's link stop working;
// administrators only.
func RevokeInvitation(ctx context.Context, db *gorm.DB, s Scope, publicID string, actor Actor) (Invitation, error) {
	if err := s.require(CapManageMembers); err != nil {
		return Invitation{}, err
	}
	var inv Invitation
	err := inTx(ctx, db, func(tx *gorm.DB) error {
		if _, err := s.lockAs(tx, CapManageMembers); err != nil {
			return err
		}
		var err error
		if inv, err = openInvitation(tx, s, publicID); err != nil {
			return err
		}
		if err := s.apply(tx.Model(&Invitation{})).Where("id = ?", inv.ID).Update("revoked_at", now()).Error; err != nil {
			return err
		}
		return recordAudit(tx, s, actor, AuditInvitationRevoked, inv.Email, "")
	})
	return inv, err
}

// InvitationView is what an invitation link shows: the invitation, its
// organization and its inviter.
type InvitationView struct {
	Invitation
	AccountName     string
	AccountPublicID string
	InviterName     string
}

// bySecret marks a statement on an account-owned table whose authority is a
// secret rather than a scope: whoever holds an invitation's token may read
// that one invitation, whatever their account; a verified API key's own row
// may be touched.
func bySecret(db *gorm.DB) *gorm.DB { return db.Set(scopeKey, trusted{}) }

// ErrInvitationNotFound: no invitation has this token.
var ErrInvitationNotFound = errors.New("this invitation link is not valid")

// LookupInvitation finds the invitation of a link, in whatever state.
func LookupInvitation(ctx context.Context, db *gorm.DB, token string) (InvitationView, error) {
	var v InvitationView
	err := bySecret(db.WithContext(ctx).Model(&Invitation{})).
		Select("invitations.*, accounts.name AS account_name, accounts.public_id AS account_public_id, users.name AS inviter_name").
		Joins("JOIN accounts ON accounts.id = invitations.account_id").
		Joins("LEFT JOIN users ON users.id = invitations.invited_by_id").
		Where("invitations.token_hash = ?", HashToken(token)).
		Take(&v).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return v, ErrInvitationNotFound
	}
	return v, err
}

// ErrInvitationForSomeoneElse: the signed-in user's email is not the one
// invited.
var ErrInvitationForSomeoneElse = errors.New("this invitation was sent to another email address")

// ErrInvitationClosed: the invitation was accepted, revoked or has expired.
var ErrInvitationClosed = errors.New("this invitation can no longer be accepted")

// AcceptInvitation makes the user a member of the invitation's organization
// with its role, and returns their scope there. The user's email must be the
// invited one; accepting proves it.
func AcceptInvitation(ctx context.Context, db *gorm.DB, token string, user User, ip string) (Scope, error) {
	var scope Scope
	err := inTx(ctx, db, func(tx *gorm.DB) error {
		var inv Invitation
		if err := bySecret(tx).Where("token_hash = ?", HashToken(token)).Take(&inv).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return ErrInvitationNotFound
			}
			return err
		}
		acct, err := lockAccount(tx, inv.AccountID)
		if err != nil {
			return err
		}
		if inv.State() != InvitationPending {
			return ErrInvitationClosed
		}
		if NormalizeEmail(user.Email) != inv.Email {
			return ErrInvitationForSomeoneElse
		}
		t := now()
		res := bySecret(tx.Model(&Invitation{})).Where("id = ? AND accepted_at IS NULL AND revoked_at IS NULL", inv.ID).
			Updates(map[string]any{"accepted_at": t, "accepted_by_id": user.ID})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return ErrInvitationClosed
		}
		var n int64
		if err := tx.Model(&Membership{}).Where("account_id = ? AND user_id = ?", acct.ID, user.ID).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 {
			if err := tx.Create(&Membership{AccountID: acct.ID, UserID: user.ID, Role: inv.Role}).Error; err != nil {
				return err
			}
		}
		if user.EmailVerifiedAt == nil {
			if err := tx.Model(&User{}).Where("id = ?", user.ID).Update("email_verified_at", t).Error; err != nil {
				return err
			}
		}
		if scope, err = ScopeForSession(ctx, tx, user.ID, acct.ID); err != nil {
			return err
		}
		return recordAudit(tx, scope, Actor{UserID: user.ID, Name: user.Name, IP: ip}, AuditJoined, user.Email, "as "+scope.Role().Label())
	})
	return scope, err
}
