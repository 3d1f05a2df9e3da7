package handlers_test

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/handlers/idptest"
	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/sso"
	"switchboard/models/tenancy"
)

// ---------------------------------------------------------------------
// An organization connected to an in-process IdP, with the knobs the
// security tests turn.

// ssoSetup is what an administrator puts in Settings › Single sign-on.
type ssoSetup struct {
	domains      string // "example.com" when empty
	defaultRole  string // "member" when empty
	jit          bool
	enforce      bool
	idpInitiated bool
	// inClear registers the SP at the IdP without its encryption key, so the
	// IdP's (genuine, signed) assertions come in clear and a test can take
	// them apart.
	inClear bool
	// unproved leaves the domains unverified (connectSSO marks them proved,
	// as an organization whose IdP speaks for existing users has them).
	unproved bool
}

func (s ssoSetup) form(metadata string) url.Values {
	f := url.Values{"metadata_xml": {metadata}, "domains": {s.domains}, "default_role": {s.defaultRole}}
	if s.domains == "" {
		f.Set("domains", "example.com")
	}
	if s.defaultRole == "" {
		f.Set("default_role", "member")
	}
	// Turning IdP-initiated sign-in on takes the confirmation of its risk.
	for name, on := range map[string]bool{"jit": s.jit, "enforce": s.enforce, "allow_idp_initiated": s.idpInitiated, "confirm_idp_initiated": s.idpInitiated} {
		if on {
			f.Set(name, "on")
		}
	}
	return f
}

// ssoEnv is an organization, its signed-in administrator and its IdP.
type ssoEnv struct {
	app   *testApp
	admin models.User
	org   tenancy.Scope
	ac    *client
	idp   *idptest.IdP
	slug  string
}

// connectSSO creates an organization administered by a new user and
// connects it to idp (a new one when nil) with setup.
func connectSSO(t testing.TB, app *testApp, idp *idptest.IdP, setup ssoSetup) *ssoEnv {
	t.Helper()
	admin, org, ac := orgAdmin(t, app)
	if idp == nil {
		idp = idptest.New(t)
	}
	r := ac.post("/settings/sso", setup.form(idp.Metadata()))
	if r.Code != http.StatusSeeOther {
		t.Fatalf("saving SSO settings: %d\n%s\nlog:\n%s", r.Code, r.excerpt(), app.logs.String())
	}
	env := &ssoEnv{app: app, admin: admin, ac: ac, idp: idp, slug: org.Account().SlugOrEmpty()}
	env.register(t, idp, setup.inClear)
	env.org, _ = tenancy.LoadScope(t.Context(), app.db, admin.ID, org.Account().PublicID)
	if !setup.unproved {
		if err := dbtest.Plain(t, app.db).Exec("UPDATE sso_domains SET verified_at = ? WHERE account_id = ?", time.Now().UTC(), org.AccountID()).Error; err != nil {
			t.Fatal(err)
		}
	}
	return env
}

// register gives an IdP the organization's SP metadata; inClear leaves its
// encryption key out.
func (e *ssoEnv) register(t testing.TB, idp *idptest.IdP, inClear bool) {
	t.Helper()
	md := e.app.client().get("/sso/" + e.slug + "/metadata").status(http.StatusOK).Body
	if inClear {
		doc := etree.NewDocument()
		if err := doc.ReadFromString(md); err != nil {
			t.Fatal(err)
		}
		for _, kd := range xmlDescendants(doc.Root(), "KeyDescriptor") {
			if kd.SelectAttrValue("use", "") == "encryption" {
				kd.Parent().RemoveChild(kd)
			}
		}
		md, _ = doc.WriteToString()
	}
	idp.RegisterSP(e.slug, md)
}

func (e *ssoEnv) login() string { return "/sso/" + e.slug + "/login" }
func (e *ssoEnv) acs() string   { return "/sso/" + e.slug + "/acs" }

// entityID is the organization's SP entity ID (its metadata URL).
func (e *ssoEnv) entityID() string { return e.app.srv.URL + "/sso/" + e.slug + "/metadata" }

// spMetadata is the organization's SP metadata, parsed.
func (e *ssoEnv) spMetadata(t testing.TB) *saml.EntityDescriptor {
	t.Helper()
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal([]byte(e.app.client().get("/sso/"+e.slug+"/metadata").status(http.StatusOK).Body), &ed); err != nil {
		t.Fatal(err)
	}
	return &ed
}

// genuine starts a sign-in with c and has user answer it at the IdP: the
// IdP's untouched response and the AuthnRequest's ID.
func (e *ssoEnv) genuine(t testing.TB, c *client, user string) (samlResponse, requestID string) {
	t.Helper()
	location := startSSO(t, c, e.idp, e.login())
	_, samlResponse, _ = idpAnswer(t, e.idp, location, user)
	return samlResponse, requestIDOf(t, location)
}

// request starts a sign-in with c and returns the AuthnRequest's ID only.
func (e *ssoEnv) request(t testing.TB, c *client) string {
	t.Helper()
	return requestIDOf(t, startSSO(t, c, e.idp, e.login()))
}

// idpInitiated has user start a sign-in at the IdP (a samlidp shortcut)
// and returns the IdP's unsolicited response.
func (e *ssoEnv) idpInitiated(t testing.TB, user string) string {
	t.Helper()
	e.idp.Do(http.MethodPut, "/shortcuts/"+e.slug, `{"service_provider":"`+e.entityID()+`"}`)
	_, samlResponse, _ := idpForm(t, e.idp.SignedIn(t, user), e.idp.URL("/login/"+e.slug))
	return samlResponse
}

