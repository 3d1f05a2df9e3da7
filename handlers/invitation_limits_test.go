package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
)

// pastInvitationEmails records n invitation emails of the account an hour
// ago, as their audit events.
func pastInvitationEmails(t testing.TB, db *gorm.DB, accountID int64, n int) {
	t.Helper()
	for i := range n {
		if err := dbtest.Plain(t, db).Exec("INSERT INTO audit_events (account_id, action, target, created_at) VALUES (?, ?, ?, ?)",
			accountID, models.AuditInvited, "past@example.com", time.Now().UTC().Add(-time.Hour).Add(time.Duration(i)*time.Microsecond)).Error; err != nil {
			t.Fatal(err)
		}
	}
}

// The daily cap and the wait between resends are told on the members page:
// 422, the invite form as it was sent, nothing written and no email sent.
func TestMembersPageInvitationLimits(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, org, ac := orgAdmin(t, app)
		tables := []string{"invitations", "audit_events"}
		ac.get("/settings/members").status(http.StatusOK).contains("100 invitation emails a day on the Free plan")
		pastInvitationEmails(t, db, org.AccountID(), 98)

		// Two more go out, a third does not: the form comes back as sent.
		ac.post("/settings/members/invite", url.Values{"emails": {"one@example.com, two@example.com"}, "role": {"member"}}, "/settings/members").redirectsTo("/settings/members")
		before, mails := dumpTables(t, db, tables...), len(app.mail.Messages())
		r := ac.post("/settings/members/invite", url.Values{"emails": {"three@example.com\nfour@example.com"}, "role": {"admin"}}, "/settings/members").
			status(http.StatusUnprocessableEntity)
		d := r.doc()
		if msg := d.Find("#field-emails-error").Text(); !strings.Contains(msg, "The Free plan allows 100 invitation emails in 24 hours") ||
			!strings.Contains(msg, "You can send more after") {
			t.Errorf("emails error %q", msg)
		}
		if d.Find(`[data-testid="error-summary"]`).Length() != 1 || d.Find(`[data-testid="action-error"]`).Length() != 0 {
			t.Error("the refusal is not summed up on the invite form alone")
		}
		if got := d.Find("#field-emails").Text(); got != "three@example.com\nfour@example.com" {
			t.Errorf("the addresses were not kept: %q", got)
		}
		if _, ok := d.Find(`#field-role option[value="admin"]`).Attr("selected"); !ok {
			t.Error("the role was not kept")
		}
		if dumpTables(t, db, tables...) != before || len(app.mail.Messages()) != mails {
			t.Fatal("a refused invitation wrote or sent something")
		}

		// Resending at once is refused, on the page, with when it can be.
		action, _ := ac.get("/settings/members").doc().Find(`form[action^="/settings/invitations/"][action$="/resend"]`).First().Attr("action")
		r = ac.post(action, nil, "/settings/members").status(http.StatusUnprocessableEntity)
		d = r.doc()
		if msg := d.Find(`[data-testid="action-error"]`).Text(); !strings.Contains(msg, "was sent less than 10 minutes ago") || !strings.Contains(msg, "You can send it again after") {
			t.Errorf("resend error %q", msg)
		}
		if d.Find(`[data-testid="error-summary"]`).Length() != 0 || d.Find(`[data-testid="invite-form"]`).Length() != 1 {
			t.Error("the resend refusal is shown as an invite form error, or the form is gone")
		}
		if dumpTables(t, db, tables...) != before || len(app.mail.Messages()) != mails {
			t.Fatal("a refused resend wrote or sent something")
		}
		// Ten minutes later it would be the day's 101st email.
		dbtest.Plain(t, db).Exec("UPDATE invitations SET sent_at = ? WHERE account_id = ?", time.Now().UTC().Add(-models.InvitationResendInterval), org.AccountID())
		before = dumpTables(t, db, tables...)
		r = ac.post(action, nil, "/settings/members").status(http.StatusUnprocessableEntity)
		if msg := r.doc().Find(`[data-testid="action-error"]`).Text(); !strings.Contains(msg, "The Free plan allows 100 invitation emails in 24 hours") {
			t.Errorf("resend error %q", msg)
		}
		if dumpTables(t, db, tables...) != before || len(app.mail.Messages()) != mails {
			t.Fatal("a refused resend wrote or sent something")
		}

		// The emails that went out are in the audit log.
		log := ac.get("/settings/audit-log").status(http.StatusOK)
		log.contains("Invited a member").contains("one@example.com").contains("two@example.com").lacks("three@example.com")
	})
}
