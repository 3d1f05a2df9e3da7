package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/handlers/dnstest"
	"switchboard/handlers/idptest"
	"switchboard/handlers/sitetest"
	"switchboard/models"
	"switchboard/models/dbtest"
)

// TestSAMLInteropSimpleSAMLphp signs in through an identity provider that
// is not built on crewjam/saml: SimpleSAMLphp 1.19 (Debian's simplesamlphp
// package), run by PHP's built-in server with the configuration in
// e2e/saml/simplesamlphp and its users' attributes under their default
// names. Switchboard's attribute mapping stays at its defaults.
//
// An administrator sets the connection up through Settings › Single sign-on
// as they would: SimpleSAMLphp gets the SP metadata Switchboard publishes,
// the form gets the metadata SimpleSAMLphp publishes, and "Test the
// connection" shows what came back. Then people sign in from "Sign in with
// SSO" over plain HTTP: Switchboard's redirect with a signed AuthnRequest
// (which SimpleSAMLphp verifies), SimpleSAMLphp's login form, and its
// auto-posted response to the ACS.
//
// It runs twice, once per way the IdP template names attributes (see
// e2e/saml/simplesamlphp/metadata/saml20-idp-hosted.php), each on SQLite and
// PostgreSQL. Without php, php-xml or simplesamlphp it skips, except in CI.
func TestSAMLInteropSimpleSAMLphp(t *testing.T) {
	ssp := findSimpleSAMLphp(t)
	for _, attrs := range []string{"basic", "oid"} {
		t.Run(attrs, func(t *testing.T) {
			// A fresh database per run: the email domain belongs to one
			// organization only.
			dbtest.Each(t, func(t *testing.T, db *gorm.DB) { simpleSAMLphpFlow(t, ssp, db, attrs) })
		})
	}
}

// TestSAMLInteropSimpleSAMLphpSHA1: SimpleSAMLphp set to sign with
// RSA-SHA1, as a legacy IdP does. The connection test says a real sign-in
// would be refused and why; once an administrator accepts SHA-1 for the
// connection, people sign in.
func TestSAMLInteropSimpleSAMLphpSHA1(t *testing.T) {
	ssp := findSimpleSAMLphp(t)
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		dns := dnstest.New(t)
		s := newSiteWith(t, db, func(cfg *handlers.Config) { cfg.DNSServer = dns.Addr() })
		admin := newAgent(t)
		p := admin.submit(admin.get(s.url("/signup")), `[data-testid="signup-form"]`, url.Values{
			"name": {interopAdminName}, "email": {"margaret.hamilton@" + interopDomain}, "password": {"apollo guidance computer"},
		})
		p.wantPath("/")
		admin.submit(admin.get(s.url("/organizations/new")), `form[action="/organizations/new"]`, url.Values{"name": {interopOrgName}}).wantPath("/")
		p = admin.get(s.url("/settings/sso"))
		metadataURL, _ := p.doc.Find(`[data-testid="sp-details"] a[href$="/metadata"]`).Attr("href")
		idp := ssp.start(t, "basic", admin.get(metadataURL).body, "SSP_TEST_SIGNATURE=rsa-sha1")
		idpMetadata := admin.get(idp.base + "/saml2/idp/metadata.php").body
		form := url.Values{"metadata_xml": {idpMetadata}, "domains": {interopDomain}, "jit": {"on"}}
		p = admin.submit(p, `[data-testid="sso-form"]`, form)
		p.wantPath("/settings/sso")
		record := p.doc.Find(`[data-testid="sso-domain"] code`)
		dns.Serve(map[string][]string{record.Eq(0).Text(): {record.Eq(1).Text()}})
		p = admin.submit(p, `form[action="/settings/sso/domains/verify"]`, nil)

		p = admin.submit(p, `form[action="/settings/sso/test"]`, nil)
		sent := idp.logIn(t, admin, p, "ada", "ada-password")
		p = admin.submit(sent.page, "form", nil)
		p.wantContains(`[data-testid="sso-test-refusal"]`, "signed the response with SHA-1")
		p.wantContains(`[data-testid="sso-test-refusal"]`, "allow SHA-1 in this connection's settings")

		form.Set("allow_sha1", "on")
		p = admin.submit(admin.get(s.url("/settings/sso")), `[data-testid="sso-form"]`, form)
		p.wantContains(`[data-testid="sso-sha1-warning"]`, "SHA-1 signatures are accepted")
		ada := newAgent(t)
		p = ada.get(s.url("/sso/" + slugOf(t, p.text(`#sp-acs`)) + "/login"))
		sent = idp.logIn(t, ada, p, "ada", "ada-password")
		ada.submit(sent.page, "form", nil).wantPath("/")
		wantSSOUser(t, db, "ada.lovelace@example.com", "Ada Lovelace")
	})
}

