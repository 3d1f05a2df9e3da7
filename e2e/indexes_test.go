package e2e

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"switchboard/models/dbtest"
)

// indexesTestTimeout bounds TestBrowserIndexesStayInTheirAccount, both
// databases included.
const indexesTestTimeout = 90 * time.Second

// Selectors of the index pages.
const (
	indexNavSel   = `aside [data-testid="sidebar"] a[href="/indexes"]`
	emptyStateSel = `[data-testid="empty-state"]`
	indexRowsJS   = `[...document.querySelectorAll('[data-testid="index-table"] tbody tr')].map(tr => {
	const cells = [...tr.querySelectorAll('td')].map(td => td.textContent.replace(/\s+/g, ' ').trim());
	const a = tr.querySelector('td a');
	return {name: a ? a.textContent.trim() : '', href: a ? a.getAttribute('href') : '', videos: cells[2] || ''};
})`
)

// indexPagePath is where creating an index lands: its page, by an opaque ID.
var indexPagePath = regexp.MustCompile(`^/indexes/[0-9a-f]{24}$`)

// TestBrowserIndexesStayInTheirAccount: an index created in the personal
// account is not listed in the organization, and one created in the
// organization (with a video) is not listed in the personal account; the
// switcher keeps the user in the Indexes section.
func TestBrowserIndexesStayInTheirAccount(t *testing.T) {
	browserTest(t, indexesTestTimeout, indexesFlow)
}

// indexListRow is one row of the index list, as the page shows it.
type indexListRow struct {
	Name   string `json:"name"`
	Href   string `json:"href"`
	Videos string `json:"videos"`
}

func indexesFlow(t *testing.T, b *browser, s *site, dbName string) {
	const (
		userName = "Grace Hopper"
		orgName  = "Compiler Works"
		personal = "Personal notes"
		team     = "Team index"
	)
	b.signUp(s, userName, dbtest.Unique("grace.hopper")+"@example.com")
	b.createOrganization(orgName)
	b.wantText(nameSel, orgName)

	// In the personal account, the empty list leads to the create form.
	b.switchTo(userName, "/")
	b.submit(indexNavSel, "/indexes")
	b.wantVisible(emptyStateSel)
	b.submit(emptyStateSel+` a[href="/indexes/new"]`, "/indexes/new")
	if n := b.evalInt(`document.querySelectorAll('input[name="visibility"]').length`); n != 0 {
		t.Errorf("the personal account's create form offers %d visibility choices, want none", n)
	}
	personalPath := b.createIndex(personal)
	b.wantTextContains(`[data-testid="flash"]`, "Created the index "+personal)

	b.submit(indexNavSel, "/indexes")
	b.wantIndexes(indexListRow{Name: personal, Href: personalPath, Videos: "0"})

	// The switcher lands on the organization's index list, which is empty.
	b.switchTo(orgName, "/indexes")
	b.wantVisible(emptyStateSel)
	b.wantIndexes()
	if main := run(b, "text of main", chromedp.Text(chromedp.CSS(`main`))); strings.Contains(main, personal) {
		t.Errorf("the organization's index list mentions the personal index %q:\n%s", personal, main)
	}

	// Create a shared index there, and add a video to it.
	b.submit(`main a[href="/indexes/new"]`, "/indexes/new")
	b.wantVisible(`input[name="visibility"][value="private"]`)
	b.setChecked(`input[name="visibility"][value="account"]`, true)
	teamPath := b.createIndex(team)
	b.wantText(`[data-testid="video-count"]`, "0")
	if n := b.evalInt(`document.querySelectorAll('[data-testid="video-table"] tbody tr').length`); n != 0 {
		t.Errorf("the new index lists %d videos, want none", n)
	}
	b.fill(`#field-title`, "Kickoff meeting")
	b.fill(`#field-url`, "https://example.com/kickoff.mp4")
	b.fill(`#field-duration_seconds`, "95")
	b.submit(`form[action="`+teamPath+`/videos"] button[type="submit"]`, teamPath)
	b.wantTextContains(`[data-testid="flash"]`, "Added the video Kickoff meeting")
	b.wantText(`[data-testid="video-count"]`, "1")
	b.wantText(`[data-testid="total-duration"]`, "1m 35s")
	if titles := b.texts(`[data-testid="video-table"] tbody tr td:first-child span.font-medium`); !slices.Equal(titles, []string{"Kickoff meeting"}) {
		t.Errorf("the index lists the videos %q, want [Kickoff meeting]", titles)
	}
	b.screenshot(screenshotPath(t, "index-"+dbName+".png"))

	b.submit(indexNavSel, "/indexes")
	b.wantIndexes(indexListRow{Name: team, Href: teamPath, Videos: "1"})

	// Back in the personal account, only its own index is listed.
	b.switchTo(userName, "/indexes")
	b.wantIndexes(indexListRow{Name: personal, Href: personalPath, Videos: "0"})
	b.screenshot(screenshotPath(t, "indexes-personal-"+dbName+".png"))

	b.wantNoConsoleErrors()
}

// createIndex fills the open create form with name and Marengo (visual and
// audio) only, submits it and expects to land on the new index's page; it
// returns that page's path.
func (b *browser) createIndex(name string) string {
	b.t.Helper()
	b.fill(`#field-name`, name)
	b.setChecked(`input[name="model"][value="marengo"]`, true)
	b.setChecked(`input[name="marengo_options"][value="visual"]`, true)
	b.setChecked(`input[name="marengo_options"][value="audio"]`, true)
	b.setChecked(`input[name="model"][value="pegasus"]`, false)
	u := b.click(`form[action="/indexes/new"] button[type="submit"]`)
	if !indexPagePath.MatchString(u.Path) {
		b.t.Fatalf("creating the index %q landed on %s, want its page /indexes/<24 hex>", name, u)
	}
	b.wantText(`main h1`, name)
	b.wantTextContains(`[data-testid="index-details"]`, "Marengo · visual, audio")
	return u.Path
}

// wantIndexes asserts the index list shows exactly want, in order.
func (b *browser) wantIndexes(want ...indexListRow) {
	b.t.Helper()
	got := run(b, "index rows", chromedp.Evaluate[[]indexListRow](indexRowsJS))
	if !slices.Equal(got, want) {
		b.t.Errorf("the index list of %s shows %+v, want %+v", b.location(), got, want)
	}
	if len(want) > 0 {
		b.wantText(`[data-testid="total"]`, totalLabel(len(want)))
	}
}

func totalLabel(n int) string {
	if n == 1 {
		return "1 index"
	}
	return fmt.Sprintf("%d indexes", n)
}
