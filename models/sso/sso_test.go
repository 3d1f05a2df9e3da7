package sso_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/sso"
	"switchboard/models/tenancy"
)

// ---------------------------------------------------------------------
// Attribute mapping.

func TestSSOMapIdentity(t *testing.T) {
	t.Parallel()
	const (
		claims  = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
		display = "http://schemas.microsoft.com/identity/claims/displayname"
	)
	type attrs = map[string][]string
	for _, tc := range []struct {
		name                string
		conn                sso.SSOConnection
		id                  sso.SSOIdentity
		wantEmail, wantName string
		wantErr             string
	}{
		{name: "Okta", id: sso.SSOIdentity{NameID: "ada@example.com", Attributes: attrs{"email": {"ada@example.com"}, "firstName": {"Ada"}, "lastName": {"Lovelace"}}},
			wantEmail: "ada@example.com", wantName: "Ada Lovelace"},
		{name: "Entra ID, display name", id: sso.SSOIdentity{NameID: "Xk2-opaque-persistent-id", Attributes: attrs{
			claims + "emailaddress": {"Ada@Example.com"}, claims + "givenname": {"Ada"}, claims + "surname": {"Lovelace"}, display: {"Ada L."},
			claims + "name": {"ada@example.onmicrosoft.com"}}},
			wantEmail: "ada@example.com", wantName: "Ada L."},
		{name: "Entra ID, given name and surname", id: sso.SSOIdentity{NameID: "Xk2-opaque", Attributes: attrs{
			claims + "emailaddress": {"ada@example.com"}, claims + "givenname": {"Ada"}, claims + "surname": {"Lovelace"}}},
			wantEmail: "ada@example.com", wantName: "Ada Lovelace"},
		{name: "Google Workspace, NameID only", id: sso.SSOIdentity{NameID: "Ada@Example.com"},
			wantEmail: "ada@example.com", wantName: "ada"},
		{name: "Keycloak, default mappers", id: sso.SSOIdentity{NameID: "ada", Attributes: attrs{
			"urn:oid:1.2.840.113549.1.9.1": {"ada@example.com"}, "email": {"ada@example.com"}, "urn:oid:2.5.4.42": {"Ada"}, "givenName": {"Ada"}, "urn:oid:2.5.4.4": {"Lovelace"}, "surname": {"Lovelace"}}},
			wantEmail: "ada@example.com", wantName: "Ada Lovelace"},
		{name: "Keycloak, X.500 OIDs only", id: sso.SSOIdentity{NameID: "G-1234", Attributes: attrs{
			"urn:oid:1.2.840.113549.1.9.1": {"ada@example.com"}, "urn:oid:2.5.4.42": {"Ada"}, "urn:oid:2.5.4.4": {"Lovelace"}}},
			wantEmail: "ada@example.com", wantName: "Ada Lovelace"},
		{name: "ADFS", id: sso.SSOIdentity{NameID: "EXAMPLE\\ada", Attributes: attrs{
			claims + "emailaddress": {"ada@example.com"}, claims + "givenname": {"Ada"}, claims + "surname": {"Lovelace"}, claims + "upn": {"ada@corp.example.com"}}},
			wantEmail: "ada@example.com", wantName: "Ada Lovelace"},
		{name: "ADFS, EmailAddress claim", id: sso.SSOIdentity{NameID: "EXAMPLE\\ada", Attributes: attrs{"http://schemas.xmlsoap.org/claims/EmailAddress": {"ada@example.com"}}},
			wantEmail: "ada@example.com", wantName: "ada"},
		{name: "SimpleSAMLphp, OIDs", id: sso.SSOIdentity{NameID: "_9f8e7d", Attributes: attrs{
			"urn:oid:0.9.2342.19200300.100.1.3": {"ada@example.com"}, "urn:oid:2.16.840.1.113730.3.1.241": {"Countess Ada"}, "urn:oid:2.5.4.3": {"Ada Lovelace"}}},
			wantEmail: "ada@example.com", wantName: "Countess Ada"},
		{name: "SimpleSAMLphp, cn only", id: sso.SSOIdentity{NameID: "_9f8e7d", Attributes: attrs{
			"urn:oid:0.9.2342.19200300.100.1.3": {"ada@example.com"}, "urn:oid:2.5.4.3": {"Ada Lovelace"}}},
			wantEmail: "ada@example.com", wantName: "Ada Lovelace"},
		{name: "SimpleSAMLphp, friendly names", id: sso.SSOIdentity{NameID: "_9f8e7d", Attributes: attrs{
			"mail": {"ada@example.com"}, "cn": {"Ada Lovelace"}, "givenName": {"A"}, "sn": {"L"}}},
			wantEmail: "ada@example.com", wantName: "Ada Lovelace"},
		{name: "displayName before cn", id: sso.SSOIdentity{Attributes: attrs{"mail": {"ada@example.com"}, "cn": {"Lovelace, Ada"}, "displayName": {"Ada"}}},
			wantEmail: "ada@example.com", wantName: "Ada"},
		{name: "givenName and sn", id: sso.SSOIdentity{Attributes: attrs{"email": {"ada@example.com"}, "givenName": {"Ada"}, "sn": {"Lovelace"}}},
			wantEmail: "ada@example.com", wantName: "Ada Lovelace"},
		{name: "surname claim alone", id: sso.SSOIdentity{Attributes: attrs{"email": {"ada@example.com"}, claims + "surname": {"Lovelace"}}},
			wantEmail: "ada@example.com", wantName: "Lovelace"},
		{name: "an attribute before the NameID", id: sso.SSOIdentity{NameID: "other@example.com", Attributes: attrs{"email": {"ada@example.com"}}},
			wantEmail: "ada@example.com", wantName: "ada"},
		{name: "blank values skipped, values trimmed", id: sso.SSOIdentity{Attributes: attrs{"email": {"", "  "}, "mail": {" ADA@example.com "}, "displayName": {"  "}, "cn": {"  Ada  "}}},
			wantEmail: "ada@example.com", wantName: "Ada"},
		{name: "a name that is not text", id: sso.SSOIdentity{Attributes: attrs{"email": {"ada@example.com"}, "displayName": {"Ada\x07"}}},
			wantEmail: "ada@example.com", wantName: "ada"},
		{name: "a name that reads backwards", id: sso.SSOIdentity{Attributes: attrs{"email": {"ada@example.com"}, "displayName": {"Ada\u202Eecalevol"}}},
			wantEmail: "ada@example.com", wantName: "ada"},
		{name: "a name too long", id: sso.SSOIdentity{Attributes: attrs{"email": {"ada@example.com"}, "displayName": {strings.Repeat("A", 300)}}},
			wantEmail: "ada@example.com", wantName: "ada"},
		{name: "no email anywhere", id: sso.SSOIdentity{NameID: "opaque-id", Attributes: attrs{"cn": {"Ada"}}}, wantErr: "carries no email"},
		{name: "an email attribute that is no email", id: sso.SSOIdentity{NameID: "ada@example.com", Attributes: attrs{"email": {"Ada Lovelace"}}}, wantErr: "is not a valid address"},
		{name: "explicit: the NameID", conn: sso.SSOConnection{EmailAttribute: sso.EmailFromNameID},
			id:        sso.SSOIdentity{NameID: "Ada@Example.com", Attributes: attrs{"email": {"other@example.com"}}},
			wantEmail: "ada@example.com", wantName: "ada"},
		{name: "explicit: the NameID, not an email", conn: sso.SSOConnection{EmailAttribute: sso.EmailFromNameID},
			id: sso.SSOIdentity{NameID: "opaque", Attributes: attrs{"email": {"ada@example.com"}}}, wantErr: "is not a valid address"},
		{name: "explicit: an attribute", conn: sso.SSOConnection{EmailAttribute: "upn", NameAttribute: "nickname"},
			id:        sso.SSOIdentity{NameID: "n@example.com", Attributes: attrs{"upn": {"ada@example.com"}, "email": {"x@example.com"}, "nickname": {"Countess"}, "displayName": {"Ada"}}},
			wantEmail: "ada@example.com", wantName: "Countess"},
		{name: "explicit: an attribute that is missing", conn: sso.SSOConnection{EmailAttribute: "upn"},
			id: sso.SSOIdentity{NameID: "ada@example.com", Attributes: attrs{"email": {"ada@example.com"}}}, wantErr: "carries no email"},
		{name: "explicit: a name attribute that is missing", conn: sso.SSOConnection{NameAttribute: "nickname"},
			id:        sso.SSOIdentity{Attributes: attrs{"email": {"ada@example.com"}, "displayName": {"Ada"}}},
			wantEmail: "ada@example.com", wantName: "Ada"},
		// Attributes match by Name; a FriendlyName stands in only for a
		// Name no attribute has, and two addresses are one too many.
		{name: "a FriendlyName stands in for a missing Name", id: sso.SSOIdentity{
			Attributes: attrs{"urn:oid:0.9.2342.19200300.100.1.3": {"ada@example.com"}, "urn:x:display": {"Ada"}}, FriendlyNames: attrs{"mail": {"urn:oid:0.9.2342.19200300.100.1.3"}, "displayName": {"urn:x:display"}}},
			wantEmail: "ada@example.com", wantName: "Ada"},
		{name: "explicit: an attribute by its FriendlyName", conn: sso.SSOConnection{EmailAttribute: "work_mail"}, id: sso.SSOIdentity{
			Attributes: attrs{"urn:x:wm": {"ada@example.com"}}, FriendlyNames: attrs{"work_mail": {"urn:x:wm"}}},
			wantEmail: "ada@example.com", wantName: "ada"},
		{name: "a FriendlyName agreeing with the Name", id: sso.SSOIdentity{
			Attributes: attrs{"email": {"ada@example.com"}, "urn:x:alias": {"ADA@example.com"}}, FriendlyNames: attrs{"email": {"urn:x:alias"}}},
			wantEmail: "ada@example.com", wantName: "ada"},
		{name: "a FriendlyName disagreeing with the Name", id: sso.SSOIdentity{
			Attributes: attrs{"email": {"ada@example.com"}, "urn:x:evil": {"boss@example.com"}}, FriendlyNames: attrs{"email": {"urn:x:evil"}}},
			wantErr: "2 different email addresses (ada@example.com, boss@example.com)"},
		{name: "a FriendlyName disagreeing with another usual attribute", id: sso.SSOIdentity{
			Attributes: attrs{"urn:oid:0.9.2342.19200300.100.1.3": {"ada@example.com"}, "urn:x:evil": {"boss@example.com"}}, FriendlyNames: attrs{"email": {"urn:x:evil"}}},
			wantErr: "different email addresses"},
		{name: "explicit: a FriendlyName disagreeing with the Name", conn: sso.SSOConnection{EmailAttribute: "upn"}, id: sso.SSOIdentity{
			Attributes: attrs{"upn": {"ada@example.com"}, "urn:x:evil": {"boss@example.com"}}, FriendlyNames: attrs{"upn": {"urn:x:evil"}}},
			wantErr: "different email addresses"},
		{name: "two values of the email", id: sso.SSOIdentity{Attributes: attrs{"email": {"ada@example.com", "boss@example.com"}}},
			wantErr: "different email addresses"},
		{name: "explicit: two values of the attribute", conn: sso.SSOConnection{EmailAttribute: "upn"}, id: sso.SSOIdentity{Attributes: attrs{"upn": {"ada@example.com", "boss@example.com"}}},
			wantErr: "different email addresses"},
		{name: "two usual attributes disagreeing", id: sso.SSOIdentity{Attributes: attrs{"email": {"ada@example.com"}, "mail": {"boss@example.com"}}},
			wantErr: "different email addresses"},
		{name: "one address, told twice in two cases", id: sso.SSOIdentity{Attributes: attrs{"email": {"ada@example.com", " Ada@Example.COM"}, "mail": {"ada@example.com"}}},
			wantEmail: "ada@example.com", wantName: "ada"},
		{name: "a name by Name before one by FriendlyName", conn: sso.SSOConnection{NameAttribute: "nickname"}, id: sso.SSOIdentity{
			Attributes: attrs{"email": {"ada@example.com"}, "urn:x:n": {"Mallory"}, "nickname": {"Countess"}}, FriendlyNames: attrs{"nickname": {"urn:x:n"}}},
			wantEmail: "ada@example.com", wantName: "Countess"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			email, name, err := tc.conn.MapIdentity(tc.id)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q (got %q, %q)", err, tc.wantErr, email, name)
				}
				return
			}
			if err != nil || email != tc.wantEmail || name != tc.wantName {
				t.Fatalf("got %q, %q, %v; want %q, %q", email, name, err, tc.wantEmail, tc.wantName)
			}
		})
	}
}

