package models

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// Invitation limits. How many invitation emails an organization may send a
// day depends on its plan (InvitationEmailsPerDay).
const (
	InvitationTTL        = 7 * 24 * time.Hour
	MaxInvitesPerRequest = 50
	// InvitationResendInterval is how long after an invitation was sent it
	// can be sent again.
	InvitationResendInterval = 10 * time.Minute
	// invitationEmailWindow is the day of the daily cap: the last 24 hours,
	// so that the cap cannot be spent twice around midnight.
	invitationEmailWindow = 24 * time.Hour
)

// ErrInvitationLimit: the invitation emails asked for would go over the
// plan's daily cap, or an invitation was sent too recently to send again.
// It comes with the FieldErrors that say so and when to try again; nothing
// was written.
var ErrInvitationLimit = errors.New("invitation email limit reached")

func invitationLimitError(field, msg string) error {
	return fmt.Errorf("%w: %w", ErrInvitationLimit, tenancy.FieldErrors{field: msg})
}

// invitationEmailsSent counts the invitation emails the scope's account sent
// after since, from its audit log: every invitation and every resend is an
// event. The caller holds the account's lock, so that the count stays true
// until it commits.
func invitationEmailsSent(tx *gorm.DB, s tenancy.Scope, since time.Time) (int, error) {
	var n int64
	err := s.Apply(tx.Model(&tenancy.AuditEvent{})).
		Where("action IN ? AND created_at > ?", []tenancy.AuditAction{AuditInvited, AuditInvitationResent}, since).
		Count(&n).Error
	return int(n), err
}

// allowInvitationEmails refuses, with ErrInvitationLimit and a message on
// field, to send n more invitation emails when they would take the account
// over its plan's daily cap. The caller holds the account's lock.
func allowInvitationEmails(tx *gorm.DB, s tenancy.Scope, acct tenancy.Account, n int, field string) error {
	if n == 0 {
		return nil
	}
	limit := InvitationEmailsPerDay(acct.Plan)
	since := tenancy.Now().Add(-invitationEmailWindow)
	sent, err := invitationEmailsSent(tx, s, since)
	if err != nil || sent+n <= limit {
		return err
	}
	allows := fmt.Sprintf("The %s plan allows %s in 24 hours", acct.Plan.Label(), emails(limit))
	if n > limit {
		return invitationLimitError(field, allows+"; invite fewer people at a time.")
	}
	// The emails can go out once enough of those counted are more than a
	// day old: the oldest sent+n-limit of them.
	var times []time.Time
	if err := s.Apply(tx.Model(&tenancy.AuditEvent{})).
		Where("action IN ? AND created_at > ?", []tenancy.AuditAction{AuditInvited, AuditInvitationResent}, since).
		Order("created_at, id").Offset(sent+n-limit-1).Limit(1).Pluck("created_at", &times).Error; err != nil {
		return err
	}
	when := "later"
	if len(times) == 1 {
		when = "after " + clock(times[0].Add(invitationEmailWindow))
	}
	if left := limit - sent; left > 0 {
		return invitationLimitError(field, fmt.Sprintf("%s; this organization can send %d more now, and these addresses need %d. Invite fewer people now, or all of them %s.",
			allows, left, n, when))
	}
	return invitationLimitError(field, fmt.Sprintf("%s, and this organization has sent %s in the last 24 hours. You can send more %s.",
		allows, emails(sent), when))
}

