// Package idptest runs a SAML identity provider in the test process
// (crewjam's samlidp behind httptest) and makes the keys and certificates
// that identity providers sign with, so tests can sign people in through
// SSO end to end.
package idptest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crewjam/saml/samlidp"
	dsig "github.com/russellhaering/goxmldsig"
)

// Password is every user's password at the IdP.
const Password = "hunter2hunter2"

// KeyPair makes a 2048-bit RSA key and a self-signed certificate for it
// named cn, valid from an hour ago for a day.
func KeyPair(t testing.TB, cn string) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

// PEM encodes a key (PKCS #1) and its certificate, for identity providers
// that read them from files.
func PEM(key *rsa.PrivateKey, cert *x509.Certificate) (keyPEM, certPEM string) {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})),
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
}

// Options change the IdP New starts. The zero value is a new key pair, the
// real clock, and the IdP known by its listening address.
type Options struct {
	// Key and Cert sign the IdP's responses; a new pair when nil.
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
	// ExtraCerts are published in the metadata too, as before a key
	// rollover; they sign nothing.
	ExtraCerts []*x509.Certificate
	// Clock is the IdP's clock; the real one when nil.
	Clock *dsig.Clock
	// Host names the IdP in its own URLs (entity ID, sign-in address)
	// instead of 127.0.0.1: "localhost" puts it on another site than a
	// server on 127.0.0.1, as far as browsers are concerned.
	Host string
	// SignatureMethod is the XML signature algorithm the IdP signs with
	// (dsig.RSASHA1SignatureMethod: SHA-1 signatures and digests, as a
	// legacy IdP's); RSA-SHA256 when empty.
	SignatureMethod string
}

// IdP is an identity provider that lives until the test ends. Its users,
// registered service providers and sessions survive Use.
type IdP struct {
	t       testing.TB
	srv     *httptest.Server
	base    string
	store   samlidp.Store
	current atomic.Pointer[samlidp.Server]
	key     *rsa.PrivateKey
	cert    *x509.Certificate
	// sigMethod is Options.SignatureMethod, kept across Use.
	sigMethod string
}

// New starts an IdP with a new key pair.
func New(t testing.TB) *IdP {
	t.Helper()
	return NewWith(t, Options{})
}

// NewWith starts an IdP as o says.
func NewWith(t testing.TB, o Options) *IdP {
	t.Helper()
	if o.Key == nil {
		o.Key, o.Cert = KeyPair(t, "test idp")
	}
	i := &IdP{t: t, store: &samlidp.MemoryStore{}, sigMethod: o.SignatureMethod}
	i.srv = httptest.NewUnstartedServer(http.HandlerFunc(i.serve))
	i.srv.Start()
	t.Cleanup(i.srv.Close)
	i.base = i.srv.URL
	if o.Host != "" {
		u, _ := url.Parse(i.srv.URL)
		u.Host = o.Host + ":" + u.Port()
		i.base = u.String()
	}
	i.Use(o.Key, o.Cert, o.ExtraCerts, o.Clock)
	return i
}

func (i *IdP) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/favicon.ico" { // as a real IdP's site has one: no 404 in a browser's console
		w.WriteHeader(http.StatusNoContent)
		return
	}
	i.current.Load().ServeHTTP(w, r)
}

// Use replaces the IdP's key, certificate, published extra certificates and
// clock (the real one when nil), as a key rollover or a skewed clock does.
// Tests call it between requests.
func (i *IdP) Use(key *rsa.PrivateKey, cert *x509.Certificate, extra []*x509.Certificate, clock *dsig.Clock) {
	i.t.Helper()
	u, _ := url.Parse(i.base)
	s, err := samlidp.New(samlidp.Options{URL: *u, Key: key, Certificate: cert, ExtraCertificates: extra, Store: i.store, Clock: clock})
	if err != nil {
		i.t.Fatal(err)
	}
	s.IDP.SignatureMethod = i.sigMethod
	i.key, i.cert = key, cert
	i.current.Store(s)
}

// Key is the key the IdP signs with now.
func (i *IdP) Key() *rsa.PrivateKey { return i.key }

// Cert is the certificate of Key.
func (i *IdP) Cert() *x509.Certificate { return i.cert }

// EntityID is the IdP's SAML entity ID (its metadata URL).
func (i *IdP) EntityID() string { return i.current.Load().IDP.MetadataURL.String() }

// URL is a page of the IdP as its own URLs name it (see Options.Host).
func (i *IdP) URL(path string) string { return i.base + path }

// Do calls the IdP's administrative API, at the address it listens on, and
// returns the answer's body; an error or a status of 300 or more fails the
// test.
func (i *IdP) Do(method, path, body string) string {
	i.t.Helper()
	req, err := http.NewRequest(method, i.srv.URL+path, strings.NewReader(body))
	if err != nil {
		i.t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		i.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		i.t.Fatalf("IdP %s %s: %d %s", method, path, res.StatusCode, b)
	}
	return string(b)
}

// Metadata is the IdP's metadata XML.
func (i *IdP) Metadata() string { return i.Do(http.MethodGet, "/metadata", "") }

// AddUser creates a user who signs in with Password.
func (i *IdP) AddUser(name, email, given, surname string) {
	i.t.Helper()
	i.Do(http.MethodPut, "/users/"+name, fmt.Sprintf(`{"name":%q,"password":%q,"email":%q,"given_name":%q,"surname":%q}`,
		name, Password, email, given, surname))
}

// RegisterSP gives the IdP a service provider's metadata XML under id, as
// the IdP's administrator would.
func (i *IdP) RegisterSP(id, metadata string) {
	i.t.Helper()
	i.Do(http.MethodPut, "/services/"+id, metadata)
}

// RegisterSPFrom registers under id the service provider metadata that
// metadataURL serves.
func (i *IdP) RegisterSPFrom(id, metadataURL string) {
	i.t.Helper()
	res, err := http.Get(metadataURL)
	if err != nil {
		i.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		i.t.Fatalf("SP metadata at %s: %d %s", metadataURL, res.StatusCode, b)
	}
	i.RegisterSP(id, string(b))
}

// SignedIn is an HTTP client with its own cookies, signed in at the IdP as
// user; failures fail t.
func (i *IdP) SignedIn(t testing.TB, user string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.PostForm(i.srv.URL+"/login", url.Values{"user": {user}, "password": {Password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("IdP login as %s: %d", user, res.StatusCode)
	}
	return c
}
