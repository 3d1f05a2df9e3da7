package handlers_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/handlers/dnstest"
	"switchboard/handlers/idptest"
	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/sso"
	"switchboard/models/tenancy"
)

// answerAt has user answer, at the IdP, the request at location (where
// Switchboard sent the browser) and posts the answer back as c.
func answerAt(t testing.TB, c *client, idp *idptest.IdP, location, user string) *response {
	t.Helper()
	action, samlResponse, relay := idpAnswer(t, idp, location, user)
	return postACS(t, c, action, samlResponse, relay)
}

// fakeTXT answers TXT look-ups from records.
func fakeTXT(records map[string][]string) func(context.Context, string) ([]string, error) {
	return func(_ context.Context, name string) ([]string, error) {
		if r, ok := records[name]; ok {
			return r, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
}

// domainRecord reads the TXT record the SSO page asks for, for domain.
func domainRecord(t testing.TB, c *client, domain string) (name, value string) {
	t.Helper()
	page := c.get("/settings/sso").status(http.StatusOK)
	row := page.doc().Find(`[data-testid="sso-domain"]`).FilterFunction(func(_ int, s *goquery.Selection) bool {
		return strings.TrimSpace(s.Find("span.font-mono").First().Text()) == domain
	})
	codes := row.Find("code")
	if codes.Length() != 2 {
		t.Fatalf("the SSO page shows no TXT record for %s", domain)
	}
	return strings.TrimSpace(codes.Eq(0).Text()), strings.TrimSpace(codes.Eq(1).Text())
}

// domainBadge is the status the SSO page shows next to domain.
func domainBadge(t testing.TB, c *client, domain string) string {
	t.Helper()
	page := c.get("/settings/sso").status(http.StatusOK)
	var badge string
	page.doc().Find(`[data-testid="sso-domain"]`).Each(func(_ int, s *goquery.Selection) {
		if strings.TrimSpace(s.Find("span.font-mono").First().Text()) == domain {
			switch text := s.Text(); {
			case strings.Contains(text, "Not proved"):
				badge = "Not proved"
			case strings.Contains(text, "Proved"):
				badge = "Proved"
			}
		}
	})
	return badge
}

// The settings page proves a domain against a real DNS server, named by
// the configuration as SWITCHBOARD_DNS_SERVER names it.
func TestSSODomainProvedThroughARealDNSServer(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		dns := dnstest.New(t)
		app := newApp(t, db, func(cfg *handlers.Config) { cfg.DNSServer = dns.Addr() })
		env := connectSSO(t, app, nil, ssoSetup{jit: true, unproved: true, domains: "example.com, example.org"})
		name, value := domainRecord(t, env.ac, "example.com")
		if name != "_switchboard.example.com" || !strings.HasPrefix(value, "switchboard-domain-verification=") {
			t.Fatalf("record %q = %q", name, value)
		}
		if got := domainBadge(t, env.ac, "example.com"); got != "Not proved" {
			t.Fatalf("badge %q before the proof", got)
		}

		// The server answers, but without the record: not proved.
		dns.Serve(map[string][]string{"_switchboard.example.org": {"something else"}})
		// The page comes back with the reason on the domains, the domain
		// still there to verify again, and the settings form untouched.
		r := env.ac.post("/settings/sso/domains/verify", url.Values{"domain": {" example.com "}}, "/settings/sso").status(http.StatusUnprocessableEntity)
		if msg := strings.TrimSpace(r.doc().Find("#field-domain-error").Text()); !strings.HasPrefix(msg, "Could not verify example.com: its DNS has no TXT record") {
			t.Errorf("domain error %q", msg)
		}
		if r.doc().Find(`[data-testid="sso-domains"] input[name="domain"][value="example.com"]`).Length() != 1 {
			t.Error("the domain cannot be verified again from the page")
		}
		r.lacks("the verification record was not found") // the model's words stay out of the page
		if r.doc().Find(`[data-testid="error-summary"]`).Length() != 0 || r.doc().Find(`[data-testid="flash"]`).Length() != 0 {
			t.Error("the domain error is shown as a settings error or a flash")
		}
		if got := r.doc().Find("#field-domains").AttrOr("value", ""); got != "example.com, example.org" {
			t.Errorf("the settings form shows domains %q", got)
		}
		if got := domainBadge(t, env.ac, "example.com"); got != "Not proved" {
			t.Fatalf("badge %q without the record", got)
		}

		// With the record (among others), proved; the other domain is not.
		dns.Serve(map[string][]string{name: {"v=spf1 -all", value}})
		env.ac.post("/settings/sso/domains/verify", url.Values{"domain": {"example.com"}}, "/settings/sso").redirectsTo("/settings/sso")
		env.ac.get("/settings/sso").contains("example.com is proved")
		if got := domainBadge(t, env.ac, "example.com"); got != "Proved" {
			t.Fatalf("badge %q after the proof", got)
		}
		if got := domainBadge(t, env.ac, "example.org"); got != "Not proved" {
			t.Fatalf("example.org's badge %q", got)
		}
		if n := countRows(t, db, "audit_events", "account_id = ? AND action = ? AND target = ?", env.org.AccountID(), sso.AuditSSODomainVerified, "example.com"); n != 1 {
			t.Fatalf("%d audit events for the proof", n)
		}
		// The page says what proving does.
		env.ac.get("/settings/sso").contains("Only a").contains("lets your identity provider create accounts at first sign-in")
	})
}