// emails counts invitation emails in words: "1 invitation email", "5,000
// invitation emails".
func emails(n int) string {
	if n == 1 {
		return "1 invitation email"
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s + " invitation emails"
}

// clock is a moment as the members page and the audit log show one,
// rounded up to the minute so that "after" is never early.
func clock(t time.Time) string {
	if r := t.Truncate(time.Minute); !r.Equal(t) {
		t = r.Add(time.Minute)
	}
	return t.UTC().Format("Jan 2, 2006 15:04") + " UTC"
}

// Invitation asks someone, by email, to join an organization with a role.
// Only its token's hash is stored; the token travels in the emailed link.
type Invitation struct {
	ID           int64
	PublicID     string
	AccountID    int64
	Email        string
	Role         tenancy.Role
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
	case !tenancy.Now().Before(inv.ExpiresAt):
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
		e := tenancy.NormalizeEmail(f)
		if e != "" && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// Invite invites every valid address of raw to the scope's organization with
// role; administrators only. Addresses that are invalid, already members or
// already invited are reported, and the others are still invited. An expired
// invitation is renewed. When the emails this would send do not fit in the
// plan's daily cap, nothing is sent: ErrInvitationLimit, with a message on
// "emails".
func Invite(ctx context.Context, db *gorm.DB, s tenancy.Scope, raw string, role tenancy.Role, actor tenancy.Actor) (InviteResult, error) {
	var res InviteResult
	if err := s.Require(tenancy.CapManageMembers); err != nil {
		return res, err
	}
	if !s.IsOrganization() {
		return res, tenancy.ErrNotFound
	}
	fe := tenancy.FieldErrors{}
	if _, ok := tenancy.ParseRole(string(role)); !ok {
		fe["role"] = "Choose Administrator or Regular user."
	}
	emails := parseEmails(raw)
	switch {
	case len(emails) == 0:
		fe["emails"] = "Enter at least one email address."
	case len(emails) > MaxInvitesPerRequest:
		fe["emails"] = fmt.Sprintf("Invite at most %d people at a time (you entered %d addresses).", MaxInvitesPerRequest, len(emails))
	}
	if err := fe.OrNil(); err != nil {
		return res, err
	}
	var valid []string
	for _, e := range emails {
		if addr, ok := tenancy.ParseEmail(e); ok {
			valid = append(valid, addr)
		} else {
			res.Invalid = append(res.Invalid, e)
		}
	}
	if len(valid) == 0 {
		return res, tenancy.FieldErrors{"emails": "None of these is a valid email address: " + strings.Join(res.Invalid, ", ") + "."}
	}
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		// Concurrent invitations of one address wait for each other here
		// instead of failing on the unique index, and concurrent requests
		// count the day's invitation emails one after the other.
		acct, err := s.LockAs(tx, tenancy.CapManageMembers)
		if err != nil {
			return err
		}
		var members []string
		if err := s.Mark(tx.Table("users")).Joins("JOIN memberships ON memberships.user_id = users.id AND memberships.account_id = ?", s.AccountID()).
			Where("users.email IN ?", valid).Pluck("users.email", &members).Error; err != nil {
			return err
		}
		var open []Invitation
		if err := s.Apply(tx).Where("email IN ? AND accepted_at IS NULL AND revoked_at IS NULL", valid).Find(&open).Error; err != nil {
			return err
		}
		type toSend struct {
			email string
			open  int // index of its expired invitation in open, or -1
		}
		var send []toSend
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
			send = append(send, toSend{email, i})
		}
		if err := allowInvitationEmails(tx, s, acct, len(send), "emails"); err != nil {
			return err
		}
		for _, p := range send {
			var sent SentInvitation
			var err error
			if p.open >= 0 { // expired: renew it with the role asked for now
				sent, err = renewInvitation(tx, s, open[p.open], &role)
			} else {
				sent, err = createInvitation(tx, s, p.email, role)
			}
			if err != nil {
				return err
			}
			if err := tenancy.RecordAudit(tx, s, actor, AuditInvited, p.email, "as "+role.Label()); err != nil {
				return err
			}
			res.Invited = append(res.Invited, sent)
		}
		return nil
	})
	if err != nil {
		// Refused as a whole: nothing was sent.
		return InviteResult{}, err
	}
	return res, nil
}

func createInvitation(tx *gorm.DB, s tenancy.Scope, email string, role tenancy.Role) (SentInvitation, error) {
	token := tenancy.NewToken()
	t := tenancy.Now()
	inviter := s.UserID()
	inv := Invitation{PublicID: tenancy.NewObjectID(), Email: email, Role: role, TokenHash: tenancy.HashToken(token),
		InvitedByID: &inviter, ExpiresAt: t.Add(InvitationTTL), SentAt: t}
	err := s.Apply(tx).Create(&inv).Error
	return SentInvitation{Invitation: inv, Token: token}, err
}

// renewInvitation gives an open invitation a new token and a new week; the
// old link stops working.
func renewInvitation(tx *gorm.DB, s tenancy.Scope, inv Invitation, role *tenancy.Role) (SentInvitation, error) {
	token := tenancy.NewToken()
	t := tenancy.Now()
	inv.TokenHash, inv.ExpiresAt, inv.SentAt = tenancy.HashToken(token), t.Add(InvitationTTL), t
	updates := map[string]any{"token_hash": inv.TokenHash, "expires_at": inv.ExpiresAt, "sent_at": inv.SentAt}
	if role != nil {
		inv.Role = *role
		updates["role"] = inv.Role
	}
	err := s.Apply(tx.Model(&Invitation{})).Where("id = ?", inv.ID).Updates(updates).Error
	return SentInvitation{Invitation: inv, Token: token}, err
}

// InvitationRow is an open invitation with its inviter's name.
type InvitationRow struct {
	Invitation
	InvitedByName string
}