const (
	interopOrgName   = "Analytical Engines"
	interopAdminName = "Margaret Hamilton"
	interopDomain    = "example.com"
)

func simpleSAMLphpFlow(t *testing.T, ssp simpleSAMLphp, db *gorm.DB, attrs string) {
	dns := dnstest.New(t)
	s := newSiteWith(t, db, func(cfg *handlers.Config) { cfg.DNSServer = dns.Addr() })

	// The administrator signs up and creates the organization.
	admin := newAgent(t)
	p := admin.get(s.url("/signup"))
	p = admin.submit(p, `[data-testid="signup-form"]`, url.Values{
		"name": {interopAdminName}, "email": {"margaret.hamilton@" + interopDomain}, "password": {"apollo guidance computer"},
	})
	p.wantPath("/")
	p = admin.submit(admin.get(s.url("/organizations/new")), `form[action="/organizations/new"]`, url.Values{"name": {interopOrgName}})
	p.wantPath("/")
	p.wantText(`[data-testid="active-account-name"]`, interopOrgName)

	// Settings › Single sign-on shows what to give the IdP: the SP metadata.
	p = admin.get(s.url("/settings/sso"))
	entityID := p.text(`#sp-entity-id`)
	acs := p.text(`#sp-acs`)
	metadataURL, _ := p.doc.Find(`[data-testid="sp-details"] a[href$="/metadata"]`).Attr("href")
	if entityID == "" || acs == "" || metadataURL == "" {
		t.Fatalf("the SSO settings page shows entity ID %q, ACS %q, metadata %q", entityID, acs, metadataURL)
	}
	spMetadata := admin.get(metadataURL)
	spMetadata.wantStatus(http.StatusOK)
	if !strings.Contains(spMetadata.body, entityID) || !strings.Contains(spMetadata.body, acs) {
		t.Fatalf("the SP metadata does not carry the entity ID %s and the ACS %s:\n%s", entityID, acs, spMetadata.body)
	}
	idp := ssp.start(t, attrs, spMetadata.body)

	// …and takes the IdP's metadata, pasted from its metadata URL.
	idpMetadata := admin.get(idp.base + "/saml2/idp/metadata.php")
	idpMetadata.wantStatus(http.StatusOK)
	p = admin.submit(p, `[data-testid="sso-form"]`, url.Values{
		"metadata_xml": {idpMetadata.body}, "domains": {interopDomain}, "jit": {"on"},
	})
	p.wantPath("/settings/sso")
	p.wantContains(`[data-testid="flash"]`, "Saved the single sign-on settings")
	p.wantContains(`[data-testid="sso-form"]`, idp.base+"/saml2/idp/metadata.php") // "Connected to <entity ID>"

	// The administrator proves the domain: the TXT record the page asks
	// for, published on a real DNS server, then Verify.
	record := p.doc.Find(`[data-testid="sso-domain"] code`)
	if record.Length() != 2 {
		t.Fatalf("the SSO page asks for no TXT record:\n%s", p.excerpt())
	}
	dns.Serve(map[string][]string{record.Eq(0).Text(): {record.Eq(1).Text()}})
	p = admin.submit(p, `form[action="/settings/sso/domains/verify"]`, nil)
	p.wantContains(`[data-testid="flash"]`, interopDomain+" is proved")

	// "Test the connection" goes through SimpleSAMLphp and shows what the
	// default mapping makes of its response.
	p = admin.submit(p, `form[action="/settings/sso/test"]`, nil)
	sent := idp.logIn(t, admin, p, "ada", "ada-password")
	t.Logf("SimpleSAMLphp (%s attribute names) sent: %s", attrs, sent)
	wantAttrs := map[string][]string{
		"basic": {"uid", "mail", "cn", "givenName", "sn", "eduPersonAffiliation", "eduPersonPrincipalName"},
		"oid": {"urn:oid:0.9.2342.19200300.100.1.1", "urn:oid:0.9.2342.19200300.100.1.3", "urn:oid:2.5.4.3",
			"urn:oid:2.5.4.42", "urn:oid:2.5.4.4", "urn:oid:1.3.6.1.4.1.5923.1.1.1.1", "urn:oid:1.3.6.1.4.1.5923.1.1.1.6"},
	}[attrs]
	if got := sent.names(); !sameSet(got, wantAttrs) {
		t.Errorf("SimpleSAMLphp sent the attributes %q, want %q", got, wantAttrs)
	}
	p = admin.submit(sent.page, "form", nil)
	if !strings.HasPrefix(p.url.Path, "/settings/sso/test/") {
		t.Fatalf("the connection test landed on %s (%d), want /settings/sso/test/…:\n%s", p.url, p.status, p.excerpt())
	}
	p.wantContains(`[data-testid="sso-test-ok"]`, "Ada Lovelace <ada.lovelace@example.com>")
	for _, name := range wantAttrs {
		p.wantContains(`[data-testid="sso-test"]`, name)
	}

	// Ada signs in from "Sign in with SSO" with her work email: a new user
	// and member (just-in-time), the organization active.
	ada := newAgent(t)
	p = ada.get(s.url("/signin"))
	href, _ := p.doc.Find(`a[data-testid="sso-link"]`).Attr("href")
	p = ada.get(p.resolve(href))
	p = ada.submit(p, `[data-testid="sso-discovery"]`, url.Values{"email": {"ada.lovelace@example.com"}})
	sent = idp.logIn(t, ada, p, "ada", "ada-password")
	p = ada.submit(sent.page, "form", nil)
	p.wantPath("/")
	p.wantText(`[data-testid="active-account-name"]`, interopOrgName)
	if cur := p.doc.Find(`[data-testid="account-switcher"] li:has(button[aria-current="true"])`); cur.Length() != 1 || cur.AttrOr("data-account-name", "") != interopOrgName {
		t.Errorf("the switcher marks %d rows current (%q), want the organization", cur.Length(), cur.AttrOr("data-account-name", ""))
	}
	wantSSOUser(t, db, "ada.lovelace@example.com", "Ada Lovelace")

	// Grace's entry has a given name and a surname but no display name.
	grace := newAgent(t)
	p = grace.get(s.url("/sso/" + slugOf(t, acs) + "/login"))
	sent = idp.logIn(t, grace, p, "grace", "grace-password")
	grace.submit(sent.page, "form", nil).wantPath("/")
	wantSSOUser(t, db, "grace.hopper@example.com", "Grace Hopper")

	// SimpleSAMLphp's own example user has no email: refused, no session.
	student := newAgent(t)
	p = student.get(s.url("/sso/" + slugOf(t, acs) + "/login"))
	sent = idp.logIn(t, student, p, "student", "studentpass")
	p = student.submit(sent.page, "form", nil)
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "did not say who you are") {
		t.Errorf("a response without an email answered %d at %s, want 403 and the plain refusal:\n%s", p.status, p.url, p.excerpt())
	}
	student.get(s.url("/")).wantPath("/signin")

	// SimpleSAMLphp checked the signature of every AuthnRequest (the SP
	// metadata says AuthnRequestsSigned), and refuses a tampered one.
	if n := strings.Count(idp.log.String(), "Validation with key #0 succeeded"); n != 4 {
		t.Errorf("SimpleSAMLphp validated the signature of %d AuthnRequests, want 4 (the test and three sign-ins)", n)
	}
	tamper := newAgent(t)
	tamper.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	start := tamper.get(s.url("/sso/" + slugOf(t, acs) + "/login"))
	loc, err := url.Parse(start.header.Get("Location"))
	if start.status != http.StatusFound || err != nil || loc.Query().Get("Signature") == "" {
		t.Fatalf("the SSO start answered %d, Location %q: want a redirect with a signed AuthnRequest", start.status, start.header.Get("Location"))
	}
	q := loc.Query()
	sig, _ := base64.StdEncoding.DecodeString(q.Get("Signature"))
	sig[len(sig)/2] ^= 0x5a
	q.Set("Signature", base64.StdEncoding.EncodeToString(sig))
	loc.RawQuery = q.Encode()
	tamper.c.CheckRedirect = nil
	p = tamper.get(loc.String())
	// The IdP's log comes through a pipe: its line may follow the page.
	logged := func() bool { return strings.Contains(idp.log.String(), "Unable to validate signature on query string") }
	for deadline := time.Now().Add(5 * time.Second); !logged() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if p.doc.Find(`input[name="password"]`).Length() > 0 || !logged() {
		t.Errorf("SimpleSAMLphp answered a badly signed AuthnRequest with %s (%d) without logging the bad signature:\n%s", p.url.Path, p.status, p.excerpt())
	}
}