// requestIDOf reads the ID of the AuthnRequest in an HTTP-Redirect URL.
func requestIDOf(t testing.TB, location string) string {
	t.Helper()
	u, err := url.Parse(location)
	if err != nil {
		t.Fatal(err)
	}
	deflated, err := base64.StdEncoding.DecodeString(u.Query().Get("SAMLRequest"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(flate.NewReader(bytes.NewReader(deflated)))
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil || doc.Root() == nil {
		t.Fatalf("AuthnRequest %q: %v", raw, err)
	}
	id := doc.Root().SelectAttrValue("ID", "")
	if id == "" {
		t.Fatalf("AuthnRequest without ID: %s", raw)
	}
	return id
}

// ---------------------------------------------------------------------
// What an ACS answer must (not) leave behind.

// acsWatch remembers the log and the sessions before a post to the ACS.
type acsWatch struct {
	t        testing.TB
	app      *testApp
	mark     int
	sessions int64
}

func watchACS(t testing.TB, app *testApp) acsWatch {
	t.Helper()
	return acsWatch{t: t, app: app, mark: len(app.logs.String()), sessions: countSessions(t, app.db)}
}

func countSessions(t testing.TB, db *gorm.DB) int64 {
	t.Helper()
	var n int64
	if err := dbtest.Plain(t, db).Raw("SELECT COUNT(*) FROM sessions").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// countRows counts a table's rows (matching where) with raw SQL, which
// the scope guard does not inspect.
func countRows(t testing.TB, db *gorm.DB, table, where string, args ...any) int64 {
	t.Helper()
	q := "SELECT COUNT(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	var n int64
	if err := dbtest.Plain(t, db).Raw(q, args...).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// setsSession reports whether an answer sets the session cookie.
func setsSession(r *response) bool {
	for _, c := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "switchboard_session=") {
			return true
		}
	}
	return false
}

// refusals are the reasons logged with "SSO sign-in refused" since the mark.
func (w acsWatch) refusals() []string {
	var out []string
	for _, line := range strings.Split(w.app.logs.String()[w.mark:], "\n") {
		if strings.Contains(line, `msg="SSO sign-in refused"`) {
			out = append(out, line)
		}
	}
	return out
}

// refused asserts the plain error page with status, a logged refusal
// whose reason mentions each of reasons, and no session.
func (w acsWatch) refused(r *response, status int, reasons ...string) {
	w.t.Helper()
	if r.Code != status {
		w.t.Fatalf("ACS answered %d (Location %q), want %d refusing; body:\n%s\nlog:\n%s", r.Code, r.Header.Get("Location"), status, r.excerpt(), w.app.logs.String()[w.mark:])
	}
	if !strings.Contains(r.Body, "Single sign-on failed") || !strings.Contains(r.Body, "you are not signed in") {
		w.t.Errorf("the refusal is not the plain error page:\n%s", r.excerpt())
	}
	w.noSession(r)
	lines := w.refusals()
	if len(lines) == 0 {
		w.t.Fatalf("no %q logged; log:\n%s", "SSO sign-in refused", w.app.logs.String()[w.mark:])
	}
	for _, reason := range reasons {
		found := false
		for _, l := range lines {
			if strings.Contains(l, reason) {
				found = true
			}
		}
		if !found {
			w.t.Errorf("no logged refusal mentions %q: %s", reason, strings.Join(lines, "\n"))
		}
	}
}

// noSession asserts that the answer set no session cookie and that no
// session row was added.
func (w acsWatch) noSession(r *response) {
	w.t.Helper()
	if setsSession(r) {
		w.t.Errorf("the answer sets a session cookie: %v", r.Header.Values("Set-Cookie"))
	}
	if n := countSessions(w.t, w.app.db); n != w.sessions {
		w.t.Errorf("%d sessions after the answer, %d before: a session was created", n, w.sessions)
	}
}

// accepted asserts a sign-in: 303 to / with a session cookie.
func (w acsWatch) accepted(r *response) {
	w.t.Helper()
	if r.Code != http.StatusSeeOther || r.Location() != "/" {
		w.t.Fatalf("ACS answered %d %q, want 303 to /; body:\n%s\nlog:\n%s", r.Code, r.Location(), r.excerpt(), w.app.logs.String()[w.mark:])
	}
	if !setsSession(r) {
		w.t.Error("the accepted sign-in set no session cookie")
	}
	if lines := w.refusals(); len(lines) > 0 {
		w.t.Errorf("an accepted sign-in logged a refusal: %s", strings.Join(lines, "\n"))
	}
}

// ---------------------------------------------------------------------
// Taking a response apart.

// decodeResponse parses a SAMLResponse form value.
func decodeResponse(t testing.TB, samlResponse string) *etree.Document {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(samlResponse)
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	return doc
}

// encodeDoc is the SAMLResponse form value of a document.
func encodeDoc(t testing.TB, doc *etree.Document) string {
	t.Helper()
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// xmlDescendants are el's descendants (and el) whose local name is tag.
func xmlDescendants(el *etree.Element, tag string) []*etree.Element {
	var out []*etree.Element
	var walk func(*etree.Element)
	walk = func(e *etree.Element) {
		if e.Tag == tag {
			out = append(out, e)
		}
		for _, c := range e.ChildElements() {
			walk(c)
		}
	}
	walk(el)
	return out
}

// xmlChild is el's first child element whose local name is tag.
func xmlChild(t testing.TB, el *etree.Element, tag string) *etree.Element {
	t.Helper()
	for _, c := range el.ChildElements() {
		if c.Tag == tag {
			return c
		}
	}
	t.Fatalf("<%s> has no <%s>", el.Tag, tag)
	return nil
}

// xmlRemoveAll removes every descendant of el whose local name is tag.
func xmlRemoveAll(el *etree.Element, tag string) {
	for _, d := range xmlDescendants(el, tag) {
		if d != el && d.Parent() != nil {
			d.Parent().RemoveChild(d)
		}
	}
}

// xmlReplaceText changes every text node of el that is from into to.
func xmlReplaceText(el *etree.Element, from, to string) {
	var walk func(*etree.Element)
	walk = func(e *etree.Element) {
		if strings.TrimSpace(e.Text()) == from {
			e.SetText(to)
		}
		for _, c := range e.ChildElements() {
			walk(c)
		}
	}
	walk(el)
}

// ---------------------------------------------------------------------
// Crafting responses with crewjam's IdP machinery.

// forgery describes a response to craft: who signs it (and whether), for
// which SP and request, when, and about whom.
type forgery struct {
	issuer        string // the IdP entity ID the response claims
	key           *rsa.PrivateKey
	cert          *x509.Certificate
	sp            *saml.EntityDescriptor
	inResponseTo  string
	now           time.Time
	email, name   string
	signResponse  bool
	signAssertion bool
	// encryptTo encrypts the assertion to that certificate (the SP's
	// public one) after signing it or not.
	encryptTo *x509.Certificate
	edit      func(*saml.Assertion)
	// signing is how the signatures are made: RSA-SHA256 with SHA-256
	// digests when zero.
	signing signAlgorithms
}

// signAlgorithms are a signature's algorithms: RSA-SHA1 signs with
// SHA-1 digests; sha1Digests keeps RSA-SHA256 for the signature but
// digests the signed element with SHA-1.
type signAlgorithms struct {
	rsaSHA1, sha1Digests bool
}

// forge makes a forgery answering requestID as the env's IdP would: signed
// (response and assertion) with the IdP's key, now, for email.
func (e *ssoEnv) forge(t testing.TB, requestID, email string) forgery {
	t.Helper()
	return forgery{
		issuer: e.idp.EntityID(), key: e.idp.Key(), cert: e.idp.Cert(), sp: e.spMetadata(t),
		inResponseTo: requestID, now: time.Now(), email: email, name: "Forged Person",
		signResponse: true, signAssertion: true,
	}
}

func signEnveloped(t testing.TB, key *rsa.PrivateKey, cert *x509.Certificate, el *etree.Element, algs signAlgorithms) *etree.Element {
	t.Helper()
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore(tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}))
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	method := dsig.RSASHA256SignatureMethod
	if algs.rsaSHA1 || algs.sha1Digests {
		method = dsig.RSASHA1SignatureMethod
	}
	if err := ctx.SetSignatureMethod(method); err != nil {
		t.Fatal(err)
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		t.Fatal(err)
	}
	kids := signed.ChildElements()
	sig := kids[len(kids)-1]
	if algs.sha1Digests && !algs.rsaSHA1 {
		resignSHA256(t, key, sig)
	}
	return sig
}

// resignSHA256 turns an RSA-SHA1 signature into an RSA-SHA256 one over the
// same SignedInfo, whose digests stay SHA-1, as the signer does: the
// exclusive canonical form of SignedInfo in its place, hashed and signed.
func resignSHA256(t testing.TB, key *rsa.PrivateKey, sig *etree.Element) {
	t.Helper()
	signedInfo := sig.FindElement("./SignedInfo")
	signedInfo.FindElement("./SignatureMethod").CreateAttr("Algorithm", dsig.RSASHA256SignatureMethod)
	ns, err := etreeutils.NSBuildParentContext(signedInfo)
	if err != nil {
		t.Fatal(err)
	}
	detached, err := etreeutils.NSDetatch(ns, signedInfo)
	if err != nil {
		t.Fatal(err)
	}
	canonical, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(detached)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(canonical)
	value, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	sig.FindElement("./SignatureValue").SetText(base64.StdEncoding.EncodeToString(value))
}

// encode builds the response and returns it as the SAMLResponse form value.
func (f forgery) encode(t testing.TB) string {
	t.Helper()
	issuerURL, err := url.Parse(f.issuer)
	if err != nil {
		t.Fatal(err)
	}
	sp := *f.sp
	spsso := sp.SPSSODescriptors[0]
	var keys []saml.KeyDescriptor
	for _, k := range spsso.KeyDescriptors {
		if k.Use != "encryption" {
			keys = append(keys, k)
		}
	}
	spsso.KeyDescriptors = keys
	sp.SPSSODescriptors = []saml.SPSSODescriptor{spsso}
	var acs *saml.IndexedEndpoint
	for i := range spsso.AssertionConsumerServices {
		if spsso.AssertionConsumerServices[i].Binding == saml.HTTPPostBinding {
			acs = &spsso.AssertionConsumerServices[i]
		}
	}
	idp := &saml.IdentityProvider{Key: f.key, Certificate: f.cert, MetadataURL: *issuerURL, Clock: dsig.NewFakeClockAt(f.now)}
	req := &saml.IdpAuthnRequest{
		IDP: idp, HTTPRequest: httptest.NewRequest(http.MethodGet, "/", nil),
		Request:                 saml.AuthnRequest{ID: f.inResponseTo, IssueInstant: f.now},
		ServiceProviderMetadata: &sp, SPSSODescriptor: &spsso, ACSEndpoint: acs, Now: f.now,
	}
	local := f.email[:strings.IndexByte(f.email, '@')]
	session := &saml.Session{
		ID: "forged", CreateTime: f.now, ExpireTime: f.now.Add(time.Hour), Index: "1",
		NameID: f.email, NameIDFormat: string(saml.EmailAddressNameIDFormat),
		UserName: local, UserEmail: f.email, UserCommonName: f.name,
	}
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, session); err != nil {
		t.Fatal(err)
	}
	a := req.Assertion
	if f.edit != nil {
		f.edit(a)
	}
	assertionEl := a.Element()
	if f.signAssertion {
		a.Signature = signEnveloped(t, f.key, f.cert, assertionEl, f.signing)
		assertionEl = a.Element()
	}
	if f.encryptTo != nil {
		doc := etree.NewDocument()
		doc.SetRoot(assertionEl)
		plain, err := doc.WriteToBytes()
		if err != nil {
			t.Fatal(err)
		}
		enc := xmlenc.OAEP()
		enc.BlockCipher = xmlenc.AES128CBC
		enc.DigestMethod = &xmlenc.SHA1
		data, err := enc.Encrypt(f.encryptTo, plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		data.CreateAttr("Type", "http://www.w3.org/2001/04/xmlenc#Element")
		assertionEl = etree.NewElement("saml:EncryptedAssertion")
		assertionEl.AddChild(data)
	}
	resp := &saml.Response{
		Destination: acs.Location, ID: fmt.Sprintf("id-forged-%d", time.Now().UnixNano()), InResponseTo: f.inResponseTo,
		IssueInstant: f.now, Version: "2.0",
		Issuer: &saml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: f.issuer},
		Status: saml.Status{StatusCode: saml.StatusCode{Value: saml.StatusSuccess}},
	}
	el := resp.Element()
	el.AddChild(assertionEl)
	if f.signResponse {
		resp.Signature = signEnveloped(t, f.key, f.cert, el, f.signing)
		el = resp.Element()
		el.AddChild(assertionEl)
	}
	doc := etree.NewDocument()
	doc.SetRoot(el)
	return encodeDoc(t, doc)
}

// spEncryptionCert is the SP's public encryption certificate, as its
// metadata publishes it to anyone.
func spEncryptionCert(t testing.TB, sp *saml.EntityDescriptor) *x509.Certificate {
	t.Helper()
	for _, k := range sp.SPSSODescriptors[0].KeyDescriptors {
		if k.Use == "encryption" || k.Use == "" {
			der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(k.KeyInfo.X509Data.X509Certificates[0].Data), ""))
			if err != nil {
				t.Fatal(err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			return cert
		}
	}
	t.Fatal("the SP metadata publishes no encryption certificate")
	return nil
}

// signedInAs reports whether the client's session belongs to the user with
// email (its profile page shows it).
func signedInAs(t testing.TB, c *client, email string) bool {
	t.Helper()
	r := c.get("/settings/profile")
	return r.Code == http.StatusOK && strings.Contains(r.Body, email)
}

// ---------------------------------------------------------------------
// Signatures.