// ListInvitations returns the scope's open invitations (pending and
// expired), newest first.
func ListInvitations(ctx context.Context, db *gorm.DB, s tenancy.Scope, page tenancy.Page) ([]InvitationRow, int64, error) {
	if err := s.Require(tenancy.CapManageMembers); err != nil {
		return nil, 0, err
	}
	var total int64
	type counted struct {
		InvitationRow
		Total int64
	}
	var got []counted
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		open := func() *gorm.DB {
			return s.Apply(tx.Model(&Invitation{})).Where("invitations.accepted_at IS NULL AND invitations.revoked_at IS NULL")
		}
		// The page and, taken before its LIMIT, how many there are, in one
		// statement; a page past the end counts on its own.
		err := open().Select("invitations.*, users.name AS invited_by_name, COUNT(*) OVER () AS total").
			Joins("LEFT JOIN users ON users.id = invitations.invited_by_id").
			Order("invitations.created_at DESC, invitations.id DESC").
			Limit(page.Size).Offset(page.Offset()).Find(&got).Error
		if err != nil || len(got) > 0 || page.Offset() == 0 {
			return err // an empty first page: there are none
		}
		return open().Count(&total).Error
	})
	rows := make([]InvitationRow, 0, len(got))
	for _, r := range got {
		rows = append(rows, r.InvitationRow)
		total = r.Total
	}
	return rows, total, err
}

func openInvitation(tx *gorm.DB, s tenancy.Scope, publicID string) (Invitation, error) {
	var inv Invitation
	err := s.Apply(tx).Where("public_id = ? AND accepted_at IS NULL AND revoked_at IS NULL", publicID).Take(&inv).Error
	return inv, tenancy.NotFound(err)
}

// ResendInvitation sends an open invitation again with a new link valid for
// a week; administrators only. An invitation sent less than
// InvitationResendInterval ago, or one more email than the plan's daily
// cap, is refused with ErrInvitationLimit and a message on "invitation".
func ResendInvitation(ctx context.Context, db *gorm.DB, s tenancy.Scope, publicID string, actor tenancy.Actor) (SentInvitation, error) {
	if err := s.Require(tenancy.CapManageMembers); err != nil {
		return SentInvitation{}, err
	}
	var sent SentInvitation
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		acct, err := s.LockAs(tx, tenancy.CapManageMembers)
		if err != nil {
			return err
		}
		inv, err := openInvitation(tx, s, publicID)
		if err != nil {
			return err
		}
		if next := inv.SentAt.Add(InvitationResendInterval); tenancy.Now().Before(next) {
			return invitationLimitError("invitation", fmt.Sprintf("The invitation to %s was sent less than %d minutes ago. You can send it again after %s.",
				inv.Email, int(InvitationResendInterval/time.Minute), clock(next)))
		}
		if err := allowInvitationEmails(tx, s, acct, 1, "invitation"); err != nil {
			return err
		}
		if sent, err = renewInvitation(tx, s, inv, nil); err != nil {
			return err
		}
		return tenancy.RecordAudit(tx, s, actor, AuditInvitationResent, inv.Email, "")
	})
	if err != nil {
		return SentInvitation{}, err
	}
	return sent, nil
}

// RevokeInvitation makes an open invitation's link stop working;
// administrators only.
func RevokeInvitation(ctx context.Context, db *gorm.DB, s tenancy.Scope, publicID string, actor tenancy.Actor) (Invitation, error) {
	if err := s.Require(tenancy.CapManageMembers); err != nil {
		return Invitation{}, err
	}
	var inv Invitation
	err := s.Write(ctx, db, func(tx *gorm.DB) error {
		if _, err := s.LockAs(tx, tenancy.CapManageMembers); err != nil {
			return err
		}
		var err error
		if inv, err = openInvitation(tx, s, publicID); err != nil {
			return err
		}
		if err := s.Apply(tx.Model(&Invitation{})).Where("id = ?", inv.ID).Update("revoked_at", tenancy.Now()).Error; err != nil {
			return err
		}
		return tenancy.RecordAudit(tx, s, actor, AuditInvitationRevoked, inv.Email, "")
	})
	return inv, err
}

// InvitationEmailsPerDay is how many invitation emails — invitations and
// resends — an organization on the plan may send in any 24 hours: enough to
// bring a whole team in, too few for the product to serve as a spam relay.
func InvitationEmailsPerDay(p tenancy.Plan) int {
	switch p {
	case tenancy.PlanDeveloper:
		return 500
	case tenancy.PlanEnterprise:
		return 5_000
	}
	return 100
}