// wantSSOUser checks the user an SSO sign-in provisioned.
func wantSSOUser(t *testing.T, db *gorm.DB, email, name string) {
	t.Helper()
	u, err := models.FindUserByEmail(t.Context(), db, email)
	if err != nil {
		t.Fatalf("no user %s after the SSO sign-in: %v", email, err)
	}
	if u.Name != name || !u.Verified() {
		t.Errorf("the SSO sign-in made %s %q (verified %t), want %q, verified", email, u.Name, u.Verified(), name)
	}
}

// slugOf is the organization's slug in its ACS URL, /sso/{slug}/acs.
func slugOf(t *testing.T, acs string) string {
	t.Helper()
	u, err := url.Parse(acs)
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if err != nil || len(parts) != 3 || parts[0] != "sso" {
		t.Fatalf("unexpected ACS URL %q", acs)
	}
	return parts[1]
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// SimpleSAMLphp ---------------------------------------------------------

// simpleSAMLphp is an installed SimpleSAMLphp and the PHP to run it.
type simpleSAMLphp struct {
	php          string
	root         string // /usr/share/simplesamlphp
	attributemap string
	config       string // e2e/saml/simplesamlphp
}

// findSimpleSAMLphp finds php and Debian's simplesamlphp (or the install at
// $SIMPLESAMLPHP_ROOT): without them the test skips, except in CI.
func findSimpleSAMLphp(t *testing.T) simpleSAMLphp {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + " (apt-get install simplesamlphp php-cli php-xml)"
		if os.Getenv("CI") != "" {
			t.Fatalf("%s: the SAML interoperability test must run in CI", msg)
		}
		t.Skipf("%s; skipping the SAML interoperability test outside CI", msg)
	}
	var ssp simpleSAMLphp
	var err error
	if ssp.php, err = exec.LookPath("php"); err != nil {
		missing("php not found: %v", err)
	}
	if out, err := exec.Command(ssp.php, "-r", `exit(extension_loaded("dom") && extension_loaded("openssl") ? 0 : 3);`).CombinedOutput(); err != nil {
		missing("php lacks the dom or openssl extension (%v %s)", err, out)
	}
	ssp.root = os.Getenv("SIMPLESAMLPHP_ROOT")
	if ssp.root == "" {
		ssp.root = "/usr/share/simplesamlphp"
	}
	if _, err := os.Stat(filepath.Join(ssp.root, "www", "saml2", "idp", "SSOService.php")); err != nil {
		missing("SimpleSAMLphp not found in %s: %v", ssp.root, err)
	}
	// Debian keeps the attribute maps with the configuration in /etc.
	for _, dir := range []string{"/etc/simplesamlphp/attributemap", filepath.Join(ssp.root, "attributemap")} {
		if _, err := os.Stat(filepath.Join(dir, "name2oid.php")); err == nil {
			ssp.attributemap = dir
			break
		}
	}
	if ssp.attributemap == "" {
		missing("SimpleSAMLphp's attribute maps (name2oid.php) not found")
	}
	if ssp.config, err = filepath.Abs(filepath.Join("saml", "simplesamlphp")); err != nil {
		t.Fatal(err)
	}
	return ssp
}