func TestSSOParseDomains(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		"":            nil,
		" ,":          nil,
		"example.com": {"example.com"},
		" Example.COM, @example.org;example.com\n foo.test\tbar.test\r\n": {"example.com", "example.org", "foo.test", "bar.test"},
		"@@example.com": {"@example.com"},
	} {
		if got := sso.ParseDomains(in); !slices.Equal(got, want) {
			t.Errorf("ParseDomains(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSSOOwnsEmail(t *testing.T) {
	t.Parallel()
	c := sso.SSOConnection{Domains: []string{"example.com", "example.org"}}
	for email, want := range map[string]bool{
		"ada@example.com": true, "ada@example.org": true, "ada@eu.example.com": false, "ada@example.com.evil.test": false,
		"ada@evilexample.com": false, "example.com": false, "@example.com": false, "ada@": false,
	} {
		if got := c.OwnsEmail(email); got != want {
			t.Errorf("OwnsEmail(%q) = %v", email, got)
		}
	}
}

// ---------------------------------------------------------------------
// Saving a connection.

var (
	idpKeyOnce sync.Once
	idpKey     *rsa.PrivateKey
	idpCert    *x509.Certificate
)

// idpMetadataXML is the metadata of an IdP at entityID, as crewjam's IdP
// publishes it, changed by edit.
func idpMetadataXML(t *testing.T, entityID string, edit func(*saml.EntityDescriptor)) string {
	t.Helper()
	idpKeyOnce.Do(func() {
		var err error
		if idpKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &idpKey.PublicKey, idpKey)
		if err != nil {
			panic(err)
		}
		idpCert, _ = x509.ParseCertificate(der)
	})
	mdURL, _ := url.Parse(entityID)
	ssoURL, _ := url.Parse(strings.TrimSuffix(entityID, "/metadata") + "/sso")
	idp := saml.IdentityProvider{Key: idpKey, Certificate: idpCert, MetadataURL: *mdURL, SSOURL: *ssoURL}
	ed := idp.Metadata()
	if edit != nil {
		edit(ed)
	}
	b, err := xml.Marshal(ed)
	dbtest.Must(t, err)
	return string(b)
}

// expiredCertBase64 is a self-signed certificate that expired yesterday, as
// metadata carries it.
func expiredCertBase64(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	dbtest.Must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "old idp"},
		NotBefore: time.Now().AddDate(-2, 0, 0), NotAfter: time.Now().AddDate(0, 0, -1)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	dbtest.Must(t, err)
	return base64.StdEncoding.EncodeToString(der)
}