// Claims coexist; the first proof wins and drops the others' claims, with
// a notice; nobody can prove or claim it afterwards.
func TestSSODomainProofIsExclusive(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		records := map[string][]string{}
		app := newApp(t, db, func(cfg *handlers.Config) { cfg.LookupTXT = fakeTXT(records) })
		squatter := connectSSO(t, app, nil, ssoSetup{jit: true, unproved: true, domains: "acme.example"})
		owner := connectSSO(t, app, nil, ssoSetup{jit: true, unproved: true, domains: "acme.example, acme.example.org"})
		third := connectSSO(t, app, nil, ssoSetup{unproved: true, domains: "acme.example"})
		if n := countRows(t, db, "sso_domains", "domain = ?", "acme.example"); n != 3 {
			t.Fatalf("%d claims of acme.example, want all three organizations'", n)
		}

		// The real owner proves it.
		name, value := domainRecord(t, owner.ac, "acme.example")
		records[name] = []string{value}
		owner.ac.post("/settings/sso/domains/verify", url.Values{"domain": {"acme.example"}}, "/settings/sso").redirectsTo("/settings/sso")
		if got := domainBadge(t, owner.ac, "acme.example"); got != "Proved" {
			t.Fatalf("the owner's badge %q", got)
		}
		for _, other := range []*ssoEnv{squatter, third} {
			if n := countRows(t, db, "sso_domains", "account_id = ? AND domain = ?", other.org.AccountID(), "acme.example"); n != 0 {
				t.Fatal("another organization's unproved claim survived the proof")
			}
			if n := countRows(t, db, "audit_events", "account_id = ? AND action = ? AND target = ?", other.org.AccountID(), sso.AuditSSODomainClaimDropped, "acme.example"); n != 1 {
				t.Fatalf("%d audit events for the dropped claim", n)
			}
			page := other.ac.get("/settings/sso").status(http.StatusOK)
			if msg := page.doc().Find(`[data-testid="sso-domain-lost"]`).Text(); !strings.Contains(msg, "acme.example") {
				t.Fatalf("no notice of the lost domain on the SSO page: %q", msg)
			}
		}
		// Claiming it again is refused with the reason; verifying a claim
		// one does not hold is 404.
		r := squatter.ac.post("/settings/sso", ssoSetup{jit: true, domains: "acme.example"}.form(squatter.idp.Metadata())).status(http.StatusUnprocessableEntity)
		if msg := r.doc().Find("#field-domains-error").Text(); !strings.Contains(msg, "Another organization has proved it owns acme.example") {
			t.Fatalf("domains error %q", msg)
		}
		squatter.ac.post("/settings/sso/domains/verify", url.Values{"domain": {"acme.example"}}, "/settings/sso").status(http.StatusNotFound)
		// The owner's other, unproved domain is still listed by others too.
		connectSSO(t, app, nil, ssoSetup{unproved: true, domains: "acme.example.org"})
	})
}