// sspServer is SimpleSAMLphp running in `php -S` for one test.
type sspServer struct {
	base string
	log  *sitetest.Log
}

// start runs SimpleSAMLphp on a free loopback port with a new key pair,
// knowing the SP by spMetadata, until the test ends.
func (ssp simpleSAMLphp) start(t *testing.T, attrs, spMetadata string, env ...string) *sspServer {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"cert", "data", "tmp", "sessions", "log"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	keyPEM, certPEM := idptest.PEM(idptest.KeyPair(t, "SimpleSAMLphp test IdP"))
	for name, content := range map[string]string{"cert/idp.key": keyPEM, "cert/idp.crt": certPEM, "sp-metadata.xml": spMetadata} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)

	addr := freeLoopbackAddr(t)
	srv := &sspServer{base: "http://" + addr, log: &sitetest.Log{}}
	cmd := exec.Command(ssp.php, "-S", addr, "-t", filepath.Join(ssp.root, "www"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"SIMPLESAMLPHP_CONFIG_DIR="+ssp.config,
		"SSP_TEST_BASEURL="+srv.base,
		"SSP_TEST_DIR="+dir,
		"SSP_TEST_SECRET="+hex.EncodeToString(secret),
		"SSP_TEST_ATTRIBUTEMAP="+ssp.attributemap,
		"SSP_TEST_ATTRIBUTES="+attrs,
	)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = srv.log, srv.log
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start php -S: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the php we started, by its PID
		<-exited
		if t.Failed() {
			t.Logf("SimpleSAMLphp's log (php -S):\n%s", srv.log.String())
		}
	})
	// Ready once it serves its metadata.
	for {
		res, err := http.Get(srv.base + "/saml2/idp/metadata.php")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
			t.Fatalf("SimpleSAMLphp's metadata answered %s:\n%s", res.Status, srv.log.String())
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("php -S exited: %v\n%s", err, srv.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Since(began) > 15*time.Second {
			t.Fatalf("SimpleSAMLphp did not answer within 15s: %v\n%s", err, srv.log.String())
		}
	}
	t.Logf("SimpleSAMLphp (%s attribute names) at %s, ready in %s", attrs, srv.base, time.Since(began).Round(time.Millisecond))
	return srv
}