func ssoRows(t *testing.T, db *gorm.DB, table string, accountID int64) int64 {
	t.Helper()
	var n int64
	dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT COUNT(*) FROM "+table+" WHERE account_id = ?", accountID).Scan(&n).Error)
	return n
}

func TestSaveSSOConnection(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := t.Context()
		owner, personal := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		actor := tenancy.Actor{UserID: owner.ID, Name: owner.Name}
		md := idpMetadataXML(t, "https://idp.example.test/metadata", nil)
		in := sso.SSOSettingsInput{MetadataXML: md, Domains: "Example.com, example.org", JIT: true, DefaultRole: "member", Enforce: true}

		// Who may.
		member, _ := dbtest.User(t, db)
		memberScope := dbtest.AddMember(t, db, org, member, tenancy.RoleMember)
		_, err := sso.SaveSSOConnection(ctx, db, memberScope, in, actor)
		dbtest.WantIs(t, err, tenancy.ErrForbidden)
		_, err = sso.SaveSSOConnection(ctx, db, personal, in, actor)
		dbtest.WantIs(t, err, tenancy.ErrNotFound)

		// What is refused, writing nothing.
		with := func(edit func(*sso.SSOSettingsInput)) sso.SSOSettingsInput {
			c := in
			edit(&c)
			return c
		}
		noRedirect := idpMetadataXML(t, "https://idp.example.test/metadata", func(ed *saml.EntityDescriptor) {
			ed.IDPSSODescriptors[0].SingleSignOnServices = slices.DeleteFunc(ed.IDPSSODescriptors[0].SingleSignOnServices,
				func(s saml.Endpoint) bool { return s.Binding == saml.HTTPRedirectBinding })
		})
		noCert := idpMetadataXML(t, "https://idp.example.test/metadata", func(ed *saml.EntityDescriptor) {
			ed.IDPSSODescriptors[0].KeyDescriptors = nil
		})
		encryptionOnly := idpMetadataXML(t, "https://idp.example.test/metadata", func(ed *saml.EntityDescriptor) {
			kds := ed.IDPSSODescriptors[0].KeyDescriptors
			for i := range kds {
				kds[i].Use = "encryption"
			}
		})
		// Metadata whose signing certificates could verify no response: one
		// that is not a certificate (beside a good one), and one expired.
		withCerts := func(certs ...string) string {
			return idpMetadataXML(t, "https://idp.example.test/metadata", func(ed *saml.EntityDescriptor) {
				kd := ed.IDPSSODescriptors[0].KeyDescriptors[0]
				kd.Use = "signing"
				kd.KeyInfo.X509Data.X509Certificates = nil
				for _, c := range certs {
					kd.KeyInfo.X509Data.X509Certificates = append(kd.KeyInfo.X509Data.X509Certificates, saml.X509Certificate{Data: c})
				}
				ed.IDPSSODescriptors[0].KeyDescriptors = []saml.KeyDescriptor{kd}
			})
		}
		goodCert := base64.StdEncoding.EncodeToString(idpCert.Raw)
		notACert := withCerts(goodCert, base64.StdEncoding.EncodeToString([]byte("not a certificate")))
		expired := withCerts(expiredCertBase64(t))
		many := make([]string, 51)
		for i := range many {
			many[i] = "d" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + ".example"
		}
		for name, tc := range map[string]struct {
			in     sso.SSOSettingsInput
			fields []string
		}{
			"no metadata":          {with(func(c *sso.SSOSettingsInput) { c.MetadataXML = " " }), []string{"metadata_xml"}},
			"not metadata":         {with(func(c *sso.SSOSettingsInput) { c.MetadataXML = "<html/>" }), []string{"metadata_xml"}},
			"SP metadata":          {with(func(c *sso.SSOSettingsInput) { c.MetadataXML = spMetadataXML() }), []string{"metadata_xml"}},
			"no redirect binding":  {with(func(c *sso.SSOSettingsInput) { c.MetadataXML = noRedirect }), []string{"metadata_xml"}},
			"no certificate":       {with(func(c *sso.SSOSettingsInput) { c.MetadataXML = noCert }), []string{"metadata_xml"}},
			"encryption key only":  {with(func(c *sso.SSOSettingsInput) { c.MetadataXML = encryptionOnly }), []string{"metadata_xml"}},
			"not a certificate":    {with(func(c *sso.SSOSettingsInput) { c.MetadataXML = notACert }), []string{"metadata_xml"}},
			"expired certificate":  {with(func(c *sso.SSOSettingsInput) { c.MetadataXML = expired }), []string{"metadata_xml"}},
			"too large":            {with(func(c *sso.SSOSettingsInput) { c.MetadataXML = md + strings.Repeat(" ", sso.MaxMetadataSize) }), []string{"metadata_xml"}},
			"not a domain":         {with(func(c *sso.SSOSettingsInput) { c.Domains = "example.com, under_score.com" }), []string{"domains"}},
			"no TLD":               {with(func(c *sso.SSOSettingsInput) { c.Domains = "intranet" }), []string{"domains"}},
			"an IP":                {with(func(c *sso.SSOSettingsInput) { c.Domains = "10.0.0.1" }), []string{"domains"}},
			"public":               {with(func(c *sso.SSOSettingsInput) { c.Domains = "example.com, Gmail.com" }), []string{"domains"}},
			"more than 50":         {with(func(c *sso.SSOSettingsInput) { c.Domains = strings.Join(many, ",") }), []string{"domains"}},
			"no such role":         {with(func(c *sso.SSOSettingsInput) { c.DefaultRole = "owner" }), []string{"default_role"}},
			"email attribute":      {with(func(c *sso.SSOSettingsInput) { c.EmailAttribute = "mail\n" }), []string{"email_attribute"}},
			"name attribute":       {with(func(c *sso.SSOSettingsInput) { c.NameAttribute = strings.Repeat("n", 201) }), []string{"name_attribute"}},
			"everything at once":   {sso.SSOSettingsInput{Domains: "x", DefaultRole: "x", EmailAttribute: "\x00"}, []string{"metadata_xml", "domains", "default_role", "email_attribute"}},
			"name attribute ctrls": {with(func(c *sso.SSOSettingsInput) { c.NameAttribute = "cn\t" }), []string{"name_attribute"}},
		} {
			_, err := sso.SaveSSOConnection(ctx, db, org, tc.in, actor)
			if _, ok := tenancy.AsFieldErrors(err); !ok {
				t.Fatalf("%s: error %v, want field errors", name, err)
			}
			dbtest.WantFields(t, err, tc.fields...)
		}
		if ssoRows(t, db, "sso_connections", org.AccountID())+ssoRows(t, db, "sso_domains", org.AccountID())+ssoRows(t, db, "audit_events", org.AccountID()) != 0 {
			t.Fatal("a refused connection wrote something")
		}

		// Saved.
		conn, err := sso.SaveSSOConnection(ctx, db, org, in, actor)
		dbtest.Must(t, err)
		if conn.IDPEntityID != "https://idp.example.test/metadata" || !slices.Equal(conn.Domains, []string{"example.com", "example.org"}) || conn.DefaultRole != tenancy.RoleMember {
			t.Fatalf("saved %+v", conn)
		}
		if !dbtest.ReloadAccount(t, db, org.AccountID()).SSOEnforced {
			t.Fatal("enforcement is not on the account")
		}
		got, err := sso.GetSSOConnection(ctx, db, org)
		dbtest.Must(t, err)
		if !got.JIT || !got.Enforce || got.AllowIDPInitiated || !slices.Equal(got.Domains, conn.Domains) {
			t.Fatalf("read back %+v", got)
		}
		var ev tenancy.AuditEvent
		dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT * FROM audit_events WHERE account_id = ? AND action = ?", org.AccountID(), sso.AuditSSOConfigured).Scan(&ev).Error)
		if ev.Target != conn.IDPEntityID || !strings.Contains(ev.Details, "example.com, example.org") || !strings.Contains(ev.Details, "enforce on") {
			t.Fatalf("audit %+v", ev)
		}
		// Sign-in by email finds the organization only once it proved the
		// domains.
		_, err = sso.FindSSOByEmail(ctx, db, "someone@example.org")
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		for _, d := range []string{"example.com", "example.org"} {
			_, err = sso.ProveSSODomainByOperator(ctx, db, org.Account().SlugOrEmpty(), d, "test")
			dbtest.Must(t, err)
		}
		for _, email := range []string{"someone@example.org", "Someone@EXAMPLE.COM"} {
			sa, err := sso.FindSSOByEmail(ctx, db, email)
			if err != nil || sa.Account.ID != org.AccountID() {
				t.Fatalf("FindSSOByEmail(%s): %v", email, err)
			}
		}
		sa, err := sso.FindSSOBySlug(ctx, db, org.Account().SlugOrEmpty())
		if err != nil || sa.Connection.IDPMetadataXML != md {
			t.Fatalf("FindSSOBySlug: %v", err)
		}
		for _, email := range []string{"someone@eu.example.com", "no-at-sign", "someone@example.net"} {
			_, err := sso.FindSSOByEmail(ctx, db, email)
			dbtest.WantIs(t, err, tenancy.ErrNotFound)
		}

		// Another organization cannot claim its proved domains, and may
		// have others.
		owner2, _ := dbtest.User(t, db)
		other := dbtest.Org(t, db, owner2)
		actor2 := tenancy.Actor{UserID: owner2.ID, Name: owner2.Name}
		_, err = sso.SaveSSOConnection(ctx, db, other, with(func(c *sso.SSOSettingsInput) { c.Domains = "example.net, example.org" }), actor2)
		dbtest.WantFields(t, err, "domains")
		if ssoRows(t, db, "sso_connections", other.AccountID()) != 0 {
			t.Fatal("the refused organization got a connection")
		}
		_, err = sso.SaveSSOConnection(ctx, db, other, with(func(c *sso.SSOSettingsInput) { c.Domains = "example.net"; c.Enforce = false }), actor2)
		dbtest.Must(t, err)
		if dbtest.ReloadAccount(t, db, other.AccountID()).SSOEnforced {
			t.Fatal("enforcement on without being asked")
		}

		// Turning IdP-initiated sign-in on needs the confirmation of its
		// login CSRF risk; nothing is saved without it.
		_, err = sso.SaveSSOConnection(ctx, db, org, with(func(c *sso.SSOSettingsInput) {
			c.Domains, c.Enforce, c.JIT, c.AllowIDPInitiated, c.DefaultRole = "example.com", false, false, true, "admin"
		}), actor)
		dbtest.WantFields(t, err, "confirm_idp_initiated")
		if got, _ = sso.GetSSOConnection(ctx, db, org); got.AllowIDPInitiated || !got.JIT {
			t.Fatalf("saved without the confirmation: %+v", got)
		}
		// Saving again replaces: domains, switches, enforcement.
		_, err = sso.SaveSSOConnection(ctx, db, org, with(func(c *sso.SSOSettingsInput) {
			c.Domains, c.Enforce, c.JIT, c.AllowIDPInitiated, c.DefaultRole = "example.com", false, false, true, "admin"
			c.ConfirmIDPInitiated = true
		}), actor)
		dbtest.Must(t, err)
		// Once on, saving other settings does not ask again.
		_, err = sso.SaveSSOConnection(ctx, db, org, with(func(c *sso.SSOSettingsInput) {
			c.Domains, c.Enforce, c.JIT, c.AllowIDPInitiated, c.DefaultRole = "example.com", false, false, true, "admin"
		}), actor)
		dbtest.Must(t, err)
		got, _ = sso.GetSSOConnection(ctx, db, org)
		if got.JIT || got.Enforce || !got.AllowIDPInitiated || got.DefaultRole != tenancy.RoleAdmin || !slices.Equal(got.Domains, []string{"example.com"}) {
			t.Fatalf("after saving again %+v", got)
		}
		if dbtest.ReloadAccount(t, db, org.AccountID()).SSOEnforced {
			t.Fatal("enforcement stayed on")
		}
		_, err = sso.FindSSOByEmail(ctx, db, "someone@example.org")
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		if n := ssoRows(t, db, "audit_events", org.AccountID()); n != 5 {
			t.Fatalf("%d audit events, want one per save and one per proof", n)
		}
		// Now example.org is free for the other organization: its proof
		// went with the claim.
		_, err = sso.SaveSSOConnection(ctx, db, other, with(func(c *sso.SSOSettingsInput) { c.Domains = "example.net, example.org" }), actor2)
		dbtest.Must(t, err)
	})
}

