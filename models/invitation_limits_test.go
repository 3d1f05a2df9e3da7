package models_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
)

// clockOf is a moment as limit messages show it: rounded up to the minute.
func clockOf(t time.Time) string {
	if r := t.Truncate(time.Minute); !r.Equal(t) {
		t = r.Add(time.Minute)
	}
	return t.UTC().Format("Jan 2, 2006 15:04") + " UTC"
}

// pastEmails records n invitation emails of the account, sent at the given
// moment, as their audit events, with raw SQL.
func pastEmails(t *testing.T, db *gorm.DB, accountID int64, n int, at time.Time) {
	t.Helper()
	for n > 0 {
		batch := min(n, 200)
		var sql strings.Builder
		sql.WriteString("INSERT INTO audit_events (account_id, action, target, created_at) VALUES ")
		args := make([]any, 0, 4*batch)
		for i := range batch {
			if i > 0 {
				sql.WriteString(", ")
			}
			sql.WriteString("(?, ?, ?, ?)")
			args = append(args, accountID, models.AuditInvited, fmt.Sprintf("past%d@example.com", n-i), at)
		}
		dbtest.Must(t, dbtest.Plain(t, db).Exec(sql.String(), args...).Error)
		n -= batch
	}
}

// wantLimit fails unless err is ErrInvitationLimit with a message on field
// that says every one of says.
func wantLimit(t *testing.T, err error, field string, says ...string) {
	t.Helper()
	if !errors.Is(err, models.ErrInvitationLimit) {
		t.Fatalf("error %v, want ErrInvitationLimit", err)
	}
	dbtest.WantFields(t, err, field)
	fe, _ := tenancy.AsFieldErrors(err)
	for _, s := range says {
		if !strings.Contains(fe[field], s) {
			t.Errorf("message %q does not say %q", fe[field], s)
		}
	}
}

func addresses(prefix string, n int) string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d@example.com", prefix, i)
	}
	return strings.Join(out, ", ")
}

func TestInvitationEmailsPerDayByPlan(t *testing.T) {
	t.Parallel()
	for plan, want := range map[tenancy.Plan]int{tenancy.PlanFree: 100, tenancy.PlanDeveloper: 500, tenancy.PlanEnterprise: 5_000, "unknown": 100} {
		if got := models.InvitationEmailsPerDay(plan); got != want {
			t.Errorf("%s: %d invitation emails a day, want %d", plan, got, want)
		}
	}
}

// An invitation can be sent again once InvitationResendInterval has passed
// since it was last sent, not before; a refusal writes nothing.
func TestResendWaitsBetweenSends(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		sent := inviteOne(t, db, f.Admin, f.AdminUser, "wait@example.com", tenancy.RoleMember)
		resend := func() (models.SentInvitation, error) {
			return models.ResendInvitation(t.Context(), db, f.Admin, sent.PublicID, dbtest.ActorOf(f.AdminUser))
		}
		for _, ago := range []time.Duration{0, time.Minute, models.InvitationResendInterval - 2*time.Second} {
			sentAgo(t, db, sent.ID, ago)
			last := rawInvitation(t, db, sent.ID).SentAt
			before := teamSnapshot(t, db)
			got, err := resend()
			wantLimit(t, err, "invitation", "wait@example.com", "less than 10 minutes ago", "after "+clockOf(last.Add(models.InvitationResendInterval)))
			if got.Token != "" {
				t.Error("a refused resend returned a token")
			}
			wantTeamUnchanged(t, db, before)
		}
		sentAgo(t, db, sent.ID, models.InvitationResendInterval)
		again, err := resend()
		dbtest.Must(t, err)
		if again.Token == "" || again.Token == sent.Token {
			t.Fatalf("resend returned %+v", again)
		}
		// The wait starts again from this send.
		_, err = resend()
		wantLimit(t, err, "invitation", "less than 10 minutes ago")
		if n := len(auditOf(t, db, f.Admin.AccountID(), models.AuditInvitationResent)); n != 1 {
			t.Errorf("%d resent events, want 1", n)
		}
		// Each invitation waits on its own sends, not on the others'.
		other := inviteOne(t, db, f.Admin, f.AdminUser, "other@example.com", tenancy.RoleMember)
		sentAgo(t, db, other.ID, models.InvitationResendInterval)
		_, err = models.ResendInvitation(t.Context(), db, f.Admin, other.PublicID, dbtest.ActorOf(f.AdminUser))
		dbtest.Must(t, err)
	})
}

