package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"gorm.io/gorm"

	"switchboard/models/dbtest"
)

// membersTestTimeout bounds TestBrowserInviteAcceptRemove, both databases
// and both browsers included.
const membersTestTimeout = 120 * time.Second

// Selectors of the member pages.
const (
	membersNavSel  = `aside [data-testid="sidebar"] a[href="/settings/members"]`
	auditNavSel    = `aside [data-testid="sidebar"] a[href="/settings/audit-log"]`
	orgNavSel      = `aside [data-testid="sidebar"] a[href="/settings/organization"]`
	inviteFormSel  = `[data-testid="invite-form"]`
	invitationSel  = `[data-testid="invitation"]`
	memberTableSel = `[data-testid="member-table"]`
	flashSel       = `[data-testid="flash"]`

	// memberRowsJS lists the member table's rows as the page shows them.
	memberRowsJS = `[...document.querySelectorAll('[data-testid="member-table"] tbody tr')].map(tr => {
	const cells = [...tr.querySelectorAll('td')];
	const sel = cells[1] && cells[1].querySelector('select');
	const remove = tr.querySelector('a[href$="/remove"]');
	return {
		name: (tr.querySelector('td span.font-medium') || {}).textContent || '',
		text: tr.textContent.replace(/\s+/g, ' ').trim(),
		role: sel ? sel.options[sel.selectedIndex].textContent.trim() : (cells[1] ? cells[1].textContent.trim() : ''),
		removeHref: remove ? remove.getAttribute('href') : '',
	};
})`
	// invitationRowsJS lists the pending invitations.
	invitationRowsJS = `[...document.querySelectorAll('[data-testid="invitation-table"] tbody tr')].map(tr =>
	[...tr.querySelectorAll('td')].slice(0, 3).map(td => td.textContent.replace(/\s+/g, ' ').trim()))`
)

// memberRow is one row of the member table.
type memberRow struct {
	Name       string `json:"name"`
	Text       string `json:"text"`
	Role       string `json:"role"`
	RemoveHref string `json:"removeHref"`
}

// TestBrowserInviteAcceptRemove: an administrator invites a second user from
// Settings › Members; the second user, in a browser of their own, opens the
// emailed link signed out, creates an account from it and joins, and the
// organization is their active account, checked in the switcher. The
// administrator removes them, and the second user's very next page is in
// their personal account, with the notice.
//
// With E2E_SCREENSHOTS set, it saves full-page screenshots of the pages it
// goes through at 1280 and 400 px wide there.
func TestBrowserInviteAcceptRemove(t *testing.T) {
	chromium := chromiumPath(t)
	ctx, cancel := context.WithTimeout(t.Context(), membersTestTimeout)
	defer cancel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := newSite(t, db)
		// Two Chromium processes, each with its own profile (UserDataDir):
		// no cookie is shared between the two users.
		admin := newBrowser(ctx, t, chromium)
		member := newBrowser(ctx, t, chromium)
		inviteAcceptRemoveFlow(t, admin, member, s, filepath.Base(t.Name()))
	})
}