func TestSSORefusesUnsignedResponses(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true, inClear: true})
		env.idp.AddUser("alice", "alice@example.com", "Alice", "Liddell")
		c := app.client()
		genuine, requestID := env.genuine(t, c, "alice")
		if n := len(xmlDescendants(decodeResponse(t, genuine).Root(), "Signature")); n != 2 {
			t.Fatalf("the IdP's response carries %d signatures, want 2 (response and assertion)", n)
		}

		// Every signature stripped, response and assertion, and re-encoded.
		doc := decodeResponse(t, genuine)
		xmlRemoveAll(doc.Root(), "Signature")
		w := watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), encodeDoc(t, doc), ""), http.StatusForbidden, "signature element not present")

		// Only the assertion's signature stripped: the response signature
		// no longer matches what it covers.
		doc = decodeResponse(t, genuine)
		xmlRemoveAll(xmlChild(t, doc.Root(), "Assertion"), "Signature")
		w = watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), encodeDoc(t, doc), ""), http.StatusForbidden, "signature")

		// A crafted assertion, unsigned, in an unsigned response; and the
		// same encrypted to the SP's public certificate (anyone can).
		f := env.forge(t, requestID, "alice@example.com")
		f.signResponse, f.signAssertion = false, false
		w = watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), f.encode(t), ""), http.StatusForbidden, "signature element not present")
		f.encryptTo = spEncryptionCert(t, f.sp)
		w = watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), f.encode(t), ""), http.StatusForbidden, "signature element not present")

		if n := countRows(t, db, "users", "email = ?", "alice@example.com"); n != 0 {
			t.Fatalf("a refused response created the user (%d)", n)
		}
		// Control: without the response's signature the response is still
		// genuine, its assertion being signed, and is accepted — so the
		// refusals above were the signatures', not the re-encoding's.
		doc = decodeResponse(t, genuine)
		doc.Root().RemoveChild(xmlChild(t, doc.Root(), "Signature"))
		w = watchACS(t, app)
		w.accepted(postACS(t, c, env.acs(), encodeDoc(t, doc), ""))
		if !signedInAs(t, c, "alice@example.com") {
			t.Fatal("the accepted response did not sign alice in")
		}
	})
}

func TestSSORefusesSignaturesByKeysNotInTheMetadata(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true})
		c := app.client()
		requestID := env.request(t, c)
		otherKey, otherCert := idptest.KeyPair(t, "attacker")

		// Everything signed by another key, in the name of the
		// organization's IdP (its certificate travels in the KeyInfo).
		f := env.forge(t, requestID, "alice@example.com")
		f.key, f.cert = otherKey, otherCert
		w := watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), f.encode(t), ""), http.StatusForbidden, "certificate")
		// Only the assertion signed, by the other key.
		f.signResponse = false
		w = watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), f.encode(t), ""), http.StatusForbidden, "certificate")
		// The same, encrypted to the SP.
		f.encryptTo = spEncryptionCert(t, f.sp)
		w = watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), f.encode(t), ""), http.StatusForbidden, "certificate")

		// A second IdP, with its own key and entity ID, answering for the
		// organization's SP.
		other := idptest.New(t)
		g := env.forge(t, requestID, "alice@example.com")
		g.issuer, g.key, g.cert = other.EntityID(), other.Key(), other.Cert()
		w = watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), g.encode(t), ""), http.StatusForbidden)

		if n := countRows(t, db, "users", "email = ?", "alice@example.com"); n != 0 {
			t.Fatalf("a refused response created the user (%d)", n)
		}
		// Control: the same request answered with the IdP's own key.
		w = watchACS(t, app)
		w.accepted(postACS(t, c, env.acs(), env.forge(t, requestID, "alice@example.com").encode(t), ""))
	})
}

func TestSSORefusesSignatureWrapping(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true, inClear: true})
		env.idp.AddUser("alice", "alice@example.com", "Alice", "Liddell")
		c := app.client()
		genuine, _ := env.genuine(t, c, "alice")
		// The forged assertion names the organization's administrator.
		target := env.admin.Email

		// forged is a copy of the signed assertion about target; keepSig
		// keeps its (now wrong) signature, keepID its ID.
		forged := func(signed *etree.Element, keepSig, keepID bool) *etree.Element {
			f := signed.Copy()
			xmlReplaceText(f, "alice@example.com", target)
			if !keepSig {
				xmlRemoveAll(f, "Signature")
			}
			if !keepID {
				f.RemoveAttr("ID")
				f.CreateAttr("ID", "id-forged")
			}
			return f
		}
		type variant struct {
			name, reason string
			build        func(resp, sig, signed *etree.Element)
		}
		variants := []variant{
			{"forged assertion beside the signed one", "must contain exactly one Assertion", func(resp, sig, signed *etree.Element) {
				resp.RemoveChild(sig)
				resp.InsertChildAt(signed.Index(), forged(signed, false, false))
			}},
			{"forged assertion after the signed one", "must contain exactly one Assertion", func(resp, sig, signed *etree.Element) {
				resp.RemoveChild(sig)
				resp.AddChild(forged(signed, false, false))
			}},
			{"forged assertion with the signed one's ID and signature, first", "must contain exactly one Assertion", func(resp, sig, signed *etree.Element) {
				resp.RemoveChild(sig)
				resp.InsertChildAt(signed.Index(), forged(signed, true, true))
			}},
			{"signed assertion inside Extensions, forged one in its place", "signature element not present", func(resp, sig, signed *etree.Element) {
				resp.RemoveChild(sig)
				ext := etree.NewElement("samlp:Extensions")
				resp.InsertChildAt(xmlChild(t, resp, "Status").Index(), ext)
				resp.RemoveChild(signed)
				ext.AddChild(signed)
				resp.AddChild(forged(signed, false, true))
			}},
			{"signed assertion nested in the forged one", "Signature could not be verified", func(resp, sig, signed *etree.Element) {
				resp.RemoveChild(sig)
				f := forged(signed, true, true)
				resp.RemoveChild(signed)
				f.AddChild(signed)
				resp.AddChild(f)
			}},
			{"signed assertion in the forged one's Signature Object", "Signature could not be verified", func(resp, sig, signed *etree.Element) {
				resp.RemoveChild(sig)
				f := forged(signed, true, true)
				obj := etree.NewElement("ds:Object")
				xmlChild(t, f, "Signature").AddChild(obj)
				resp.RemoveChild(signed)
				obj.AddChild(signed)
				resp.AddChild(f)
			}},
			{"response signature kept, forged assertion added", "signature on Response", func(resp, sig, signed *etree.Element) {
				resp.AddChild(forged(signed, false, false))
			}},
			{"response signature kept, assertion replaced, original in its Object", "signature on Response", func(resp, sig, signed *etree.Element) {
				obj := etree.NewElement("ds:Object")
				sig.AddChild(obj)
				resp.RemoveChild(signed)
				obj.AddChild(signed)
				resp.AddChild(forged(signed, true, true))
			}},
			{"signed response inside a forged response's Extensions", "signature element not present", func(resp, sig, signed *etree.Element) {
				original := resp.Copy()
				for _, k := range resp.ChildElements() {
					resp.RemoveChild(k)
				}
				resp.AddChild(xmlChild(t, original, "Issuer").Copy())
				ext := etree.NewElement("samlp:Extensions")
				ext.AddChild(original)
				resp.AddChild(ext)
				resp.AddChild(xmlChild(t, original, "Status").Copy())
				resp.AddChild(forged(xmlChild(t, original, "Assertion"), false, false))
			}},
		}
		for _, v := range variants {
			doc := decodeResponse(t, genuine)
			resp := doc.Root()
			v.build(resp, xmlChild(t, resp, "Signature"), xmlChild(t, resp, "Assertion"))
			w := watchACS(t, app)
			r := postACS(t, c, env.acs(), encodeDoc(t, doc), "")
			if r.Code != http.StatusForbidden {
				t.Errorf("%s: answered %d %q, want 403", v.name, r.Code, r.Location())
			}
			w.refused(r, http.StatusForbidden, v.reason)
			if signedInAs(t, c, target) || signedInAs(t, c, "alice@example.com") {
				t.Fatalf("%s: the client is signed in", v.name)
			}
		}
		if n := countRows(t, db, "users", "email = ?", "alice@example.com"); n != 0 {
			t.Fatalf("a refused response created the user (%d)", n)
		}
		// Control: the untouched response is still accepted, for alice.
		w := watchACS(t, app)
		w.accepted(postACS(t, c, env.acs(), genuine, ""))
		if !signedInAs(t, c, "alice@example.com") {
			t.Fatal("the genuine response did not sign alice in")
		}
	})
}

// ---------------------------------------------------------------------
// Audience, organization, time, requests and replays.