// spMetadataXML is a service provider's metadata: no IDPSSODescriptor.
func spMetadataXML() string {
	acs, _ := url.Parse("https://sp.example.test/acs")
	md, _ := url.Parse("https://sp.example.test/metadata")
	sp := saml.ServiceProvider{EntityID: md.String(), AcsURL: *acs, MetadataURL: *md}
	b, _ := xml.Marshal(sp.Metadata())
	return string(b)
}

// ---------------------------------------------------------------------
// Requests and replays.

func TestSSORequestsAreSingleUseAndPerAccount(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := t.Context()
		owner, _ := dbtest.User(t, db)
		owner2, _ := dbtest.User(t, db)
		a := dbtest.Org(t, db, owner)
		b := dbtest.AddMember(t, db, dbtest.Org(t, db, owner2), owner, tenancy.RoleAdmin)

		dbtest.Must(t, sso.RecordSSORequest(ctx, db, ssoAccountOf(t, db, a), "id-login", sso.SSOLogin, nil))
		r, err := sso.OpenSSORequest(ctx, db, ssoAccountOf(t, db, a), "id-login")
		if err != nil || r.Purpose != sso.SSOLogin || r.AccountID != a.AccountID() || r.ConsumedAt != nil {
			t.Fatalf("open request %+v %v", r, err)
		}
		if d := r.ExpiresAt.Sub(r.CreatedAt); d != sso.SSORequestTTL {
			t.Fatalf("the request lives %v", d)
		}
		// Another organization's, or one never issued.
		_, err = sso.OpenSSORequest(ctx, db, ssoAccountOf(t, db, b), "id-login")
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		_, err = sso.OpenSSORequest(ctx, db, ssoAccountOf(t, db, a), "id-never")
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		dbtest.WantIs(t, sso.ConsumeSSORequest(ctx, db, ssoAccountOf(t, db, b), "id-login", ""), tenancy.ErrNotFound)
		dbtest.WantIs(t, sso.ConsumeSSORequest(ctx, db, ssoAccountOf(t, db, a), "id-never", ""), tenancy.ErrNotFound)
		// Once only.
		dbtest.Must(t, sso.ConsumeSSORequest(ctx, db, ssoAccountOf(t, db, a), "id-login", ""))
		dbtest.WantIs(t, sso.ConsumeSSORequest(ctx, db, ssoAccountOf(t, db, a), "id-login", ""), tenancy.ErrNotFound)
		_, err = sso.OpenSSORequest(ctx, db, ssoAccountOf(t, db, a), "id-login")
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		// An ID is issued once.
		if err := sso.RecordSSORequest(ctx, db, ssoAccountOf(t, db, b), "id-login", sso.SSOLogin, nil); err == nil {
			t.Fatal("the same request ID was recorded twice")
		}

		// Expired.
		dbtest.Must(t, sso.RecordSSORequest(ctx, db, ssoAccountOf(t, db, a), "id-old", sso.SSOLogin, nil))
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE sso_requests SET expires_at = ? WHERE id = ?", dbtest.UTC().Add(-time.Second), "id-old").Error)
		_, err = sso.OpenSSORequest(ctx, db, ssoAccountOf(t, db, a), "id-old")
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		dbtest.WantIs(t, sso.ConsumeSSORequest(ctx, db, ssoAccountOf(t, db, a), "id-old", ""), tenancy.ErrNotFound)

		// A connection test keeps its outcome, for the administrator who ran it.
		uid := owner.ID
		dbtest.Must(t, sso.RecordSSORequest(ctx, db, ssoAccountOf(t, db, a), "id-test", sso.SSOTest, &uid))
		dbtest.Must(t, sso.ConsumeSSORequest(ctx, db, ssoAccountOf(t, db, a), "id-test", `{"email":"ada@example.com"}`))
		res, err := sso.SSOTestResult(ctx, db, a, "id-test")
		if err != nil || res.Result != `{"email":"ada@example.com"}` || res.ConsumedAt == nil {
			t.Fatalf("test result %+v %v", res, err)
		}
		_, err = sso.SSOTestResult(ctx, db, b, "id-test") // the same admin, another organization
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		_, err = sso.SSOTestResult(ctx, db, a, "id-login") // not a test
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		admin2, _ := dbtest.User(t, db)
		_, err = sso.SSOTestResult(ctx, db, dbtest.AddMember(t, db, a, admin2, tenancy.RoleAdmin), "id-test")
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		member, _ := dbtest.User(t, db)
		_, err = sso.SSOTestResult(ctx, db, dbtest.AddMember(t, db, a, member, tenancy.RoleMember), "id-test")
		dbtest.WantIs(t, err, tenancy.ErrForbidden)

		// Concurrent answers: exactly one wins.
		dbtest.Must(t, sso.RecordSSORequest(ctx, db, ssoAccountOf(t, db, a), "id-race", sso.SSOLogin, nil))
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = sso.ConsumeSSORequest(ctx, db, ssoAccountOf(t, db, a), "id-race", "")
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, tenancy.ErrNotFound):
			default:
				if !strings.Contains(err.Error(), "locked") && !strings.Contains(err.Error(), "busy") {
					t.Errorf("consume: %v", err)
				}
			}
		}
		if won != 1 {
			t.Fatalf("%d concurrent consumptions succeeded", won)
		}
	})
}