func inviteAcceptRemoveFlow(t *testing.T, admin, member *browser, s *site, dbName string) {
	const (
		adminName  = "Grace Hopper"
		memberName = "Alan Turing"
		orgName    = "Compiler Works"
	)
	adminEmail := dbtest.Unique("grace.hopper") + "@example.com"
	memberEmail := dbtest.Unique("alan.turing") + "@example.com"
	shot := func(b *browser, name string) { b.shots(name + "-" + dbName) }

	// The administrator signs up, creates the organization and opens
	// Settings › Members from the sidebar.
	admin.signUp(s, adminName, adminEmail)
	admin.createOrganization(orgName)
	admin.wantText(nameSel, orgName)
	admin.submit(membersNavSel, "/settings/members")
	admin.wantText(`main h1`, "Members")
	if cur := admin.evalString(`document.querySelector('` + membersNavSel + `').getAttribute('aria-current') || ''`); cur != "page" {
		t.Errorf("the sidebar's Members link has aria-current=%q on the members page, want \"page\"", cur)
	}
	if rows := admin.memberRows(); len(rows) != 1 || rows[0].Name != adminName || rows[0].Role != "Administrator" || !strings.Contains(rows[0].Text, "(you)") {
		t.Errorf("a new organization's member list is %+v, want only %s (you), Administrator", rows, adminName)
	}
	admin.wantVisible(`[data-testid="no-invitations"]`)

	// Invite the second user as a regular user.
	admin.fill(`#field-emails`, memberEmail)
	admin.selectOption(`#field-role`, "Regular user")
	admin.submit(inviteFormSel+` button[type="submit"]`, "/settings/members")
	admin.wantTextContains(flashSel, "Invited "+memberEmail)
	if got := run(admin, "invitation rows", chromedp.Evaluate[[][]string](invitationRowsJS)); !slices.EqualFunc(got, [][]string{{memberEmail, "Regular user", adminName}}, slices.Equal) {
		t.Errorf("the pending invitations are %q, want [[%s Regular user %s]]", got, memberEmail, adminName)
	}
	shot(admin, "members-admin-pending")

	// The invitation email names the organization and carries the link.
	msg, ok := s.mail.Latest(memberEmail, "invited you to join "+orgName)
	if !ok {
		t.Fatalf("no invitation email to %s; sent: %v", memberEmail, subjects(s.mail))
	}
	if !strings.Contains(msg.Subject, adminName) || !strings.Contains(msg.Body, msg.Link) {
		t.Errorf("the invitation email does not name the inviter or lacks its link in the body: %+v", msg)
	}
	link, err := url.Parse(msg.Link)
	if err != nil || !strings.HasPrefix(msg.Link, s.base+"/invitations/") {
		t.Fatalf("the invitation link %q is not a /invitations/ link of the site (%v)", msg.Link, err)
	}
	invitationPath := link.Path

	// The administrator opening the link sees that it is for someone else,
	// and nothing changes.
	admin.navigate(msg.Link)
	admin.wantVisible(invitationSel + `[data-state="pending"] [data-testid="wrong-account"]`)
	admin.wantTextContains(`[data-testid="wrong-account"]`, memberEmail)
	if n := admin.evalInt(`document.querySelectorAll('` + invitationSel + ` form[action="` + invitationPath + `"]').length`); n != 0 {
		t.Errorf("the invitation page offers a signed-in %s %d forms to accept an invitation for %s", adminEmail, n, memberEmail)
	}
	shot(admin, "invitation-wrong-email")

	// The second user opens the link signed out, in their own browser.
	member.navigate(msg.Link)
	member.wantVisible(invitationSel + `[data-state="pending"]`)
	for _, want := range []string{adminName, memberEmail, orgName, "as a regular user"} {
		member.wantTextContains(invitationSel, want)
	}
	shot(member, "invitation-visitor")
	signupLink := invitationSel + ` a[href^="/signup?"]`
	member.wantText(signupLink, "Create an account to accept")
	member.submit(signupLink, "/signup")
	if got := run(member, "value of the email field", chromedp.Value(chromedp.CSS(`#field-email`))); got != memberEmail {
		t.Errorf("the sign-up form from the invitation has the email %q, want %q prefilled", got, memberEmail)
	}
	member.fill(`#field-name`, memberName)
	member.fill(`#field-password`, "on computable numbers")
	member.submit(`[data-testid="signup-form"] button[type="submit"]`, invitationPath)

	// Back on the invitation page, signed in with the invited email: join.
	joinSel := invitationSel + ` form[action="` + invitationPath + `"] button[type="submit"]`
	member.wantText(joinSel, "Join "+orgName)
	member.submit(joinSel, "/")
	member.wantText(avatarSel, initials(orgName))
	member.wantText(nameSel, orgName)
	member.wantTextContains(flashSel, "Welcome to "+orgName)
	member.openMenuByClick()
	member.wantSwitcher(memberName, orgName, orgName)
	member.closeMenu()

	// A regular user sees the member list, and nothing to manage.
	member.submit(membersNavSel, "/settings/members")
	if n := member.evalInt(`document.querySelectorAll('` + inviteFormSel + `, [data-testid="invitation-table"], ` + memberTableSel + ` select, ` + memberTableSel + ` a[href$="/remove"]').length`); n != 0 {
		t.Errorf("a regular user's members page has %d management controls (invite form, invitations, role selects, Remove links), want none", n)
	}
	if n := member.evalInt(`document.querySelectorAll('` + auditNavSel + `').length`); n != 0 {
		t.Error("a regular user's sidebar offers the audit log")
	}
	shot(member, "members-regular")

	// The administrator reloads Members: the new member is listed, the
	// invitation is no longer pending.
	admin.navigate(s.url("/settings/members"))
	rows := admin.memberRows()
	i := slices.IndexFunc(rows, func(r memberRow) bool { return strings.Contains(r.Text, memberEmail) })
	if i < 0 {
		t.Fatalf("the members page does not list %s after they joined: %+v", memberEmail, rows)
	}
	if m := rows[i]; m.Name != memberName || m.Role != "Regular user" || m.RemoveHref == "" {
		t.Errorf("the new member's row is %+v, want %s, Regular user, with a Remove link", m, memberName)
	}
	admin.wantVisible(`[data-testid="no-invitations"]`)

	// Remove them, through the confirmation page.
	removePath := rows[i].RemoveHref
	admin.submit(memberTableSel+` a[href="`+removePath+`"]`, removePath)
	admin.wantText(`main h1`, "Remove "+memberName+" from "+orgName+"?")
	admin.wantTextContains(`[data-testid="consequence"]`, memberName+" ("+memberEmail+")")
	confirmSel := `main form[action="` + removePath + `"] button[type="submit"]`
	admin.wantText(confirmSel, "Remove "+memberName)
	shot(admin, "remove-confirm")
	admin.submit(confirmSel, "/settings/members")
	admin.wantTextContains(flashSel, "Removed "+memberName)
	for _, r := range admin.memberRows() {
		if strings.Contains(r.Text, memberEmail) {
			t.Errorf("the members page still lists %s after the removal: %+v", memberEmail, r)
		}
	}

	// The administrator's other settings pages, for the review.
	admin.submit(auditNavSel, "/settings/audit-log")
	audit := strings.Join(admin.texts(`[data-testid="audit-table"] tbody tr`), "\n")
	for _, want := range []string{"Invited a member", "Joined", "Removed a member"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit log lacks %q:\n%s", want, audit)
		}
	}
	shot(admin, "audit-log")
	admin.submit(orgNavSel, "/settings/organization")
	shot(admin, "organization-settings")

	// The removed user's very next page is in their personal account.
	member.navigate(s.url("/indexes"))
	member.wantText(avatarSel, initials(memberName))
	member.wantText(nameSel, memberName)
	member.wantTextContains(flashSel, "You are no longer a member of "+orgName)
	shot(member, "removed-notice")
	member.openMenuByClick()
	switcher := run(member, "switcher rows", chromedp.Evaluate[[]switcherRow](switcherRowsJS))
	if len(switcher) != 1 || switcher[0].Name != memberName || switcher[0].AriaCurrent != "true" || switcher[0].Checkmarks != 1 {
		t.Errorf("after the removal the switcher shows %+v, want only the personal account %q, current", switcher, memberName)
	}
	if n := member.evalInt(`document.querySelectorAll('` + membersNavSel + `').length`); n != 0 {
		t.Error("the personal account's sidebar offers Members after the removal")
	}

	admin.wantNoConsoleErrors()
	member.wantNoConsoleErrors()
}