// A second organization that holds a claim when another proves the domain
// first is refused, whichever order the two check DNS in.
func TestSSODomainProofRefusedWhenAnotherProvedFirst(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		a := connectSSO(t, app, nil, ssoSetup{unproved: true, domains: "race.example"})
		b := connectSSO(t, app, nil, ssoSetup{unproved: true, domains: "race.example"})
		found := func(tok string) func(context.Context, string) ([]string, error) {
			return func(context.Context, string) ([]string, error) { return []string{tok}, nil }
		}
		_, av := domainRecord(t, a.ac, "race.example")
		_, bv := domainRecord(t, b.ac, "race.example")
		if err := sso.VerifySSODomain(t.Context(), db, a.org, "race.example", found(av), tenancy.Actor{Name: "A"}); err != nil {
			t.Fatal(err)
		}
		err := sso.VerifySSODomain(t.Context(), db, b.org, "race.example", found(bv), tenancy.Actor{Name: "B"})
		if err == nil {
			t.Fatal("a second organization proved a domain another already owns")
		}
		var proved int64
		dbtest.Plain(t, db).Raw("SELECT COUNT(*) FROM sso_domains WHERE domain = ? AND verified_at IS NOT NULL", "race.example").Scan(&proved)
		if proved != 1 {
			t.Fatalf("%d proofs of one domain", proved)
		}
	})
}

// "Sign in with SSO" by email routes only by proved domains.
func TestSSODiscoveryRoutesOnlyProvedDomains(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true, unproved: true, domains: "unproved.example"})
		c := app.client()
		c.post("/signin/sso", url.Values{"email": {"someone@unproved.example"}}).status(http.StatusUnprocessableEntity).contains("No organization signs in with single sign-on")
		// The slug still finds it: it names the organization, not a domain.
		c.post("/signin/sso", url.Values{"email": {env.slug}}).redirectsTo(env.login())
		if _, err := sso.ProveSSODomainByOperator(t.Context(), db, env.slug, "unproved.example", "test"); err != nil {
			t.Fatal(err)
		}
		c.post("/signin/sso", url.Values{"email": {"someone@unproved.example"}}).redirectsTo(env.login())
	})
}

// verifiedMemberAtCorp is an organization whose IdP's domain, corp.example,
// is not proved, and Bob: a member with a verified address elsewhere, who
// is bob@corp.example at the IdP.
func verifiedMemberAtCorp(t *testing.T, app *testApp) (*ssoEnv, models.User, *client) {
	t.Helper()
	env := connectSSO(t, app, nil, ssoSetup{unproved: true, domains: "corp.example"})
	bob, bc := app.member(t, env.org, tenancy.RoleMember)
	if err := dbtest.Plain(t, app.db).Exec("UPDATE users SET email_verified_at = ? WHERE id = ?", time.Now().UTC(), bob.ID).Error; err != nil {
		t.Fatal(err)
	}
	env.idp.AddUser("bob", "bob@corp.example", "Bob", "Work")
	return env, bob, bc
}

