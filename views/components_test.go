package views

import (
	"context"
	"io"
	"strconv"
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

// TestAvatarColourGolden pins the colour of fixed IDs: an account keeps its
// colour across releases, so changing the hash or the palette's order
// fails here.
func TestAvatarColourGolden(t *testing.T) {
	golden := map[string]string{
		// FNV-1a of the ID, modulo the palette's length.
		"":      "bg-violet-600",
		"abc":   "bg-amber-700",
		"p-1":   "bg-violet-600",
		"org-1": "bg-fuchsia-700",
		"org-2": "bg-rose-600",
		"Ada":   "bg-amber-700",
		"acc_1": "bg-rose-600",
		"acc_2": "bg-fuchsia-700",
		"acc_3": "bg-sky-700",
		"acc_4": "bg-emerald-700",
	}
	for id, want := range golden {
		if got := AvatarColour(id); got != want {
			t.Errorf("AvatarColour(%q) = %q, want %q", id, got, want)
		}
	}
}

// TestAvatarColourSpreadsOverThePalette checks that many IDs use every
// colour, none of them far more than its share.
func TestAvatarColourSpreadsOverThePalette(t *testing.T) {
	const n = 8000
	count := map[string]int{}
	for i := 0; i < n; i++ {
		count[AvatarColour("acc_"+strconv.Itoa(i))]++
	}
	if len(count) != len(avatarColours) {
		t.Fatalf("%d IDs used %d of %d colours: %v", n, len(count), len(avatarColours), count)
	}
	share := n / len(avatarColours)
	for c, k := range count {
		if k < share*3/4 || k > share*5/4 {
			t.Errorf("%s drawn %d times, want about %d", c, k, share)
		}
	}
}

func TestAvatarSizes(t *testing.T) {
	small := renderDoc(t, Avatar(AvatarProps{Initials: "AL", ColourKey: "abc"})).Find("span")
	large := renderDoc(t, Avatar(AvatarProps{Initials: "AL", ColourKey: "abc", Size: AvatarLarge})).Find("span")
	if !small.HasClass("h-8") || small.HasClass("h-12") || !large.HasClass("h-12") || large.HasClass("h-8") {
		t.Errorf("small %q, large %q", small.AttrOr("class", ""), large.AttrOr("class", ""))
	}
	if !small.HasClass(AvatarColour("abc")) || strings.TrimSpace(small.Text()) != "AL" {
		t.Errorf("avatar %q with %q", small.AttrOr("class", ""), small.Text())
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

func TestFieldTiesItsHelpToTheInput(t *testing.T) {
	in := renderDoc(t, Field(FieldProps{Label: "Name", Name: "name", Value: "Ada", Help: "Your name.", Required: true})).Find("input")
	if d, _ := in.Attr("aria-describedby"); d != "field-name-help" {
		t.Errorf("describedby %q", d)
	}
	if _, ok := in.Attr("aria-invalid"); ok {
		t.Error("a valid field is marked invalid")
	}
	if _, ok := in.Attr("required"); !ok {
		t.Error("not required")
	}
	d := renderDoc(t, Field(FieldProps{Label: "Filter", ID: "account-filter", Type: "search", HideLabel: true, ScriptOnly: true,
		Attrs: templ.Attributes{"data-account-filter": true}}))
	in = d.Find("input#account-filter[data-account-filter]")
	if _, named := in.Attr("name"); named || !in.HasClass("hidden") || !d.Find(`label[for="account-filter"]`).HasClass("sr-only") {
		t.Errorf("script-only filter: %d found, named %v, class %q", in.Length(), named, in.AttrOr("class", ""))
	}
}

// TestControlsAreWiredLikeField checks that every form control has a label
// for it and points at its error, so screen readers read the message.
func TestControlsAreWiredLikeField(t *testing.T) {
	roles := []Option{{Value: "member", Label: "Regular user"}, {Value: "admin", Label: "Administrator", Selected: true}, {Value: "owner", Label: "Owner", Disabled: true}}
	for _, c := range []struct {
		name, sel, id string
		comp          templ.Component
	}{
		{"field", "input", "field-email", Field(FieldProps{Label: "Email", Name: "email", Error: "Enter an email."})},
		{"textarea", "textarea", "field-address", Textarea(TextareaProps{Label: "Address", Name: "address", Value: "1 Main St", Error: "Too long."})},
		{"select", "select", "field-role", Select(SelectProps{Label: "Role", Name: "role", Options: roles, Error: "Choose a role."})},
		{"select in a row", "select", "role-u1", Select(SelectProps{Label: "Role of Ada", Name: "role", ID: "role-u1", Options: roles, Error: "No.", HideLabel: true})},
	} {
		d := renderDoc(t, c.comp)
		ctl := d.Find(c.sel)
		if id, _ := ctl.Attr("id"); id != c.id {
			t.Errorf("%s: id %q, want %q", c.name, id, c.id)
		}
		if d.Find(`label[for="`+c.id+`"]`).Length() != 1 {
			t.Errorf("%s: no label for %s", c.name, c.id)
		}
		if v, _ := ctl.Attr("aria-invalid"); v != "true" {
			t.Errorf("%s: not marked invalid", c.name)
		}
		desc, _ := ctl.Attr("aria-describedby")
		if desc != c.id+"-error" || d.Find("#"+desc).Length() != 1 {
			t.Errorf("%s: describedby %q names no message", c.name, desc)
		}
		if !ctl.HasClass("border-red-500") || ctl.HasClass("border-gray-300") {
			t.Errorf("%s: class %q", c.name, ctl.AttrOr("class", ""))
		}
	}

	d := renderDoc(t, Select(SelectProps{Label: "Role", Name: "role", Options: roles}))
	if got := d.Find("option[selected]").AttrOr("value", ""); got != "admin" || d.Find("option[selected]").Length() != 1 {
		t.Errorf("selected %q", got)
	}
	if got := d.Find("option[disabled]").AttrOr("value", ""); got != "owner" {
		t.Errorf("disabled %q", got)
	}
	if got := d.Find("option").Map(func(_ int, o *goquery.Selection) string { return o.Text() }); strings.Join(got, ",") != "Regular user,Administrator,Owner" {
		t.Errorf("options %v", got)
	}
	if got := renderDoc(t, Textarea(TextareaProps{Label: "XML", Name: "xml", Value: "a\nb", Code: true})).Find("textarea"); got.Text() != "a\nb" ||
		got.AttrOr("spellcheck", "") != "false" || got.AttrOr("rows", "") != "3" {
		t.Errorf("textarea %q, spellcheck %q, rows %q", got.Text(), got.AttrOr("spellcheck", ""), got.AttrOr("rows", ""))
	}
}

func TestChoices(t *testing.T) {
	d := renderDoc(t, Checkbox(ChoiceProps{Name: "jit", Label: "Create accounts", Help: "At first sign-in.", Checked: true}))
	in := d.Find(`input[type="checkbox"]`)
	if _, ok := in.Attr("checked"); !ok {
		t.Error("not checked")
	}
	if _, ok := in.Attr("value"); ok {
		t.Error("an empty value is rendered: the box would send \"\" instead of \"on\"")
	}
	if desc := in.AttrOr("aria-describedby", ""); desc != "field-jit-help" || !strings.Contains(d.Find("#"+desc).Text(), "At first sign-in.") {
		t.Errorf("help not tied: %q", desc)
	}
	r := renderDoc(t, Radio(ChoiceProps{Name: "visibility", Value: "private", Label: "Private"})).Find("input")
	if r.AttrOr("type", "") != "radio" || r.AttrOr("value", "") != "private" || r.AttrOr("id", "") != "field-visibility-private" {
		t.Errorf("radio %q %q %q", r.AttrOr("type", ""), r.AttrOr("value", ""), r.AttrOr("id", ""))
	}
	if _, ok := r.Attr("checked"); ok {
		t.Error("unchecked radio checked")
	}
	g := renderDoc(t, ChoiceGroup(ChoiceGroupProps{Legend: "Models", Name: "model", Error: "Choose one."})).Find("fieldset")
	if g.AttrOr("aria-describedby", "") != "field-model-error" || g.Find("#field-model-error").Length() != 1 {
		t.Error("the group's error is not tied to it")
	}
	if _, ok := renderDoc(t, ChoiceGroup(ChoiceGroupProps{Legend: "Models", Name: "model"})).Find("fieldset").Attr("aria-describedby"); ok {
		t.Error("a valid group points at a message that is not there")
	}
}

func TestLinksShareOneStyle(t *testing.T) {
	a := renderDoc(t, Link(LinkProps{Label: "Remove", SROnly: "Ada", Href: "/settings/members/u1/remove", Danger: true})).Find("a")
	if a.AttrOr("href", "") != "/settings/members/u1/remove" || strings.TrimSpace(a.Text()) != "Remove Ada" || a.Find(".sr-only").Text() != " Ada" {
		t.Errorf("link %q to %q", a.Text(), a.AttrOr("href", ""))
	}
	if a.AttrOr("class", "") != dangerLinkClass {
		t.Errorf("danger link class %q", a.AttrOr("class", ""))
	}
	if got := renderDoc(t, Link(LinkProps{Label: "Docs", Href: "/docs"})).Find("a").AttrOr("class", ""); got != linkClass {
		t.Errorf("link class %q", got)
	}
	if got := renderDoc(t, Link(LinkProps{Label: "x", Href: "javascript:alert(1)"})).Find("a").AttrOr("href", ""); strings.HasPrefix(got, "javascript") {
		t.Errorf("unsafe href %q", got)
	}
	// A button that looks like a link looks exactly like one.
	b := renderDoc(t, Button(ButtonProps{Label: "Resend", Kind: ButtonText})).Find("button")
	if !strings.HasSuffix(b.AttrOr("class", ""), linkClass) || b.AttrOr("type", "") != "submit" {
		t.Errorf("text button %q", b.AttrOr("class", ""))
	}
}

func TestButtons(t *testing.T) {
	a := renderDoc(t, Button(ButtonProps{Label: "Delete index…", Href: "/indexes/abc/delete", Kind: ButtonSecondary, Danger: true})).Find("a")
	if href, _ := a.Attr("href"); href != "/indexes/abc/delete" || strings.TrimSpace(a.Text()) != "Delete index…" || !a.HasClass("text-red-700") {
		t.Errorf("link %q to %q", a.Text(), href)
	}
	b := renderDoc(t, Button(ButtonProps{Label: "Switch back", Name: "account_id", Value: "org-1"})).Find("button")
	if b.AttrOr("name", "") != "account_id" || b.AttrOr("value", "") != "org-1" || !b.HasClass("bg-indigo-600") {
		t.Errorf("button %q=%q class %q", b.AttrOr("name", ""), b.AttrOr("value", ""), b.AttrOr("class", ""))
	}
	if _, ok := renderDoc(t, Button(ButtonProps{Label: "Save"})).Find("button").Attr("name"); ok {
		t.Error("a button without a name submits one")
	}
}

func TestTable(t *testing.T) {
	tbl := renderDoc(t, withChildren(Table(TableProps{TestID: "t", Caption: "Keys"}), templ.Join(
		withChildren(THead(), templ.Join(Th(ThProps{Label: "Name"}), Th(ThProps{Label: "Requests", Numeric: true}), Th(ThProps{Label: "Actions", SROnly: true}))),
	))).Find(`table[data-testid="t"]`)
	if tbl.Find("caption.sr-only").Text() != "Keys" {
		t.Error("no caption")
	}
	ths := tbl.Find(`thead th[scope="col"]`)
	if ths.Length() != 3 || !ths.Eq(1).HasClass("text-right") || ths.Eq(0).HasClass("text-right") || ths.Eq(2).Find(".sr-only").Text() != "Actions" {
		t.Errorf("header cells: %d", ths.Length())
	}
	td := renderDoc(t, withChildren(Table(TableProps{}), withChildren(TBody(), templ.Join(templ.Raw("<tr>"), withText(Td(CellProps{Numeric: true, Muted: true}), "1,204"), templ.Raw("</tr>"))))).Find("td")
	for _, c := range []string{"text-right", "tabular-nums", "text-gray-600"} {
		if !td.HasClass(c) {
			t.Errorf("numeric muted cell lacks %s: %q", c, td.AttrOr("class", ""))
		}
	}
}

func TestEmptyState(t *testing.T) {
	d := renderDoc(t, EmptyState(EmptyStateProps{Title: "No keys yet", Description: "Create one.", ActionLabel: "Create a key", ActionHref: "/k"}))
	if d.Find(`[data-testid="empty-state"] h2`).Text() != "No keys yet" || !d.Find(`a[href="/k"]`).HasClass("bg-indigo-600") {
		t.Error("a titled empty state offers its action as the primary button")
	}
	d = renderDoc(t, EmptyState(EmptyStateProps{Description: "No invoices yet.", TestID: "no-invoices"}))
	if got := strings.TrimSpace(d.Find(`[data-testid="no-invoices"]`).Text()); got != "No invoices yet." || d.Find("h2").Length() != 0 {
		t.Errorf("note %q", got)
	}
	d = renderDoc(t, EmptyState(EmptyStateProps{Description: "No match.", ActionLabel: "Show all", ActionHref: "/indexes", TestID: "no-match"}))
	if d.Find(`[data-testid="no-match"] a[href="/indexes"]`).AttrOr("class", "") != linkClass {
		t.Error("a one-sentence note offers its action as a link")
	}
}

// withText renders c with text as its children, as `@C() { text }` does.
func withText(c templ.Component, text string) templ.Component {
	return withChildren(c, templ.Raw(text))
}

// withChildren renders c with children, as `@C() { ... }` does.
func withChildren(c, children templ.Component) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		return c.Render(templ.WithChildren(ctx, children), w)
	})
}