// initials are the two letters of the avatar for a two-word name.
func initials(name string) string {
	var out string
	for _, w := range strings.Fields(name) {
		out += w[:1]
	}
	return out
}

// memberRows reads the member table.
func (b *browser) memberRows() []memberRow {
	b.t.Helper()
	return run(b, "member rows", chromedp.Evaluate[[]memberRow](memberRowsJS))
}

func (b *browser) evalString(js string) string {
	b.t.Helper()
	return run(b, js, chromedp.Evaluate[string](js))
}

// selectOption picks the option labelled label in the <select> sel.
func (b *browser) selectOption(sel, label string) {
	b.t.Helper()
	value := b.evalString(fmt.Sprintf(`(([...document.querySelector(%q).options].find(o => o.textContent.trim() === %q)) || {value: ''}).value`, sel, label))
	if value == "" {
		b.t.Fatalf("%s has no option %q", sel, label)
	}
	b.do(chromedp.SetValue(chromedp.CSS(sel), value))
	if got := b.evalString(fmt.Sprintf(`(s => s.options[s.selectedIndex].textContent.trim())(document.querySelector(%q))`, sel)); got != label {
		b.t.Fatalf("%s shows %q selected, want %q", sel, got, label)
	}
}

// closeMenu closes the open profile menu with Escape.
func (b *browser) closeMenu() {
	b.t.Helper()
	b.do(chromedp.KeyEvent(kb.Escape))
	b.waitMenuOpen(false)
}

// shots saves full-page screenshots of the current page at 1280 and 400 px
// wide in $E2E_SCREENSHOTS; without it, it does nothing.
func (b *browser) shots(name string) {
	b.t.Helper()
	if os.Getenv("E2E_SCREENSHOTS") == "" {
		return
	}
	b.screenshot(screenshotPath(b.t, name+"-1280.png"))
	size := run(b, "viewport size", chromedp.Evaluate[[]int64](`[window.innerWidth, window.innerHeight]`))
	b.do(chromedp.EmulateViewport(400, 900))
	b.screenshot(screenshotPath(b.t, name+"-400.png"))
	// Back to the window's own size (ResetViewport would leave a 0×0
	// override with a scale factor, which keeps the narrow layout).
	b.do(chromedp.EmulateViewport(size[0], size[1]))
	if w := b.evalInt(`window.innerWidth`); w != int(size[0]) {
		b.t.Fatalf("the viewport is %d px wide after the narrow screenshot, want %d", w, size[0])
	}
}