func TestSSOReplayCache(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		cache := sso.ReplayCache{DB: db}
		until := time.Now().Add(3 * time.Minute)
		dbtest.Must(t, cache.Consume("id-a", until))
		if err := cache.Consume("id-a", until); !errors.Is(err, saml.ErrAssertionReplayed) {
			t.Fatalf("second use: %v, want ErrAssertionReplayed", err)
		}
		dbtest.Must(t, cache.Consume("id-b", until))
		// A time in another zone is stored as the same instant.
		dbtest.Must(t, cache.Consume("id-zone", until.In(time.FixedZone("X", 5*3600))))

		// Sweeping drops the records of assertions past their lifetime only:
		// those can no longer be accepted anyway.
		dbtest.Must(t, cache.Consume("id-expired", time.Now().Add(-time.Minute)))
		dbtest.Must(t, sso.DeleteExpiredSSOState(t.Context(), db))
		var ids []string
		dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT assertion_id FROM sso_replays ORDER BY assertion_id").Scan(&ids).Error)
		if !slices.Equal(ids, []string{"id-a", "id-b", "id-zone"}) {
			t.Fatalf("after the sweep: %v", ids)
		}
		if err := cache.Consume("id-a", until); !errors.Is(err, saml.ErrAssertionReplayed) {
			t.Fatalf("after the sweep: %v", err)
		}

		// The sweep also drops requests a day past their expiry.
		owner, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		dbtest.Must(t, sso.RecordSSORequest(t.Context(), db, ssoAccountOf(t, db, org), "id-fresh", sso.SSOLogin, nil))
		dbtest.Must(t, sso.RecordSSORequest(t.Context(), db, ssoAccountOf(t, db, org), "id-stale", sso.SSOLogin, nil))
		dbtest.Must(t, dbtest.Plain(t, db).Exec("UPDATE sso_requests SET expires_at = ? WHERE id = ?", dbtest.UTC().Add(-25*time.Hour), "id-stale").Error)
		dbtest.Must(t, sso.DeleteExpiredSSOState(t.Context(), db))
		var reqs []string
		dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT id FROM sso_requests ORDER BY id").Scan(&reqs).Error)
		if !slices.Equal(reqs, []string{"id-fresh"}) {
			t.Fatalf("requests after the sweep: %v", reqs)
		}
	})
}