// A member whose address is outside the organization's proved domains
// links their IdP identity themselves, signed in with their password; from
// then on the IdP signs them in, and nobody else by that identity.
func TestSSOLinkYourIdentity(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env, bob, bc := verifiedMemberAtCorp(t, app)

		// Before linking, the IdP cannot sign Bob in: the domain is unproved.
		w := watchACS(t, app)
		w.refused(ssoSignIn(t, app.client(), env.idp, env.login(), "bob"), http.StatusForbidden, "unproved domain")

		// The profile offers the link.
		profile := bc.get("/settings/profile").status(http.StatusOK)
		row := profile.doc().Find(`[data-testid="sso-link"]`)
		if row.Length() != 1 || !strings.Contains(row.Text(), env.org.Account().Name) || !strings.Contains(row.Text(), "Not linked") {
			t.Fatalf("the profile does not offer to link: %q", row.Text())
		}
		action, _ := row.Find("form").Attr("action")
		if action != "/sso/"+env.slug+"/link" {
			t.Fatalf("link form posts to %q", action)
		}
		r := bc.post(action, nil, "/settings/profile")
		if r.Code != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), env.idp.URL("")) {
			t.Fatalf("linking answered %d %q, want the IdP", r.Code, r.Header.Get("Location"))
		}
		done := answerAt(t, bc, env.idp, r.Header.Get("Location"), "bob")
		done.redirectsTo("/")
		if got := activeAccount(t, bc.get("/").status(http.StatusOK)); got != env.org.Account().Name {
			t.Fatalf("after linking, in %q", got)
		}
		if n := countRows(t, db, "sso_links", "account_id = ? AND user_id = ? AND subject = ?", env.org.AccountID(), bob.ID, "bob@corp.example"); n != 1 {
			t.Fatalf("%d links", n)
		}
		if n := countRows(t, db, "audit_events", "account_id = ? AND action = ?", env.org.AccountID(), sso.AuditSSOIdentityLinked); n != 1 {
			t.Fatalf("%d audit events for the link", n)
		}
		bc.get("/settings/profile").contains("Linked on")

		// Now a fresh browser signs in as Bob through the IdP.
		fresh := app.client()
		watchACS(t, app).accepted(ssoSignIn(t, fresh, env.idp, env.login(), "bob"))
		if !signedInAs(t, fresh, bob.Email) {
			t.Fatal("the linked identity does not sign Bob in")
		}

		// Carol, another member, cannot take the same identity.
		carol, cc := app.member(t, env.org, tenancy.RoleMember)
		dbtest.Plain(t, db).Exec("UPDATE users SET email_verified_at = ? WHERE id = ?", time.Now().UTC(), carol.ID)
		r = cc.post("/sso/"+env.slug+"/link", nil, "/settings/profile")
		w = watchACS(t, app)
		w.refused(answerAt(t, cc, env.idp, r.Header.Get("Location"), "bob"), http.StatusConflict, "linked to another user")

		// An outsider cannot even start a link: the organization is 404.
		_, _, outsider := app.user(t)
		outsider.post("/sso/"+env.slug+"/link", nil, "/settings/profile").status(http.StatusNotFound)

		// Removing Bob drops the link: the IdP cannot sign him in again,
		// even after he is invited back.
		env.ac.post("/settings/members/"+bob.PublicID+"/remove", nil, "/settings/members/"+bob.PublicID+"/remove").redirectsTo("/settings/members")
		if n := countRows(t, db, "sso_links", "user_id = ?", bob.ID); n != 0 {
			t.Fatal("the link outlived the membership")
		}
		dbtest.AddMember(t, db, env.org, bob, tenancy.RoleMember)
		watchACS(t, app).refused(ssoSignIn(t, app.client(), env.idp, env.login(), "bob"), http.StatusForbidden, "unproved domain")
	})
}

// Linking takes an address its owner proved: a squatter's unverified
// registration cannot plant a link that its real owner would inherit.
func TestSSOLinkNeedsAProvedAddress(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{unproved: true, domains: "corp.example"})
		_, sc := app.member(t, env.org, tenancy.RoleMember) // never verified
		sc.post("/sso/"+env.slug+"/link", nil, "/settings/profile").redirectsTo("/settings/profile")
		sc.get("/settings/profile").contains("Verify your email address before linking")
		if n := countRows(t, db, "sso_requests", "purpose = ?", "link"); n != 0 {
			t.Fatal("an unverified user started a link")
		}
	})
}

// Unlinking from the profile ends what the link allowed.
func TestSSOUnlink(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env, _, bc := verifiedMemberAtCorp(t, app)
		r := bc.post("/sso/"+env.slug+"/link", nil, "/settings/profile")
		answerAt(t, bc, env.idp, r.Header.Get("Location"), "bob").redirectsTo("/")
		bc.post("/sso/"+env.slug+"/unlink", nil, "/settings/profile").redirectsTo("/settings/profile")
		bc.get("/settings/profile").contains("is no longer linked").contains("Not linked")
		watchACS(t, app).refused(ssoSignIn(t, app.client(), env.idp, env.login(), "bob"), http.StatusForbidden, "unproved domain")
	})
}