// The components written in Go (repeated.go) escape what they are given as
// templ would: text, and a link's URL, which is sanitized too.
func TestRepeatedComponentsEscape(t *testing.T) {
	var b strings.Builder
	for _, c := range []templ.Component{
		Badge(BadgeProps{Label: `<b>"x"</b>`, Tone: ToneRed}),
		Link(LinkProps{Label: "<i>", SROnly: `& "co"`, Href: `javascript:alert(1)`}),
		Link(LinkProps{Label: "ok", Href: `/x?a=1&b="2"`}),
		Avatar(AvatarProps{Initials: "<A"}),
	} {
		if err := c.Render(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
	}
	got := b.String()
	for _, want := range []string{
		`&lt;b&gt;&#34;x&#34;&lt;/b&gt;`,
		`href="about:invalid#TemplFailedSanitizationURL"`,
		`&lt;i&gt;<span class="sr-only"> &amp; &#34;co&#34;</span>`,
		`href="/x?a=1&amp;b=&#34;2&#34;"`,
		`>&lt;A</span>`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rendered %s\nwant it to hold %s", got, want)
		}
	}
	for _, bad := range []string{"<b>", "<i>", "javascript:"} {
		if strings.Contains(got, bad) {
			t.Errorf("rendered %s\nholds %s unescaped", got, bad)
		}
	}
}

// TestTdTextIsTdWithText: a text cell writes what Td with the same text as
// its child writes, the text escaped, for every kind of cell.
func TestTdTextIsTdWithText(t *testing.T) {
	hostile := `<script>alert("x")</script> & 'friends'`
	for _, p := range []CellProps{{}, {Muted: true}, {Numeric: true}, {Muted: true, NoWrap: true, Secondary: true}} {
		var want, got strings.Builder
		child := templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
			_, err := io.WriteString(w, templ.EscapeString(hostile))
			return err
		})
		if err := Td(p).Render(templ.WithChildren(context.Background(), child), &want); err != nil {
			t.Fatal(err)
		}
		if err := TdText(p, hostile).Render(context.Background(), &got); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%+v: TdText wrote %s, Td %s", p, got.String(), want.String())
		}
		if strings.Contains(got.String(), "<script>") {
			t.Errorf("%+v: the text is not escaped: %s", p, got.String())
		}
	}
}