// logIn signs in at SimpleSAMLphp's login form, which p must be (after the
// redirects from Switchboard), and returns the page that posts the response
// back, with what the response says.
func (srv *sspServer) logIn(t *testing.T, a *agent, p *httpPage, user, password string) sentResponse {
	t.Helper()
	if !strings.HasPrefix(p.url.String(), srv.base+"/module.php/core/loginuserpass.php") || p.doc.Find(`form[name="f"] input[name="AuthState"]`).Length() != 1 {
		t.Fatalf("expected SimpleSAMLphp's login form, got %s (%d):\n%s", p.url, p.status, p.excerpt())
	}
	p = a.submit(p, `form[name="f"]`, url.Values{"username": {user}, "password": {password}})
	form := p.doc.Find(`form[method="post"]:has(input[name="SAMLResponse"])`)
	action, _ := form.Attr("action")
	encoded, _ := form.Find(`input[name="SAMLResponse"]`).Attr("value")
	if form.Length() != 1 || encoded == "" {
		t.Fatalf("SimpleSAMLphp did not answer %s's login with a response to post (%s, %d):\n%s", user, p.url, p.status, p.excerpt())
	}
	sent := sentResponse{page: p, action: action}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err == nil {
		err = xml.Unmarshal(raw, &sent.response)
	}
	if err != nil {
		t.Fatalf("the SAMLResponse SimpleSAMLphp sent is unreadable: %v", err)
	}
	return sent
}

