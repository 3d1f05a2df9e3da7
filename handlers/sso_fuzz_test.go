package handlers_test

import (
	"encoding/base64"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/handlers/idptest"
	"switchboard/models/dbtest"
)

// acsTarget is an organization connected to a test IdP whose ACS takes
// fuzzed SAMLResponse values. Its seeds are responses of every kind, none of
// which may be accepted: genuine ones already used, forged ones, broken ones.
type acsTarget struct {
	app      *testApp
	env      *ssoEnv
	sessions int64
	seeds    []string
}

func newACSTarget(tb testing.TB, db *gorm.DB) *acsTarget {
	tb.Helper()
	app := newApp(tb, db)
	env := connectSSO(tb, app, nil, ssoSetup{jit: true, idpInitiated: true, inClear: true})
	env.idp.AddUser("alice", "alice@example.com", "Alice", "Liddell")
	c := app.client()

	// Genuine responses, used once already: every copy is a replay.
	genuine, _ := env.genuine(tb, c, "alice")
	watchACS(tb, app).accepted(postACS(tb, c, env.acs(), genuine, ""))
	unsolicited := env.idpInitiated(tb, "alice")
	watchACS(tb, app).accepted(postACS(tb, c, env.acs(), unsolicited, ""))
	raw, _ := base64.StdEncoding.DecodeString(genuine)

	// Forged answers to a request that stays open.
	open := env.request(tb, c)
	otherKey, otherCert := idptest.KeyPair(tb, "fuzz attacker")
	byOtherKey := env.forge(tb, open, "alice@example.com")
	byOtherKey.key, byOtherKey.cert = otherKey, otherCert
	unsigned := env.forge(tb, open, "alice@example.com")
	unsigned.signResponse, unsigned.signAssertion = false, false
	encrypted := byOtherKey
	encrypted.encryptTo = spEncryptionCert(tb, byOtherKey.sp)
	wrapped := decodeResponse(tb, genuine)
	resp := wrapped.Root()
	resp.RemoveChild(xmlChild(tb, resp, "Signature"))
	forged := xmlChild(tb, resp, "Assertion").Copy()
	xmlRemoveAll(forged, "Signature")
	xmlReplaceText(forged, "alice@example.com", env.admin.Email)
	resp.AddChild(forged)

	b64 := base64.StdEncoding.EncodeToString
	var mime strings.Builder
	for i := 0; i < len(genuine); i += 76 {
		mime.WriteString(genuine[i:min(i+76, len(genuine))] + "\r\n")
	}
	t := &acsTarget{app: app, env: env}
	t.seeds = []string{
		genuine,
		unsolicited,
		base64.URLEncoding.EncodeToString(raw),
		base64.RawStdEncoding.EncodeToString(raw),
		mime.String(),
		"  " + genuine + "\n",
		b64(raw[:len(raw)/2]),
		genuine[:len(genuine)/2],
		string(raw),
		byOtherKey.encode(tb),
		unsigned.encode(tb),
		encrypted.encode(tb),
		encodeDoc(tb, wrapped),
		"",
		"garbage",
		"\x00\xff\xfe",
		b64([]byte("<x/>")),
		b64([]byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="r" Version="2.0" InResponseTo="` + open + `"/>`)),
		b64([]byte(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;</samlp:Response>`)),
		b64([]byte(`<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><l>&c;</l>`)),
	}
	t.sessions = countSessions(tb, db)
	return t
}

// check posts samlResponse to the ACS (in process, through the whole
// router): it must be refused with a client error, creating no session.
func (a *acsTarget) check(t *testing.T, samlResponse string) {
	req := httptest.NewRequest(http.MethodPost, a.env.acs(), strings.NewReader(url.Values{"SAMLResponse": {samlResponse}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	rec := httptest.NewRecorder()
	a.app.e.ServeHTTP(rec, req)
	res := rec.Result()
	if res.StatusCode == http.StatusSeeOther || (res.StatusCode >= 200 && res.StatusCode < 400) {
		t.Fatalf("the ACS accepted %q: %d %s", samlResponse, res.StatusCode, res.Header.Get("Location"))
	}
	if res.StatusCode >= 500 {
		t.Fatalf("the ACS failed (a panic or an unhandled error) on %q: %d", samlResponse, res.StatusCode)
	}
	for _, c := range res.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "switchboard_session=") {
			t.Fatalf("the ACS set a session cookie for %q", samlResponse)
		}
	}
	var n int64
	if err := dbtest.Plain(t, a.app.db).Raw("SELECT COUNT(*) FROM sessions").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != a.sessions {
		t.Fatalf("a session was created for %q", samlResponse)
	}
}

// FuzzACS fuzzes the SAMLResponse posted to an organization's ACS: it must
// never panic, fail, accept or create a session. Without -fuzz it runs its
// seeds as a test.
//
//	go test -run '^$' -fuzz FuzzACS -fuzztime 20s ./handlers/
func FuzzACS(f *testing.F) {
	// A new input is minimized before fuzzing goes on; at a few
	// milliseconds an execution, minimizing a 10 kB response would hold a
	// worker for the default 60 s, most of a short CI run. Unless the
	// command line says otherwise, keep new inputs as found.
	explicit := false
	flag.Visit(func(fl *flag.Flag) { explicit = explicit || fl.Name == "test.fuzzminimizetime" })
	if !explicit {
		if err := flag.Set("test.fuzzminimizetime", "10x"); err != nil {
			f.Fatal(err)
		}
	}
	target := newACSTarget(f, dbtest.SQLite(f))
	for _, s := range target.seeds {
		f.Add(s)
	}
	f.Fuzz(target.check)
}

// TestACSSeedsOnBothDatabases runs the fuzz seeds on SQLite and PostgreSQL.
func TestACSSeedsOnBothDatabases(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		target := newACSTarget(t, db)
		for _, s := range target.seeds {
			target.check(t, s)
		}
	})
}