func TestSSORefusesAssertionsForAnotherAudienceOrOrganization(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		idp := idptest.New(t)
		// Two organizations registered as two SPs in the same IdP; B also
		// takes sign-ins started at the IdP.
		a := connectSSO(t, app, idp, ssoSetup{jit: true})
		b := connectSSO(t, app, idp, ssoSetup{jit: true, domains: "example.org", idpInitiated: true})
		idp.AddUser("alice", "alice@example.com", "Alice", "Liddell")
		c := app.client()

		// Signed by the organization's IdP for its request, but for
		// another audience.
		requestID := a.request(t, c)
		f := a.forge(t, requestID, "alice@example.com")
		f.edit = func(as *saml.Assertion) {
			as.Conditions.AudienceRestrictions[0].Audience.Value = "https://elsewhere.example/saml/metadata"
		}
		w := watchACS(t, app)
		w.refused(postACS(t, c, a.acs(), f.encode(t), ""), http.StatusForbidden, "AudienceRestriction does not contain")

		// Organization A's audience, addressed (Destination, Recipient) to
		// B's ACS and answering B's request: B refuses it for its audience.
		bRequest := b.request(t, c)
		g := b.forge(t, bRequest, "alice@example.org")
		g.edit = func(as *saml.Assertion) { as.Conditions.AudienceRestrictions[0].Audience.Value = a.entityID() }
		w = watchACS(t, app)
		w.refused(postACS(t, c, b.acs(), g.encode(t), ""), http.StatusForbidden, "AudienceRestriction does not contain")

		// A genuine response made for A, posted to B's ACS.
		genuine, _ := a.genuine(t, c, "alice")
		w = watchACS(t, app)
		w.refused(postACS(t, c, b.acs(), genuine, ""), http.StatusForbidden, "was never issued by this organization's SP")
		// A genuine unsolicited response made for A, posted to B's ACS
		// (which accepts unsolicited responses).
		unsolicited := a.idpInitiated(t, "alice")
		w = watchACS(t, app)
		w.refused(postACS(t, c, b.acs(), unsolicited, ""), http.StatusForbidden, "Destination")

		if n := countRows(t, db, "memberships", "account_id = ?", b.org.AccountID()); n != 1 {
			t.Fatalf("B has %d members, want its administrator only", n)
		}
		// Control: A takes its own response.
		w = watchACS(t, app)
		w.accepted(postACS(t, c, a.acs(), genuine, ""))
		if got := activeAccount(t, c.get("/").status(http.StatusOK)); got != a.org.Account().Name {
			t.Fatalf("signed in to %q, want A", got)
		}
	})
}

func TestSSOClockSkew(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		// An IdP whose clock runs 60 s ahead, through the real flow.
		fast := idptest.NewWith(t, idptest.Options{Clock: dsig.NewFakeClockAt(time.Now().Add(60 * time.Second))})
		env := connectSSO(t, app, fast, ssoSetup{jit: true})
		fast.AddUser("alice", "alice@example.com", "Alice", "Liddell")
		w := watchACS(t, app)
		w.accepted(ssoSignIn(t, app.client(), fast, env.login(), "alice"))

		shifted := func(requestID string, d time.Duration) forgery {
			f := env.forge(t, requestID, "alice@example.com")
			f.now = time.Now().Add(d)
			return f
		}
		c := app.client()
		// Up to 90 s either way is clock skew.
		for _, d := range []time.Duration{60 * time.Second, -60 * time.Second, 85 * time.Second, -85 * time.Second} {
			w := watchACS(t, app)
			w.accepted(postACS(t, c, env.acs(), shifted(env.request(t, c), d).encode(t), ""))
		}
		// The library's own bound is wider, and stays as it is: the 90 s
		// are Switchboard's, for its service providers only.
		if saml.MaxClockSkew != 180*time.Second {
			t.Fatalf("saml.MaxClockSkew is %s: something changed the library's global", saml.MaxClockSkew)
		}

		requestID := env.request(t, c)
		// Issued 95 s or 120 s in the future: not yet valid (the library
		// alone would take both).
		for _, d := range []time.Duration{95 * time.Second, 120 * time.Second} {
			w = watchACS(t, app)
			w.refused(postACS(t, c, env.acs(), shifted(requestID, d).encode(t), ""), http.StatusForbidden, "in the future")
		}
		// Issued 120 s and 10 minutes ago: expired.
		w = watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), shifted(requestID, -120*time.Second).encode(t), ""), http.StatusForbidden, "expired")
		w = watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), shifted(requestID, -10*time.Minute).encode(t), ""), http.StatusForbidden, "expired")
		// Issued now, but its conditions start in 120 s…
		f := env.forge(t, requestID, "alice@example.com")
		f.edit = func(as *saml.Assertion) { as.Conditions.NotBefore = time.Now().Add(120 * time.Second) }
		w = watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), f.encode(t), ""), http.StatusForbidden, "not yet valid")
		// …or ended 100 s ago, the subject confirmation too…
		f.edit = func(as *saml.Assertion) {
			as.Conditions.NotOnOrAfter = time.Now().Add(-100 * time.Second)
			as.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = time.Now().Add(-100 * time.Second)
		}
		w = watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), f.encode(t), ""), http.StatusForbidden, "expired")
		// …or the subject confirmation alone ended 100 s ago.
		f.edit = func(as *saml.Assertion) {
			as.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = time.Now().Add(-100 * time.Second)
		}
		w = watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), f.encode(t), ""), http.StatusForbidden, "SubjectConfirmationData is expired")
		// Conditions that start in 80 s or ended 80 s ago are within the skew.
		for _, edit := range []func(*saml.Assertion){
			func(as *saml.Assertion) { as.Conditions.NotBefore = time.Now().Add(80 * time.Second) },
			func(as *saml.Assertion) {
				as.Conditions.NotOnOrAfter = time.Now().Add(-80 * time.Second)
				as.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = time.Now().Add(-80 * time.Second)
			},
		} {
			f := env.forge(t, env.request(t, c), "alice@example.com")
			f.edit = edit
			w = watchACS(t, app)
			w.accepted(postACS(t, c, env.acs(), f.encode(t), ""))
		}
		// Control: the same request, answered now, is accepted.
		w = watchACS(t, app)
		w.accepted(postACS(t, c, env.acs(), env.forge(t, requestID, "alice@example.com").encode(t), ""))
	})
}

func TestSSORefusesResponsesToRequestsNotOpen(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true})
		env.idp.AddUser("alice", "alice@example.com", "Alice", "Liddell")
		c := app.client()

		// Genuinely signed, answering a request this SP never issued.
		w := watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), env.forge(t, "id-never-issued", "alice@example.com").encode(t), ""),
			http.StatusForbidden, "InResponseTo id-never-issued was never issued")

		// Answering a request that expired.
		expired := env.request(t, c)
		if err := dbtest.Plain(t, db).Exec("UPDATE sso_requests SET expires_at = ? WHERE id = ?", time.Now().Add(-time.Minute).UTC(), expired).Error; err != nil {
			t.Fatal(err)
		}
		w = watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), env.forge(t, expired, "alice@example.com").encode(t), ""), http.StatusForbidden, "InResponseTo "+expired)

		// A response for one open request whose assertion answers another.
		first, second := env.request(t, c), env.request(t, c)
		f := env.forge(t, first, "alice@example.com")
		f.edit = func(as *saml.Assertion) {
			as.Subject.SubjectConfirmations[0].SubjectConfirmationData.InResponseTo = second
		}
		w = watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), f.encode(t), ""), http.StatusForbidden, "possible request IDs")

		// A genuine response, posted twice: the second is refused.
		genuine, requestID := env.genuine(t, c, "alice")
		w = watchACS(t, app)
		w.accepted(postACS(t, c, env.acs(), genuine, ""))
		other := app.client()
		w = watchACS(t, app)
		w.refused(postACS(t, other, env.acs(), genuine, ""), http.StatusForbidden, "InResponseTo "+requestID, "already consumed")
		if signedInAs(t, other, "alice@example.com") {
			t.Fatal("the second post signed a browser in")
		}
	})
}

func TestSSORefusesReplayedAssertions(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true, idpInitiated: true})
		env.idp.AddUser("alice", "alice@example.com", "Alice", "Liddell")
		c := app.client()

		// The same assertion ID in answers to two requests: once only.
		sameID := func(as *saml.Assertion) { as.ID = "id-replayed-assertion" }
		f := env.forge(t, env.request(t, c), "alice@example.com")
		f.edit = sameID
		w := watchACS(t, app)
		w.accepted(postACS(t, c, env.acs(), f.encode(t), ""))
		g := env.forge(t, env.request(t, c), "alice@example.com")
		g.edit = sameID
		other := app.client()
		w = watchACS(t, app)
		w.refused(postACS(t, other, env.acs(), g.encode(t), ""), http.StatusForbidden, "id-replayed-assertion", "already been used")
		if n := countRows(t, db, "sso_replays", "assertion_id = ?", "id-replayed-assertion"); n != 1 {
			t.Fatalf("%d replay records for the assertion", n)
		}

		// An unsolicited response, posted twice.
		unsolicited := env.idpInitiated(t, "alice")
		w = watchACS(t, app)
		w.accepted(postACS(t, app.client(), env.acs(), unsolicited, ""))
		w = watchACS(t, app)
		w.refused(postACS(t, other, env.acs(), unsolicited, ""), http.StatusForbidden, "already been used")
		if signedInAs(t, other, "alice@example.com") {
			t.Fatal("a replay signed a browser in")
		}
	})
}

func TestSSOUnsolicitedResponsesOnlyWhenAllowed(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		setup := ssoSetup{jit: true}
		env := connectSSO(t, app, nil, setup)
		env.idp.AddUser("alice", "alice@example.com", "Alice", "Liddell")
		c := app.client()

		w := watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), env.idpInitiated(t, "alice"), ""), http.StatusForbidden, "unsolicited response while IdP-initiated sign-in is off")
		// A crafted one (no InResponseTo) is refused the same way.
		w = watchACS(t, app)
		w.refused(postACS(t, c, env.acs(), env.forge(t, "", "alice@example.com").encode(t), ""), http.StatusForbidden, "unsolicited")

		// The administrator turns them on.
		setup.idpInitiated = true
		env.ac.post("/settings/sso", setup.form(env.idp.Metadata())).redirectsTo("/settings/sso")
		w = watchACS(t, app)
		w.accepted(postACS(t, c, env.acs(), env.idpInitiated(t, "alice"), ""))
		if got := activeAccount(t, c.get("/").status(http.StatusOK)); got != env.org.Account().Name {
			t.Fatalf("an IdP-initiated sign-in landed in %q", got)
		}
		// Still, a response naming a request that was never issued is
		// not taken for an unsolicited one.
		w = watchACS(t, app)
		w.refused(postACS(t, app.client(), env.acs(), env.forge(t, "id-never-issued", "alice@example.com").encode(t), ""), http.StatusForbidden, "never issued")
	})
}