// sentResponse is SimpleSAMLphp's auto-posting page and the response in it.
type sentResponse struct {
	page     *httpPage
	action   string
	response struct {
		Assertion struct {
			Signature *struct{} `xml:"Signature"`
			Subject   struct {
				NameID struct {
					Format string `xml:"Format,attr"`
					Value  string `xml:",chardata"`
				} `xml:"NameID"`
			} `xml:"Subject"`
			Attributes []struct {
				Name         string   `xml:"Name,attr"`
				NameFormat   string   `xml:"NameFormat,attr"`
				FriendlyName string   `xml:"FriendlyName,attr"`
				Values       []string `xml:"AttributeValue"`
			} `xml:"AttributeStatement>Attribute"`
		} `xml:"Assertion"`
	}
}

func (s sentResponse) names() []string {
	var out []string
	for _, a := range s.response.Assertion.Attributes {
		out = append(out, a.Name)
	}
	return out
}

func (s sentResponse) String() string {
	a := s.response.Assertion
	var b strings.Builder
	fmt.Fprintf(&b, "to %s, assertion signed %t, NameID %q (%s)", s.action, a.Signature != nil, a.Subject.NameID.Value, a.Subject.NameID.Format)
	for _, at := range a.Attributes {
		fmt.Fprintf(&b, "; %s", at.Name)
		if at.FriendlyName != "" {
			fmt.Fprintf(&b, " (%s)", at.FriendlyName)
		}
		fmt.Fprintf(&b, " [%s] = %q", strings.TrimPrefix(at.NameFormat, "urn:oasis:names:tc:SAML:2.0:attrname-format:"), at.Values)
	}
	return b.String()
}

// freeLoopbackAddr is a loopback address with a port nobody listens on.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// A plain HTTP user agent -----------------------------------------------

// agent is a cookie-keeping HTTP client that fills and submits forms the
// way a browser without JavaScript does.
type agent struct {
	t *testing.T
	c *http.Client
}