// ---------------------------------------------------------------------
// Domain proof and identity links.

func TestProveSSODomainByOperator(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := t.Context()
		owner, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		md := idpMetadataXML(t, "https://idp.example.test/metadata", nil)
		_, err := sso.SaveSSOConnection(ctx, db, org, sso.SSOSettingsInput{MetadataXML: md, Domains: "corp.example", DefaultRole: "member"},
			tenancy.Actor{UserID: owner.ID, Name: owner.Name})
		dbtest.Must(t, err)
		// Only a domain the organization listed; by slug or public ID.
		_, err = sso.ProveSSODomainByOperator(ctx, db, org.Account().PublicID, "other.example", "switchboard sso verify-domain")
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		_, err = sso.ProveSSODomainByOperator(ctx, db, "no-such-org", "corp.example", "switchboard sso verify-domain")
		dbtest.WantIs(t, err, tenancy.ErrNotFound)
		a, err := sso.ProveSSODomainByOperator(ctx, db, org.Account().PublicID, "Corp.Example", "switchboard sso verify-domain")
		dbtest.Must(t, err)
		if a.ID != org.AccountID() {
			t.Fatalf("proved for account %d", a.ID)
		}
		var ev tenancy.AuditEvent
		dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT * FROM audit_events WHERE account_id = ? AND action = ?", org.AccountID(), sso.AuditSSODomainVerified).Scan(&ev).Error)
		if ev.Target != "corp.example" || !strings.Contains(ev.ActorName, "switchboard sso verify-domain") {
			t.Fatalf("audit %+v, want the operator command named", ev)
		}
		// Proving again is a no-op, not a second event.
		_, err = sso.ProveSSODomainByOperator(ctx, db, org.Account().SlugOrEmpty(), "corp.example", "switchboard sso verify-domain")
		dbtest.Must(t, err)
		if n := ssoRows(t, db, "audit_events", org.AccountID()); n != 2 { // configured, proved
			t.Fatalf("%d audit events", n)
		}
		// Another organization's claim cannot be proved by the operator
		// either: the domain is owned.
		owner2, _ := dbtest.User(t, db)
		other := dbtest.Org(t, db, owner2)
		_, err = sso.SaveSSOConnection(ctx, db, other, sso.SSOSettingsInput{MetadataXML: md, Domains: "corp.example", DefaultRole: "member"},
			tenancy.Actor{UserID: owner2.ID, Name: owner2.Name})
		dbtest.WantFields(t, err, "domains")
	})
}