func TestSSORefusesEmailsOutsideTheDomains(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true})
		env.idp.AddUser("mallory", "mallory@other.org", "Mallory", "M")
		env.idp.AddUser("sub", "sub@eu.example.com", "Sub", "Domain")
		for _, u := range []struct{ user, email string }{{"mallory", "mallory@other.org"}, {"sub", "sub@eu.example.com"}} {
			c := app.client()
			w := watchACS(t, app)
			w.refused(ssoSignIn(t, c, env.idp, env.login(), u.user), http.StatusForbidden, "email outside the organization's domains: "+u.email)
			if n := countRows(t, db, "users", "email = ?", u.email); n != 0 {
				t.Fatalf("%s was created", u.email)
			}
		}
	})
}

func TestSSORefusesNonMembersWhenJITIsOff(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{})
		m, _ := app.member(t, env.org, tenancy.RoleMember)
		env.idp.AddUser("m", m.Email, "Member", "One")
		env.idp.AddUser("bob", "bob@example.com", "Bob", "Unknown")

		// Control: a member signs in.
		w := watchACS(t, app)
		w.accepted(ssoSignIn(t, app.client(), env.idp, env.login(), "m"))

		// Removed by an administrator, they no longer can.
		env.ac.post("/settings/members/"+m.PublicID+"/remove", nil, "/settings/members/"+m.PublicID+"/remove").redirectsTo("/settings/members")
		w = watchACS(t, app)
		w.refused(ssoSignIn(t, app.client(), env.idp, env.login(), "m"), http.StatusForbidden, "not a member and JIT off: "+m.Email)
		if isMember(t, db, env.org, m) {
			t.Fatal("the refused sign-in made them a member again")
		}
		// Nor can someone unknown.
		w = watchACS(t, app)
		w.refused(ssoSignIn(t, app.client(), env.idp, env.login(), "bob"), http.StatusForbidden, "not a member and JIT off: bob@example.com")
		if n := countRows(t, db, "users", "email = ?", "bob@example.com"); n != 0 {
			t.Fatal("the refused sign-in created the user")
		}
	})
}

func TestSSOTwoSigningCertificatesForRollover(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		oldKey, oldCert := idptest.KeyPair(t, "old idp key")
		newKey, newCert := idptest.KeyPair(t, "new idp key")
		idp := idptest.NewWith(t, idptest.Options{Key: oldKey, Cert: oldCert, ExtraCerts: []*x509.Certificate{newCert}})
		env := connectSSO(t, app, idp, ssoSetup{jit: true})
		idp.AddUser("alice", "alice@example.com", "Alice", "Liddell")
		var stored string
		dbtest.Plain(t, db).Raw("SELECT idp_metadata_xml FROM sso_connections WHERE account_id = ?", env.org.AccountID()).Scan(&stored)
		for _, cert := range []*x509.Certificate{oldCert, newCert} {
			if !strings.Contains(stored, base64.StdEncoding.EncodeToString(cert.Raw)) {
				t.Fatal("the stored metadata lacks one of the two signing certificates")
			}
		}

		// Signed with the old key, then (rolled over) with the new one.
		w := watchACS(t, app)
		w.accepted(ssoSignIn(t, app.client(), idp, env.login(), "alice"))
		idp.Use(newKey, newCert, []*x509.Certificate{oldCert}, nil)
		w = watchACS(t, app)
		w.accepted(ssoSignIn(t, app.client(), idp, env.login(), "alice"))
		// A third key, in neither certificate: refused.
		thirdKey, thirdCert := idptest.KeyPair(t, "third key")
		idp.Use(thirdKey, thirdCert, nil, nil)
		w = watchACS(t, app)
		w.refused(ssoSignIn(t, app.client(), idp, env.login(), "alice"), http.StatusForbidden, "certificate")
	})
}

// ---------------------------------------------------------------------
// Enforce SSO and just-in-time provisioning.

func TestSSOEnforce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true})
		orgName, orgID := env.org.Account().Name, env.org.Account().PublicID
		// A regular member, active in the organization with a password
		// session, before enforcement is turned on.
		m, mc := app.member(t, env.org, tenancy.RoleMember)
		personal, err := tenancy.PersonalScope(t.Context(), db, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := activeAccount(t, mc.get("/").status(http.StatusOK)); got != orgName {
			t.Fatalf("the member is in %q before enforcement", got)
		}
		env.idp.AddUser("m", m.Email, "Member", "One")
		env.ac.post("/settings/sso", ssoSetup{jit: true, enforce: true}.form(env.idp.Metadata())).redirectsTo("/settings/sso")

		// Their next request lands in their personal account, with a notice.
		home := mc.get("/").status(http.StatusOK)
		if got := activeAccount(t, home); got != personal.Account().Name {
			t.Fatalf("a password session of a member is in %q under Enforce SSO", got)
		}
		home.contains(orgName + " requires single sign-on")
		mc.get("/settings/members").status(http.StatusNotFound) // the organization's pages are out of reach
		// Switching to it leads through the IdP.
		sw := mc.switchTo(orgID).redirectsTo(env.login())
		if got := activeAccount(t, mc.get("/").status(http.StatusOK)); got != personal.Account().Name {
			t.Fatalf("switching changed the active account to %q", got)
		}
		// A new password sign-in: the personal account works, the
		// organization does not.
		pc := app.client()
		pc.signIn(m.Email)
		if got := activeAccount(t, pc.get("/").status(http.StatusOK)); got != personal.Account().Name {
			t.Fatalf("a password sign-in landed in %q", got)
		}
		pc.switchTo(orgID).redirectsTo(env.login())

		// After signing in through the IdP, they are in, and may come and go.
		w := watchACS(t, app)
		w.accepted(ssoSignIn(t, mc, env.idp, sw.Location(), "m"))
		if got := activeAccount(t, mc.get("/").status(http.StatusOK)); got != orgName {
			t.Fatalf("an SSO session of a member is in %q", got)
		}
		mc.get("/settings/members").status(http.StatusOK)
		mc.switchTo(personal.Account().PublicID).status(http.StatusSeeOther)
		if r := mc.switchTo(orgID); r.Code != http.StatusSeeOther || strings.HasPrefix(r.Location(), "/sso/") {
			t.Fatalf("switching back from an SSO session: %d %s", r.Code, r.Location())
		}
		if got := activeAccount(t, mc.get("/").status(http.StatusOK)); got != orgName {
			t.Fatalf("back in %q", got)
		}

		// Administrators keep a password way in.
		if got := activeAccount(t, env.ac.get("/").status(http.StatusOK)); got != orgName {
			t.Fatalf("the administrator's password session is in %q", got)
		}
		admin2 := app.client()
		admin2.signIn(env.admin.Email)
		if r := admin2.switchTo(orgID); r.Code != http.StatusSeeOther || strings.HasPrefix(r.Location(), "/sso/") {
			t.Fatalf("an administrator switching with a password session: %d %s", r.Code, r.Location())
		}
		if got := activeAccount(t, admin2.get("/").status(http.StatusOK)); got != orgName {
			t.Fatalf("an administrator's password session is in %q", got)
		}
	})
}

func TestSSOJustInTimeProvisioning(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true, defaultRole: "admin"})
		orgName := env.org.Account().Name

		// An unknown email in the domain: a new user with a personal
		// account, a member with the default role.
		env.idp.AddUser("carol", "carol@example.com", "Carol", "Shaw")
		c := app.client()
		w := watchACS(t, app)
		w.accepted(ssoSignIn(t, c, env.idp, env.login(), "carol"))
		carol, err := models.FindUserByEmail(t.Context(), db, "carol@example.com")
		if err != nil || carol.Name != "Carol Shaw" || !carol.Verified() || carol.PasswordHash != "" {
			t.Fatalf("provisioned %+v, %v", carol, err)
		}
		if _, err := tenancy.PersonalScope(t.Context(), db, carol.ID); err != nil {
			t.Fatalf("no personal account: %v", err)
		}
		if s, err := tenancy.LoadScope(t.Context(), db, carol.ID, env.org.Account().PublicID); err != nil || s.Role() != tenancy.RoleAdmin {
			t.Fatalf("membership %v %v, want the default role (admin)", s.Role(), err)
		}
		if got := activeAccount(t, c.get("/").status(http.StatusOK)); got != orgName {
			t.Fatalf("landed in %q", got)
		}

		// A known, verified user who is not a member yet joins, and keeps
		// their password.
		dave, _ := dbtest.UserNamed(t, db, "Dave Null", "dave@example.com")
		dbtest.Plain(t, db).Exec("UPDATE users SET email_verified_at = ? WHERE id = ?", time.Now().UTC(), dave.ID)
		env.idp.AddUser("dave", "dave@example.com", "Dave", "Null")
		w = watchACS(t, app)
		w.accepted(ssoSignIn(t, app.client(), env.idp, env.login(), "dave"))
		if !isMember(t, db, env.org, dave) {
			t.Fatal("the known user did not join")
		}
		if n := countRows(t, db, "users", "email = ?", "dave@example.com"); n != 1 {
			t.Fatalf("%d users for dave", n)
		}
		app.client().signIn("dave@example.com") // the password still works

		// Someone registered erin@example.com first, never verified it,
		// and has two sessions.
		squatter := app.client()
		squatter.signUp("Squatter", "erin@example.com")
		squatter2 := app.client()
		squatter2.signIn("erin@example.com")
		erin, _ := models.FindUserByEmail(t.Context(), db, "erin@example.com")
		if erin.Verified() {
			t.Fatal("the squatter's address is verified")
		}
		env.idp.AddUser("erin", "erin@example.com", "Erin", "Real")
		ec := app.client()
		w = watchACS(t, app)
		w.accepted(ssoSignIn(t, ec, env.idp, env.login(), "erin"))
		linked, _ := models.GetUser(t.Context(), db, erin.ID)
		if !linked.Verified() || linked.PasswordHash != "" {
			t.Fatalf("the linked user: verified %v, password kept %v", linked.Verified(), linked.PasswordHash != "")
		}
		if n := countRows(t, db, "sessions", "user_id = ?", erin.ID); n != 1 {
			t.Fatalf("%d sessions for erin, want the SSO one only", n)
		}
		for _, sc := range []*client{squatter, squatter2} {
			if r := sc.get("/"); r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Location(), "/signin") {
				t.Fatalf("the squatter's session still works: %d %s", r.Code, r.Location())
			}
		}
		if r := app.client().post("/signin", url.Values{"email": {"erin@example.com"}, "password": {dbtest.Password}}); r.Code == http.StatusSeeOther {
			t.Fatal("the squatter's password still signs in")
		}
		if !signedInAs(t, ec, "erin@example.com") || activeAccount(t, ec.get("/")) != orgName {
			t.Fatal("erin's SSO session does not work")
		}
	})
}