// The invitations and resends of the last 24 hours count against the plan's
// cap, per organization; a request that would go over it sends nothing and
// says how many can still go and when the rest can.
func TestInvitationEmailsCappedPerDay(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		actor := dbtest.ActorOf(f.AdminUser)
		// 100 emails in two requests, one of them a resend: the Free cap.
		invite(t, db, f.Admin, f.AdminUser, addresses("a", 50), tenancy.RoleMember)
		res := invite(t, db, f.Admin, f.AdminUser, addresses("b", 49), tenancy.RoleMember)
		sentAgo(t, db, res.Invited[0].ID, models.InvitationResendInterval)
		_, err := models.ResendInvitation(t.Context(), db, f.Admin, res.Invited[0].PublicID, actor)
		dbtest.Must(t, err)
		oldest := auditOf(t, db, f.Admin.AccountID(), models.AuditInvited)[0].CreatedAt

		sentAgo(t, db, res.Invited[1].ID, models.InvitationResendInterval)
		before := teamSnapshot(t, db)
		_, err = models.Invite(t.Context(), db, f.Admin, "one-more@example.com", tenancy.RoleMember, actor)
		wantLimit(t, err, "emails", "Free plan allows 100 invitation emails in 24 hours", "has sent 100 invitation emails",
			"after "+clockOf(oldest.Add(24*time.Hour)))
		wantTeamUnchanged(t, db, before)
		_, err = models.ResendInvitation(t.Context(), db, f.Admin, res.Invited[1].PublicID, actor)
		wantLimit(t, err, "invitation", "Free plan allows 100")
		wantTeamUnchanged(t, db, before)
		// Addresses that send nothing are still sorted out.
		again, err := models.Invite(t.Context(), db, f.Admin, "a0@example.com, "+f.MemberUser.Email, tenancy.RoleMember, actor)
		dbtest.Must(t, err)
		if len(again.Invited) != 0 || len(again.AlreadyInvited) != 1 || len(again.AlreadyMembers) != 1 {
			t.Errorf("result %+v", again)
		}
		// Another organization has its own count.
		inviteOne(t, db, f.Other, f.AdminUser, "elsewhere@example.com", tenancy.RoleMember)

		// Three of them are now more than a day old: three more can go,
		// not five, and the five are refused whole. They can all go once the
		// fifth oldest is a day old.
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE audit_events SET created_at = ? WHERE id IN (SELECT id FROM audit_events WHERE account_id = ? AND action = ? ORDER BY id LIMIT 3)",
			dbtest.UTC().Add(-24*time.Hour-time.Second), f.Admin.AccountID(), models.AuditInvited).Error)
		fifth := auditOf(t, db, f.Admin.AccountID(), models.AuditInvited)[4].CreatedAt
		before = teamSnapshot(t, db)
		_, err = models.Invite(t.Context(), db, f.Admin, addresses("c", 5), tenancy.RoleMember, actor)
		wantLimit(t, err, "emails", "can send 3 more now, and these addresses need 5", "after "+clockOf(fifth.Add(24*time.Hour)))
		wantTeamUnchanged(t, db, before)
		if res := invite(t, db, f.Admin, f.AdminUser, addresses("c", 3), tenancy.RoleMember); len(res.Invited) != 3 {
			t.Fatalf("invited %d, want 3", len(res.Invited))
		}
		_, err = models.Invite(t.Context(), db, f.Admin, "d@example.com", tenancy.RoleMember, actor)
		wantLimit(t, err, "emails", "has sent 100")
	})
}

// Each plan has its own cap, read from the account as it is when the
// emails go out.
func TestInvitationEmailCapFollowsThePlan(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		actor := dbtest.ActorOf(f.AdminUser)
		for _, plan := range []tenancy.Plan{tenancy.PlanFree, tenancy.PlanDeveloper, tenancy.PlanEnterprise} {
			t.Run(string(plan), func(t *testing.T) {
				dbtest.Must(t, dbtest.Plain(t, db).Exec("DELETE FROM audit_events WHERE account_id = ?", f.Admin.AccountID()).Error)
				dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE accounts SET plan = ? WHERE id = ?", plan, f.Admin.AccountID()).Error)
				limit := models.InvitationEmailsPerDay(plan)
				pastEmails(t, db, f.Admin.AccountID(), limit-1, dbtest.UTC().Add(-time.Hour))
				// Older than a day: not counted.
				pastEmails(t, db, f.Admin.AccountID(), 10, dbtest.UTC().Add(-25*time.Hour))
				_, err := models.Invite(t.Context(), db, f.Admin, addresses(string(plan)+"-x", 2), tenancy.RoleMember, actor)
				wantLimit(t, err, "emails", plan.Label()+" plan allows", "can send 1 more now")
				inviteOne(t, db, f.Admin, f.AdminUser, string(plan)+"-last@example.com", tenancy.RoleMember)
				_, err = models.Invite(t.Context(), db, f.Admin, string(plan)+"-over@example.com", tenancy.RoleMember, actor)
				wantLimit(t, err, "emails", plan.Label()+" plan allows")
			})
		}
	})
}

// Concurrent requests count the day's emails one after the other: the cap
// is never passed, and a resend goes out once.
func TestInvitationLimitsUnderConcurrency(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := dbtest.NewOrgFixture(t, db)
		actor := dbtest.ActorOf(f.AdminUser)
		pastEmails(t, db, f.Admin.AccountID(), 95, dbtest.UTC().Add(-time.Hour))
		const n = 10
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = models.Invite(t.Context(), db, f.Admin, fmt.Sprintf("race%d@example.com", i), tenancy.RoleMember, actor)
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, models.ErrInvitationLimit):
			default:
				t.Errorf("concurrent invite: %v", err)
			}
		}
		if ok != 5 {
			t.Errorf("%d concurrent invites went out, want the 5 left", ok)
		}
		if c := dbtest.CountRows(t, db, "invitations", "account_id = ?", f.Admin.AccountID()); c != 5 {
			t.Errorf("%d invitations written, want 5", c)
		}

		// One invitation resent by many at once goes out once.
		dbtest.Must(t, dbtest.Plain(t, db).Exec("DELETE FROM audit_events WHERE account_id = ?", f.Admin.AccountID()).Error)
		sent := inviteOne(t, db, f.Admin, f.AdminUser, "resend-race@example.com", tenancy.RoleMember)
		sentAgo(t, db, sent.ID, models.InvitationResendInterval)
		start = make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = models.ResendInvitation(t.Context(), db, f.Admin, sent.PublicID, actor)
			})
		}
		close(start)
		wg.Wait()
		ok = 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, models.ErrInvitationLimit):
			default:
				t.Errorf("concurrent resend: %v", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d concurrent resends went out, want 1", ok)
		}
		if c := len(auditOf(t, db, f.Admin.AccountID(), models.AuditInvitationResent)); c != 1 {
			t.Errorf("%d resent events, want 1", c)
		}
	})
}