// Proving a mailbox drops the identities linked to its user before the
// proof: whoever held the account then was not necessarily its owner.
func TestProvingAMailboxDropsSSOLinks(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		ctx := t.Context()
		owner, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		for _, prove := range []struct {
			name string
			fn   func(u models.User) error
		}{
			{"verification link", func(u models.User) error {
				tok, err := models.IssueEmailToken(ctx, db, u, models.PurposeVerify)
				if err != nil {
					return err
				}
				_, err = models.VerifyEmail(ctx, db, tok)
				return err
			}},
			{"password reset", func(u models.User) error {
				tok, err := models.IssueEmailToken(ctx, db, u, models.PurposeReset)
				if err != nil {
					return err
				}
				_, err = models.ResetPassword(ctx, db, tok, "a brand new password")
				return err
			}},
		} {
			u, _ := dbtest.User(t, db) // unverified
			dbtest.AddMember(t, db, org, u, tenancy.RoleMember)
			dbtest.Must(t, dbtest.Plain(t, db).Exec("INSERT INTO sso_links (account_id, subject, user_id, created_at) VALUES (?, ?, ?, ?)",
				org.AccountID(), "planted-"+u.PublicID, u.ID, time.Now().UTC()).Error)
			dbtest.Must(t, prove.fn(u))
			if n := ssoRows(t, db, "sso_links", org.AccountID()); n != 0 {
				t.Fatalf("%s: %d links survived proving the mailbox", prove.name, n)
			}
		}
	})
}