// A squatter who registered the address first may also have made API keys
// in the personal account the real owner inherits: linking must stop them,
// as it stops the squatter's password and sessions.
func TestSSOLinkingAnUnverifiedUserStopsTheSquattersAPIKeys(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true})
		squatter := app.client()
		squatter.signUp("Squatter", "erin@example.com")
		page := squatter.post("/settings/api-keys", url.Values{"name": {"Backdoor"}}).status(http.StatusOK)
		secret := strings.TrimSpace(page.doc().Find("#new-api-key").Text())
		apiCall(t, app, secret, http.MethodGet, "/v1.3/indexes", "").status(http.StatusOK)

		env.idp.AddUser("erin", "erin@example.com", "Erin", "Real")
		w := watchACS(t, app)
		w.accepted(ssoSignIn(t, app.client(), env.idp, env.login(), "erin"))
		if r := apiCall(t, app, secret, http.MethodGet, "/v1.3/indexes", ""); r.Code != http.StatusUnauthorized {
			t.Fatalf("the squatter's API key still answers %d on the real owner's personal account after SSO linked it", r.Code)
		}
	})
}

// ---------------------------------------------------------------------
// Test the connection.

func TestSSOTestTheConnection(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true})
		env.idp.AddUser("alice", "alice@example.com", "Alice", "Liddell")
		env.idp.AddUser("mallory", "mallory@other.org", "Mallory", "M")
		var before sso.SSOConnection
		dbtest.Plain(t, db).Raw("SELECT * FROM sso_connections WHERE account_id = ?", env.org.AccountID()).Scan(&before)
		users := countRows(t, db, "users", "")
		audit := countRows(t, db, "audit_events", "")

		// runTest starts a test as the administrator and returns the
		// AuthnRequest's address at the IdP.
		runTest := func() string {
			r := env.ac.post("/settings/sso/test", nil, "/settings/sso")
			if r.Code != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), env.idp.URL("")) {
				t.Fatalf("the test did not go to the IdP: %d %s", r.Code, r.Header.Get("Location"))
			}
			return r.Header.Get("Location")
		}
		finish := func(samlResponse string) (*response, acsWatch) {
			w := watchACS(t, app)
			r := postACS(t, env.ac, env.acs(), samlResponse, "")
			if r.Code != http.StatusSeeOther || !strings.HasPrefix(r.Location(), "/settings/sso/test/") {
				t.Fatalf("the ACS answered a test with %d %s\n%s", r.Code, r.Location(), r.excerpt())
			}
			w.noSession(r)
			return r, w
		}

		// A working connection shows what came back.
		location := runTest()
		_, samlResponse, _ := idpAnswer(t, env.idp, location, "alice")
		r, _ := finish(samlResponse)
		resultPath := r.Location()
		result := env.ac.get(resultPath).status(http.StatusOK)
		ok := result.doc().Find(`[data-testid="sso-test-ok"]`)
		if ok.Length() != 1 || !strings.Contains(ok.Text(), "Alice Liddell") || !strings.Contains(ok.Text(), "alice@example.com") {
			t.Fatalf("the result does not show the mapped name and email:\n%s", result.excerpt())
		}
		received := result.doc().Find(`[data-testid="sso-test"] dl`).Text()
		for _, want := range []string{"NameID", "alice@example.com", "urn:oid:0.9.2342.19200300.100.1.3", "mail", "givenName", "Alice", "sn", "Liddell"} {
			if !strings.Contains(received, want) {
				t.Errorf("the received attributes lack %q:\n%s", want, received)
			}
		}
		// The same response again is refused: the test request is used.
		w := watchACS(t, app)
		w.refused(postACS(t, env.ac, env.acs(), samlResponse, ""), http.StatusForbidden, "already consumed")

		// A refusal shows its exact reason: outside the domains…
		_, samlResponse, _ = idpAnswer(t, env.idp, runTest(), "mallory")
		r, _ = finish(samlResponse)
		refusal := env.ac.get(r.Location()).status(http.StatusOK).doc().Find(`[data-testid="sso-test-refusal"]`).Text()
		if !strings.Contains(refusal, "mallory@other.org is outside the organization's domains (example.com)") {
			t.Fatalf("refusal shown: %q", refusal)
		}
		// …or a signature by another key, with the reason logged.
		requestID := requestIDOf(t, runTest())
		f := env.forge(t, requestID, "alice@example.com")
		f.key, f.cert = idptest.KeyPair(t, "attacker")
		r, w = finish(f.encode(t))
		logged := w.refusals()
		if len(logged) != 1 || !strings.Contains(logged[0], "certificate") {
			t.Fatalf("logged refusals: %v", logged)
		}
		refusal = strings.TrimSpace(env.ac.get(r.Location()).status(http.StatusOK).doc().Find(`[data-testid="sso-test-refusal"] p`).Last().Text())
		if !strings.Contains(refusal, "certificate") || !strings.Contains(logged[0], `reason="`+refusal+`"`) {
			t.Fatalf("refusal shown %q, logged %q", refusal, logged[0])
		}

		// Nothing changed: no user, no membership, the same settings, the
		// administrator's session untouched.
		if n := countRows(t, db, "users", ""); n != users {
			t.Fatalf("%d users after tests, %d before", n, users)
		}
		if n := countRows(t, db, "audit_events", "action = ?", "Signed in with SSO"); n != 0 {
			t.Fatalf("tests recorded %d sign-ins", n)
		}
		_ = audit
		var after sso.SSOConnection
		dbtest.Plain(t, db).Raw("SELECT * FROM sso_connections WHERE account_id = ?", env.org.AccountID()).Scan(&after)
		if !after.UpdatedAt.Equal(before.UpdatedAt) || after.IDPMetadataXML != before.IDPMetadataXML || after.JIT != before.JIT {
			t.Fatal("a test changed the connection")
		}
		if !signedInAs(t, env.ac, env.admin.Email) || activeAccount(t, env.ac.get("/")) != env.org.Account().Name {
			t.Fatal("a test changed the administrator's session")
		}

		// Another administrator cannot read it; a regular member cannot run one.
		_, other := app.member(t, env.org, tenancy.RoleAdmin)
		other.get(resultPath).status(http.StatusNotFound)
		_, mc := app.member(t, env.org, tenancy.RoleMember)
		mc.get(resultPath).status(http.StatusForbidden)
		mc.post("/settings/sso/test", nil, "/").status(http.StatusForbidden)
		// An unknown result is a 404.
		env.ac.get("/settings/sso/test/id-nothing").status(http.StatusNotFound)
	})
}

// ---------------------------------------------------------------------
// Settings, discovery, the audit log and the members list.

