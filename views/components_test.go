package views

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

func renderDoc(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	var b strings.Builder
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	d, err := goquery.NewDocumentFromReader(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testShell() Shell {
	return Shell{
		Title: "Home", Section: "home", CSRF: "tok", AccountID: "org-1",
		User:   UserInfo{Name: "Ada Lovelace", Email: "ada@example.com", Initials: "AL"},
		Active: AccountOption{PublicID: "org-1", Name: "Analytical Engines", Kind: "Organization", Initials: "AE", Active: true},
		Accounts: []AccountOption{
			{PublicID: "p-1", Name: "Ada Lovelace", Kind: "Personal", Initials: "AL"},
			{PublicID: "org-1", Name: "Analytical Engines", Kind: "Organization", Initials: "AE", Active: true},
			{PublicID: "org-2", Name: "Babbage & Co", Kind: "Organization", Initials: "BC"},
		},
		Nav:      []NavGroup{{Items: []NavItem{{Key: "home", Label: "Home", Href: "/"}}}},
		ReturnTo: "/",
	}
}

func TestAccountSwitcherMarksOnlyTheActiveAccount(t *testing.T) {
	d := renderDoc(t, ProfileMenu(testShell()))
	rows := d.Find(`[data-testid="account-switcher"] li`)
	if rows.Length() != 3 {
		t.Fatalf("%d rows", rows.Length())
	}
	rows.Each(func(i int, row *goquery.Selection) {
		btn := row.Find(`button[name="account_id"]`)
		id, _ := btn.Attr("value")
		cur, marked := btn.Attr("aria-current")
		active := id == "org-1"
		if marked != active || (active && cur != "true") {
			t.Errorf("row %s: aria-current=%q (present %v)", id, cur, marked)
		}
		if got := row.Find("svg").Length() == 1; got != active {
			t.Errorf("row %s: checkmark %v", id, got)
		}
		if row.Find(`form[method="post"][action="/accounts/switch"] input[name="_csrf"][value="tok"]`).Length() != 1 {
			t.Errorf("row %s: no CSRF-protected POST form", id)
		}
	})
	if d.Find(`a[href="/organizations/new"]`).Length() != 0 {
		t.Error("Create organization offered when not allowed")
	}
	s := testShell()
	s.CanCreateOrg = true
	if renderDoc(t, ProfileMenu(s)).Find(`a[href="/organizations/new"]`).Length() != 1 {
		t.Error("Create organization not offered when allowed")
	}
	if got := strings.TrimSpace(d.Find(`[data-testid="active-avatar"]`).Text()); got != "AE" {
		t.Errorf("avatar %q", got)
	}
}

func TestAccountFilterAppearsAboveEightAccounts(t *testing.T) {
	s := testShell()
	if renderDoc(t, ProfileMenu(s)).Find("[data-account-filter]").Length() != 0 {
		t.Error("filter shown for 3 accounts")
	}
	for i := 0; i < 6; i++ {
		s.Accounts = append(s.Accounts, AccountOption{PublicID: "x", Name: "X", Kind: "Organization", Initials: "X"})
	}
	if renderDoc(t, ProfileMenu(s)).Find("[data-account-filter]").Length() != 1 {
		t.Error("no filter for 9 accounts")
	}
}

func TestLayoutFormsCarryTheGuard(t *testing.T) {
	s := testShell()
	s.Unverified = true
	d := renderDoc(t, HomePage(HomePageProps{Shell: s, Name: "Analytical Engines"}))
	resend := d.Find(`form[action="/verify/resend"]`)
	if resend.Find(`input[name="_account"][value="org-1"]`).Length() != 1 || resend.Find(`input[name="_csrf"]`).Length() != 1 {
		t.Error("the resend form lacks its guard fields")
	}
	if d.Find(`[data-testid="sidebar"] a[aria-current="page"]`).Length() == 0 {
		t.Error("the current section is not marked")
	}
	if d.Find("script:not([src])").Length() != 0 {
		t.Error("inline script")
	}
}

func TestAvatarColourIsStable(t *testing.T) {
	if AvatarColour("abc") != AvatarColour("abc") {
		t.Fatal("unstable")
	}
	seen := map[string]bool{}
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"} {
		seen[AvatarColour(id)] = true
	}
	if len(seen) < 4 {
		t.Fatalf("only %d colours used for 12 IDs", len(seen))
	}
}

func TestFieldNeverEchoesPasswords(t *testing.T) {
	d := renderDoc(t, Field(FieldProps{Label: "Password", Name: "password", Type: "password", Value: "secret", Error: "bad"}))
	if _, ok := d.Find("input").Attr("value"); ok {
		t.Error("password value rendered")
	}
	if v, _ := d.Find("input").Attr("aria-invalid"); v != "true" {
		t.Error("invalid field not marked")
	}
	if v, _ := d.Find("input").Attr("aria-describedby"); v != "field-password-error" {
		t.Errorf("describedby %q", v)
	}
}

// withText renders c with text as its children, as `@C() { text }` does.
func withText(c templ.Component, text string) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		return c.Render(templ.WithChildren(ctx, templ.Raw(text)), w)
	})
}

func TestEmptyNote(t *testing.T) {
	d := renderDoc(t, withText(EmptyNote("no-invoices"), "No invoices yet."))
	if got := strings.TrimSpace(d.Find(`p[data-testid="no-invoices"]`).Text()); got != "No invoices yet." {
		t.Errorf("note %q", got)
	}
	if _, ok := renderDoc(t, withText(EmptyNote(""), "Nothing.")).Find("p").Attr("data-testid"); ok {
		t.Error("an empty test ID is rendered as an attribute")
	}
}

func TestDangerLinkLeadsToTheConfirmation(t *testing.T) {
	a := renderDoc(t, DangerLink("Delete index…", "/indexes/abc/delete")).Find("a")
	if href, _ := a.Attr("href"); href != "/indexes/abc/delete" || a.Text() != "Delete index…" {
		t.Errorf("link %q to %q", a.Text(), href)
	}
}