// The release before domain proof let an IdP create users in any domain it
// typed; upgrading drops those links and tells each organization.
func TestMigrationDropsLinksMadeInUnprovedDomains(t *testing.T) {
	t.Parallel()
	dbtest.EachAt(t, 9, func(t *testing.T, db *gorm.DB) {
		ts := time.Now().UTC()
		insert := func(q string, args ...any) int64 {
			t.Helper()
			var id int64
			dbtest.Must(t, dbtest.Plain(t, db).Raw(q+" RETURNING id", args...).Scan(&id).Error)
			return id
		}
		creator := insert("INSERT INTO users (public_id, name, email, password_hash, created_at, updated_at) VALUES (?, ?, ?, '', ?, ?)",
			"u-creator", "Creator", "creator@example.net", ts, ts)
		org := insert("INSERT INTO accounts (public_id, kind, name, slug, plan, created_by_id, created_at, updated_at) VALUES (?, 'organization', 'Squat', 'squat', 'free', ?, ?, ?)",
			"a-org", creator, ts, ts)
		dbtest.Must(t, dbtest.Plain(t, db).Exec("INSERT INTO sso_domains (domain, account_id, verification_token) VALUES ('victim.example', ?, 't1')", org).Error)
		dbtest.Must(t, dbtest.Plain(t, db).Exec("INSERT INTO sso_domains (domain, account_id, verification_token, verified_at) VALUES ('squat.example', ?, 't2', ?)", org, ts).Error)
		victim := insert("INSERT INTO users (public_id, name, email, password_hash, email_verified_at, sso_origin_account_id, created_at, updated_at) VALUES (?, ?, ?, '', ?, ?, ?, ?)",
			"u-victim", "Victor", "victor@victim.example", ts, org, ts, ts)
		staff := insert("INSERT INTO users (public_id, name, email, password_hash, email_verified_at, sso_origin_account_id, created_at, updated_at) VALUES (?, ?, ?, '', ?, ?, ?, ?)",
			"u-staff", "Staff", "staff@squat.example", ts, org, ts, ts)

		dbtest.Must(t, tenancy.Migrate(t.Context(), db))

		var events []tenancy.AuditEvent
		dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT * FROM audit_events WHERE account_id = ? AND action = ?", org, sso.AuditSSOLinkDropped).Scan(&events).Error)
		if len(events) != 1 || events[0].Target != "victor@victim.example" || events[0].CreatedAt.IsZero() {
			t.Fatalf("audit events %+v, want one for the user made in the unproved domain", events)
		}
		if dbtest.Plain(t, db).Migrator().HasColumn("users", "sso_origin_account_id") {
			t.Fatal("the users keep their IdP origin")
		}
		// Both users still exist; nothing else of theirs changed.
		for _, id := range []int64{victim, staff} {
			u, err := models.GetUser(t.Context(), db, id)
			dbtest.Must(t, err)
			if !u.Verified() {
				t.Fatalf("%s lost their verified address", u.Email)
			}
		}
		// Both domain claims survived, with their proof.
		var proved int64
		dbtest.Must(t, dbtest.Plain(t, db).Raw("SELECT COUNT(*) FROM sso_domains WHERE account_id = ? AND verified_at IS NOT NULL", org).Scan(&proved).Error)
		if proved != 1 || ssoRows(t, db, "sso_domains", org) != 2 {
			t.Fatalf("domains after the upgrade: %d proved of %d", proved, ssoRows(t, db, "sso_domains", org))
		}
	})
}

// ssoAccountOf is the account of scope as single sign-on knows it.
func ssoAccountOf(_ *testing.T, _ *gorm.DB, scope tenancy.Scope) sso.SSOAccount {
	return sso.SSOAccount{Account: scope.Account()}
}