func TestSSOSettingsForm(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		admin, org, ac := orgAdmin(t, app)
		idp := idptest.New(t)
		md := idp.Metadata()
		good := ssoSetup{jit: true}.form(md)
		with := func(k, v string) url.Values {
			f := url.Values{}
			for key, vs := range good {
				f[key] = vs
			}
			f.Set(k, v)
			return f
		}
		noCert := etree.NewDocument()
		if err := noCert.ReadFromString(md); err != nil {
			t.Fatal(err)
		}
		xmlRemoveAll(noCert.Root(), "KeyDescriptor")
		noCertXML, _ := noCert.WriteToString()
		// Another organization proved it owns example.org.
		connectSSO(t, app, idp, ssoSetup{domains: "example.org"})
		tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, md) }))
		t.Cleanup(tls.Close)
		tlsURL, _ := url.Parse(tls.URL)

		for _, tc := range []struct {
			name, field, msg string
			form             url.Values
		}{
			{"not metadata", "metadata_xml", "not SAML metadata", with("metadata_xml", "<nope/>")},
			{"not XML", "metadata_xml", "not SAML metadata", with("metadata_xml", "metadata, honest")},
			{"no signing certificate", "metadata_xml", "no signing certificate", with("metadata_xml", noCertXML)},
			{"no metadata", "metadata_xml", "Paste the identity provider", with("metadata_xml", "")},
			{"invalid domain", "domains", "is not a domain name", with("domains", "example.com, exa_mple.com")},
			{"a bare name", "domains", "is not a domain name", with("domains", "localhost")},
			{"public domain", "domains", "public email service", with("domains", "example.com, gmail.com")},
			{"domain proved by another", "domains", "Another organization has proved it owns example.org", with("domains", "example.com, example.org")},
			{"bad role", "default_role", "Choose Administrator or Regular user", with("default_role", "owner")},
			{"IdP-initiated without the confirmation", "confirm_idp_initiated", "login CSRF", with("allow_idp_initiated", "on")},
			{"IdP-initiated confirmed with a wrong value", "confirm_idp_initiated", "login CSRF", func() url.Values {
				f := with("allow_idp_initiated", "on")
				f.Set("confirm_idp_initiated", "off")
				return f
			}()},
			{"http metadata URL", "metadata_url", "must start with https://", func() url.Values {
				f := with("metadata_xml", "")
				f.Set("metadata_url", idp.URL("/metadata"))
				return f
			}()},
			{"loopback metadata URL", "metadata_url", "private or reserved network address", func() url.Values {
				f := with("metadata_xml", "")
				f.Set("metadata_url", tls.URL+"/metadata")
				return f
			}()},
			{"localhost metadata URL", "metadata_url", "private or reserved network address", func() url.Values {
				f := with("metadata_xml", "")
				f.Set("metadata_url", "https://localhost:"+tlsURL.Port()+"/metadata")
				return f
			}()},
			{"private metadata URL", "metadata_url", "private or reserved network address", func() url.Values {
				f := with("metadata_xml", "")
				f.Set("metadata_url", "https://10.255.255.1/metadata")
				return f
			}()},
			{"metadata URL that is no URL", "metadata_url", "full https:// URL", func() url.Values {
				f := with("metadata_xml", "")
				f.Set("metadata_url", "idp.example.com/metadata")
				return f
			}()},
		} {
			r := ac.post("/settings/sso", tc.form).status(http.StatusUnprocessableEntity)
			if msg := r.doc().Find("#field-" + tc.field + "-error").Text(); !strings.Contains(msg, tc.msg) {
				t.Errorf("%s: %s error %q, want %q", tc.name, tc.field, msg, tc.msg)
			}
			if n := countRows(t, db, "sso_connections", "account_id = ?", org.AccountID()); n != 0 {
				t.Fatalf("%s: saved", tc.name)
			}
			// The form keeps what was typed.
			if tc.field == "domains" || tc.field == "metadata_url" {
				if got := r.doc().Find("#field-"+tc.field).AttrOr("value", ""); got != tc.form.Get(tc.field) {
					t.Errorf("%s: %s is %q, want what was typed, %q", tc.name, tc.field, got, tc.form.Get(tc.field))
				}
			}
		}

		// Nothing to test before the connection is saved (a page from
		// before it was removed): the page says so, and nothing starts.
		r := ac.post("/settings/sso/test", nil, "/settings/sso").status(http.StatusUnprocessableEntity)
		if msg := r.doc().Find("#field-metadata_xml-error").Text(); !strings.Contains(msg, "Save the identity provider's metadata first.") {
			t.Errorf("testing before saving: %q", msg)
		}
		if n := countRows(t, db, "sso_requests", "account_id = ?", org.AccountID()); n != 0 {
			t.Fatalf("%d SSO requests recorded", n)
		}

		// Saved; the page shows what to paste into the IdP.
		ac.post("/settings/sso", good).redirectsTo("/settings/sso")
		page := ac.get("/settings/sso").status(http.StatusOK)
		slug := org.Account().SlugOrEmpty()
		if got := page.doc().Find("#sp-entity-id").Text(); got != app.srv.URL+"/sso/"+slug+"/metadata" {
			t.Errorf("entity ID %q", got)
		}
		if got := page.doc().Find("#sp-acs").Text(); got != app.srv.URL+"/sso/"+slug+"/acs" {
			t.Errorf("ACS %q", got)
		}
		page.contains("Connected to").contains(idp.EntityID())
		if n := countRows(t, db, "audit_events", "account_id = ? AND action = ?", org.AccountID(), "sso.configured"); n != 1 {
			t.Fatalf("%d sso.configured events", n)
		}
		ac.get("/settings/audit-log").status(http.StatusOK).contains("Changed single sign-on").contains("domains example.com")
		app.client().get("/sso/" + slug + "/metadata?download=1").status(http.StatusOK).contains(app.srv.URL + "/sso/" + slug + "/acs")

		// Not for regular members, nor in a personal account.
		_, mc := app.member(t, org, tenancy.RoleMember)
		mc.get("/settings/sso").status(http.StatusForbidden)
		mc.post("/settings/sso", good, "/").status(http.StatusForbidden)
		ac.switchTo(func() string {
			p, _ := tenancy.PersonalScope(t.Context(), db, admin.ID)
			return p.Account().PublicID
		}()).status(http.StatusSeeOther)
		ac.get("/settings/sso").status(http.StatusNotFound)
		ac.post("/settings/sso", good, "/").status(http.StatusNotFound)
		ac.post("/settings/sso/test", nil, "/").status(http.StatusNotFound)
	})
}

// The SP key pair is read once; while the database cannot give it, the
// requests that need it fail (concurrently, as after a restart under load)
// and the first one after it recovers reads it. Run with -race.
func TestSSOSPKeyLoadedOnceTheDatabaseRecovers(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, org, _ := orgAdmin(t, app)
		path := "/sso/" + org.Account().SlugOrEmpty() + "/metadata"
		if err := dbtest.Plain(t, db).Exec("ALTER TABLE sp_keys RENAME TO sp_keys_away").Error; err != nil {
			t.Fatal(err)
		}
		codes := make(chan int, 8)
		for range cap(codes) {
			go func() {
				res, err := http.Get(app.srv.URL + path)
				if err != nil {
					codes <- 0
					return
				}
				res.Body.Close()
				codes <- res.StatusCode
			}()
		}
		for range cap(codes) {
			if code := <-codes; code < 500 {
				t.Errorf("the SP metadata without its key answered %d", code)
			}
		}
		if err := dbtest.Plain(t, db).Exec("ALTER TABLE sp_keys_away RENAME TO sp_keys").Error; err != nil {
			t.Fatal(err)
		}
		app.client().get(path).status(http.StatusOK).contains("SPSSODescriptor")
	})
}

func TestSSOMetadataURLFetched(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db, func(c *handlers.Config) { c.AllowPrivateMetadataHosts = true })
		_, org, ac := orgAdmin(t, app)
		idp := idptest.New(t)
		f := ssoSetup{jit: true}.form("")
		f.Set("metadata_url", idp.URL("/nothing-here"))
		ac.post("/settings/sso", f).status(http.StatusUnprocessableEntity).contains("The metadata URL answered 404")
		f.Set("metadata_url", idp.URL("/metadata"))
		ac.post("/settings/sso", f).redirectsTo("/settings/sso")
		var conn sso.SSOConnection
		dbtest.Plain(t, db).Raw("SELECT * FROM sso_connections WHERE account_id = ?", org.AccountID()).Scan(&conn)
		if conn.IDPMetadataURL != idp.URL("/metadata") || conn.IDPEntityID != idp.EntityID() || !strings.Contains(conn.IDPMetadataXML, "IDPSSODescriptor") {
			t.Fatalf("saved %+v", conn)
		}
		// Fetched metadata that is not metadata is refused on the URL field.
		junk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "<html>hi</html>") }))
		t.Cleanup(junk.Close)
		f.Set("metadata_url", junk.URL)
		r := ac.post("/settings/sso", f).status(http.StatusUnprocessableEntity)
		if msg := r.doc().Find("#field-metadata_url-error").Text(); !strings.Contains(msg, "not SAML metadata") {
			t.Fatalf("metadata_url error %q", msg)
		}
		// Larger than 1 MiB.
		big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, strings.Repeat(" ", sso.MaxMetadataSize+10))
		}))
		t.Cleanup(big.Close)
		f.Set("metadata_url", big.URL)
		ac.post("/settings/sso", f).status(http.StatusUnprocessableEntity).contains("larger than 1 MiB")
	})
}

func TestSSOAuditLogAndMembersList(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true})
		env.idp.AddUser("alice", "alice@example.com", "Alice", "Liddell")
		watchACS(t, app).accepted(ssoSignIn(t, app.client(), env.idp, env.login(), "alice"))
		if n := countRows(t, db, "audit_events", "account_id = ? AND action = ?", env.org.AccountID(), "sso.signed_in"); n != 1 {
			t.Fatalf("%d sso.signed_in events", n)
		}
		env.ac.get("/settings/audit-log").status(http.StatusOK).contains("Signed in with SSO").contains("Changed single sign-on").contains("NameID alice@example.com")
		alice, _ := models.FindUserByEmail(t.Context(), db, "alice@example.com")
		row := env.ac.get("/settings/members").status(http.StatusOK).doc().Find(`[data-testid="member-table"] tr[data-member="` + alice.PublicID + `"]`)
		if row.Length() != 1 || !strings.Contains(row.Text(), "Single sign-on") {
			t.Fatalf("members list row for alice: %q", row.Text())
		}
		adminRow := env.ac.get("/settings/members").doc().Find(`tr[data-member="` + env.admin.PublicID + `"]`)
		if strings.Contains(adminRow.Text(), "Single sign-on") {
			t.Fatalf("the password administrator is listed with single sign-on: %q", adminRow.Text())
		}
	})
}

func TestSSODiscovery(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true})
		_, plain, _ := orgAdmin(t, app) // an organization without SSO
		c := app.client()
		c.get("/signin/sso").status(http.StatusOK)
		c.post("/signin/sso", url.Values{"email": {" Someone@EXAMPLE.com "}}).redirectsTo(env.login())
		c.post("/signin/sso", url.Values{"email": {env.slug}}).redirectsTo(env.login())
		c.post("/signin/sso", url.Values{"email": {strings.ToUpper(env.slug)}}).redirectsTo(env.login())
		for _, in := range []string{"someone@unknown.example", "no-such-org", plain.Account().SlugOrEmpty(), "@", ""} {
			c.post("/signin/sso", url.Values{"email": {in}}).status(http.StatusUnprocessableEntity).contains("No organization signs in with single sign-on")
		}
		// And from there to the IdP.
		startSSO(t, c, env.idp, env.login())
		// An organization without a connection has no sign-in to start.
		c.get("/sso/" + plain.Account().SlugOrEmpty() + "/login").status(http.StatusNotFound)
		c.get("/sso/no-such-org/login").status(http.StatusNotFound)
	})
}