func newAgent(t *testing.T) *agent {
	jar, _ := cookiejar.New(nil)
	return &agent{t: t, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// httpPage is a response, after any redirects.
type httpPage struct {
	t      *testing.T
	url    *url.URL
	status int
	header http.Header
	body   string
	doc    *goquery.Document
}

func (a *agent) get(u string) *httpPage {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	return a.do(req)
}

func (a *agent) do(req *http.Request) *httpPage {
	a.t.Helper()
	res, err := a.c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(string(b)))
	if err != nil {
		a.t.Fatal(err)
	}
	return &httpPage{t: a.t, url: res.Request.URL, status: res.StatusCode, header: res.Header, body: string(b), doc: doc}
}

// submit fills the form sel of p with its own fields (hidden ones, checked
// boxes, selected options), then set, and submits it as a browser would.
func (a *agent) submit(p *httpPage, sel string, set url.Values) *httpPage {
	a.t.Helper()
	form := p.doc.Find(sel).First()
	if form.Length() == 0 || !form.Is("form") {
		a.t.Fatalf("no form %s on %s (%d):\n%s", sel, p.url, p.status, p.excerpt())
	}
	values := url.Values{}
	form.Find("input[name], textarea[name], select[name]").Each(func(_ int, f *goquery.Selection) {
		name, _ := f.Attr("name")
		if _, disabled := f.Attr("disabled"); disabled {
			return
		}
		switch {
		case f.Is("textarea"):
			values.Add(name, f.Text())
		case f.Is("select"):
			o := f.Find("option[selected]").First()
			if o.Length() == 0 {
				o = f.Find("option").First()
			}
			v, ok := o.Attr("value")
			if !ok {
				v = o.Text()
			}
			values.Add(name, v)
		default:
			v, ok := f.Attr("value")
			switch typ, _ := f.Attr("type"); strings.ToLower(typ) {
			case "checkbox", "radio":
				if _, checked := f.Attr("checked"); checked {
					if !ok {
						v = "on"
					}
					values.Add(name, v)
				}
			case "submit", "button", "image", "reset", "file":
			default:
				values.Add(name, v)
			}
		}
	})
	for k, v := range set {
		values[k] = v
	}
	action, _ := form.Attr("action")
	target, err := p.url.Parse(action)
	if err != nil {
		a.t.Fatal(err)
	}
	method := strings.ToUpper(form.AttrOr("method", "GET"))
	var req *http.Request
	if method == http.MethodPost {
		req, err = http.NewRequest(method, target.String(), strings.NewReader(values.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", p.url.Scheme+"://"+p.url.Host)
		}
	} else {
		target.RawQuery = values.Encode()
		req, err = http.NewRequest(method, target.String(), nil)
	}
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Sec-Fetch-Site", fetchSite(p.url, target))
	return a.do(req)
}

// fetchSite is the Sec-Fetch-Site a browser sends for a form on from to to.
func fetchSite(from, to *url.URL) string {
	switch {
	case from.Scheme == to.Scheme && from.Host == to.Host:
		return "same-origin"
	case from.Scheme == to.Scheme && from.Hostname() == to.Hostname():
		return "same-site"
	}
	return "cross-site"
}

func (p *httpPage) resolve(ref string) string {
	u, err := p.url.Parse(ref)
	if err != nil {
		p.t.Fatal(err)
	}
	return u.String()
}

func (p *httpPage) text(sel string) string { return strings.TrimSpace(p.doc.Find(sel).First().Text()) }

func (p *httpPage) excerpt() string {
	s := strings.Join(strings.Fields(p.doc.Find("body").Text()), " ")
	if len(s) > 1500 {
		s = s[:1500] + "…"
	}
	return s
}

func (p *httpPage) wantStatus(code int) {
	p.t.Helper()
	if p.status != code {
		p.t.Fatalf("%s answered %d, want %d:\n%s", p.url, p.status, code, p.excerpt())
	}
}

// wantPath expects the page, after redirects, at path with a 200.
func (p *httpPage) wantPath(path string) {
	p.t.Helper()
	if p.url.Path != path || p.status != http.StatusOK {
		p.t.Fatalf("landed on %s (%d), want %s (200):\n%s", p.url, p.status, path, p.excerpt())
	}
}

func (p *httpPage) wantText(sel, want string) {
	p.t.Helper()
	if got := p.text(sel); got != want {
		p.t.Errorf("%s on %s shows %q, want %q", sel, p.url.Path, got, want)
	}
}

func (p *httpPage) wantContains(sel, want string) {
	p.t.Helper()
	got := strings.Join(strings.Fields(p.doc.Find(sel).Text()), " ")
	if !strings.Contains(got, want) {
		p.t.Errorf("%s on %s shows %q, want it to contain %q", sel, p.url.Path, got, want)
	}
}