func TestSSOACSRefusesMalformedPosts(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true, idpInitiated: true})
		_, plain, _ := orgAdmin(t, app)
		c := app.client()
		post := func(path string, form url.Values) *response {
			req, _ := http.NewRequest(http.MethodPost, app.srv.URL+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return c.do(req)
		}
		w := watchACS(t, app)
		w.refused(post(env.acs(), url.Values{}), http.StatusBadRequest, "no usable SAMLResponse")
		w = watchACS(t, app)
		w.refused(post(env.acs(), url.Values{"SAMLart": {"AAQAAMFbLinlXaCM+FIxiDwGOLAy2T71gbpO7ZhNzAgEANlB90ECfpNEVLg="}, "SAMLResponse": {"x"}}), http.StatusBadRequest, "no usable SAMLResponse")
		w = watchACS(t, app)
		w.refused(post(env.acs(), url.Values{"SAMLResponse": {strings.Repeat("A", 300<<10)}}), http.StatusBadRequest)
		for _, junk := range []string{"%%%not base64", base64.StdEncoding.EncodeToString([]byte("<samlp:Response")), base64.StdEncoding.EncodeToString([]byte("hello"))} {
			w = watchACS(t, app)
			w.refused(post(env.acs(), url.Values{"SAMLResponse": {junk}}), http.StatusForbidden)
		}
		// InResponseTo that no database could store as a key.
		for id, reason := range map[string]string{"&#1;": "illegal character", "\xff\xfe": "invalid UTF-8", strings.Repeat("x", 10000): "never issued", "id-\u00e9\u20ac": "never issued"} {
			xmlDoc := `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="r" Version="2.0" InResponseTo="` + id + `"/>`
			w = watchACS(t, app)
			w.refused(post(env.acs(), url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString([]byte(xmlDoc))}}), http.StatusForbidden, reason)
		}
		// No connection, no organization.
		w = watchACS(t, app)
		w.refused(post("/sso/"+plain.Account().SlugOrEmpty()+"/acs", url.Values{"SAMLResponse": {"x"}}), http.StatusNotFound, "no connection")
		post("/sso/no-such-org/acs", url.Values{"SAMLResponse": {"x"}}).status(http.StatusNotFound)
		if n := countRows(t, db, "sessions", ""); n != w.sessions {
			t.Fatal("a session appeared")
		}
	})
}

// ---------------------------------------------------------------------
// Weaknesses found while writing these tests (they fail until fixed).

// The ACS checks that InResponseTo names a request this SP issued, not that
// the browser posting the response is the one that started that request:
// an attacker can start a sign-in, answer it at the IdP as themselves and
// have a victim's browser post the response (an auto-submitting form on
// any site), which signs the victim in as the attacker (login CSRF).
func TestSSOResponseOnlyForTheBrowserThatStartedTheSignIn(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true})
		env.idp.AddUser("mallory", "mallory@example.com", "Mallory", "M")
		attacker := app.client()
		samlResponse, _ := env.genuine(t, attacker, "mallory")

		victim := app.client()
		w := watchACS(t, app)
		posted := postACSOnly(t, victim, env.acs(), samlResponse, "")
		r := posted
		if posted.Code == http.StatusSeeOther && strings.Contains(posted.Location(), "/complete?") {
			r = victim.get(posted.Location())
		}
		if r.Code == http.StatusSeeOther && signedInAs(t, victim, "mallory@example.com") {
			t.Fatal("a browser that never started a sign-in was signed in as the attacker with the attacker's response")
		}
		w.refused(r, http.StatusForbidden)
		// The browser that started it (holding its nonce cookie) finishes it.
		watchACS(t, app).accepted(attacker.get(posted.Location()))
	})
}

// Two tabs of one browser start a sign-in each (a double click, or two tabs
// sent to the IdP by Enforce SSO): each finishes, in either order, once.
func TestSSOSignInsStartedInTwoTabsBothFinish(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		env := connectSSO(t, app, nil, ssoSetup{jit: true})
		env.idp.AddUser("alice", "alice@example.com", "Alice", "Liddell")
		c := app.client()
		first, second := startSSO(t, c, env.idp, env.login()), startSSO(t, c, env.idp, env.login())
		_, firstResponse, _ := idpAnswer(t, env.idp, first, "alice")
		_, secondResponse, _ := idpAnswer(t, env.idp, second, "alice")

		// The tab that started first finishes first.
		posted := postACSOnly(t, c, env.acs(), firstResponse, "")
		if posted.Code != http.StatusSeeOther || !strings.Contains(posted.Location(), "/complete?") {
			t.Fatalf("the ACS answered %d %q", posted.Code, posted.Location())
		}
		watchACS(t, app).accepted(c.get(posted.Location()))
		// Finishing it again (the back button, a reload) signs nobody in.
		watchACS(t, app).refused(c.get(posted.Location()), http.StatusForbidden, "or twice")
		// The second tab finishes too.
		watchACS(t, app).accepted(postACS(t, c, env.acs(), secondResponse, ""))
		if !signedInAs(t, c, "alice@example.com") {
			t.Fatal("alice is not signed in")
		}
	})
}

// An administrator names the organization's email domains and nothing
// proves the organization owns them. With JIT on, the organization's IdP
// (which its administrator controls) can then assert any address in such a
// domain, and the ACS signs the browser in as the existing user with that
// address: their personal account and their other organizations included.
func TestSSOCannotTakeOverExistingUsersOfAnUnprovenDomain(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		victim, _ := dbtest.UserNamed(t, db, "Victor Tim", "victor@victim.example")
		dbtest.Plain(t, db).Exec("UPDATE users SET email_verified_at = ? WHERE id = ?", time.Now().UTC(), victim.ID)

		// Someone else's organization, with an IdP of their own.
		_, org, ac := orgAdmin(t, app)
		idp := idptest.New(t)
		r := ac.post("/settings/sso", ssoSetup{jit: true, domains: "victim.example"}.form(idp.Metadata()))
		if r.Code == http.StatusUnprocessableEntity {
			return // claiming a domain takes a proof of ownership: fixed
		}
		r.redirectsTo("/settings/sso")
		env := &ssoEnv{app: app, ac: ac, idp: idp, slug: org.Account().SlugOrEmpty()}
		env.register(t, idp, false)
		idp.AddUser("victor", "victor@victim.example", "Victor", "Tim")
		c := app.client()
		ssoSignIn(t, c, idp, env.login(), "victor")
		if signedInAs(t, c, "victor@victim.example") {
			t.Fatal("an organization's own IdP signed a browser in as an existing user of a domain the organization merely typed in")
		}
	})
}

func TestSSODomainVerificationByDNS(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		records := map[string][]string{}
		app := newApp(t, db, func(cfg *handlers.Config) {
			cfg.LookupTXT = func(_ context.Context, name string) ([]string, error) {
				if r, ok := records[name]; ok {
					return r, nil
				}
				return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
			}
		})
		env := connectSSO(t, app, nil, ssoSetup{jit: true, unproved: true})
		page := env.ac.get("/settings/sso").status(http.StatusOK)
		name := strings.TrimSpace(page.doc().Find(`[data-testid="sso-domains"] code`).First().Text())
		value := strings.TrimSpace(page.doc().Find(`[data-testid="sso-domains"] code`).Eq(1).Text())
		if name != "_switchboard.example.com" || !strings.HasPrefix(value, "switchboard-domain-verification=") {
			t.Fatalf("record %q = %q", name, value)
		}
		// An existing user of the unproved domain is refused.
		dave, _ := dbtest.UserNamed(t, db, "Dave Null", "dave@example.com")
		env.idp.AddUser("dave", "dave@example.com", "Dave", "Null")
		w := watchACS(t, app)
		w.refused(ssoSignIn(t, app.client(), env.idp, env.login(), "dave"), http.StatusForbidden, "unproved domain")
		if isMember(t, db, env.org, dave) {
			t.Fatal("an unproved domain's IdP joined an existing user")
		}
		// No record yet: verification fails and says so.
		env.ac.post("/settings/sso/domains/verify", url.Values{"domain": {"example.com"}}, "/settings/sso").
			status(http.StatusUnprocessableEntity).contains("Could not verify example.com")
		// A wrong value fails too; the right one proves the domain.
		records[name] = []string{"switchboard-domain-verification=wrong"}
		env.ac.post("/settings/sso/domains/verify", url.Values{"domain": {"example.com"}}, "/settings/sso").
			status(http.StatusUnprocessableEntity).contains("Could not verify example.com")
		records[name] = []string{"v=spf1 -all", value}
		env.ac.post("/settings/sso/domains/verify", url.Values{"domain": {"example.com"}}, "/settings/sso").redirectsTo("/settings/sso")
		env.ac.get("/settings/sso").contains("example.com is proved")
		// Now the IdP speaks for the existing user.
		watchACS(t, app).accepted(ssoSignIn(t, app.client(), env.idp, env.login(), "dave"))
		if !isMember(t, db, env.org, dave) {
			t.Fatal("the proved domain's existing user did not join")
		}
		// Someone else's domain is 404; a regular member may not verify.
		env.ac.post("/settings/sso/domains/verify", url.Values{"domain": {"other.example"}}, "/settings/sso").status(http.StatusNotFound)
		_, mc := app.member(t, env.org, tenancy.RoleMember)
		mc.post("/settings/sso/domains/verify", url.Values{"domain": {"example.com"}}, "/indexes/new").status(http.StatusForbidden)
	})
}
