package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/xml"
	"log/slog"
	"math/big"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"

	"switchboard/models"
	"switchboard/models/sso"
	"switchboard/models/tenancy"
)

// idpMetadata is an identity provider's metadata with a current signing
// certificate.
func idpMetadata(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	md, _ := url.Parse("https://idp.engines.example/metadata")
	sso, _ := url.Parse("https://idp.engines.example/sso")
	b, err := xml.Marshal((&saml.IdentityProvider{Key: key, Certificate: cert, MetadataURL: *md, SSOURL: *sso}).Metadata())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// An operator proves an organization's domain from the command line; the
// audit log names the command.
func TestSSOVerifyDomainCommand(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SWITCHBOARD_DATA_DIR", dir)
	t.Setenv("DATABASE_URL", "")
	os.Unsetenv("DATABASE_URL")
	quiet := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	if err := run(ctx, []string{"migrate"}, quiet); err != nil {
		t.Fatal(err)
	}
	db := openDataDir(t, dir)
	u, _, err := models.SignUp(ctx, db, models.SignUpInput{Name: "Ada Lovelace", Email: "ada@example.com", Password: "correct horse battery staple"})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := models.CreateOrganization(ctx, db, u.ID, "Analytical Engines")
	if err != nil {
		t.Fatal(err)
	}
	org, err := tenancy.LoadScope(ctx, db, u.ID, acct.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sso.SaveSSOConnection(ctx, db, org, sso.SSOSettingsInput{MetadataXML: idpMetadata(t), Domains: "engines.example", DefaultRole: "member"},
		tenancy.Actor{UserID: u.ID, Name: u.Name}); err != nil {
		t.Fatal(err)
	}
	closeDB(db)

	for _, args := range [][]string{
		{"sso"},
		{"sso", "verify-domain"},
		{"sso", "verify-domain", "-account", acct.SlugOrEmpty()},
		{"sso", "verify-domain", "-account", "nobody", "-domain", "engines.example"},
		{"sso", "verify-domain", "-account", acct.SlugOrEmpty(), "-domain", "other.example"},
	} {
		if err := run(ctx, args, quiet); err == nil {
			t.Errorf("switchboard %s succeeded", strings.Join(args, " "))
		}
	}
	if err := run(ctx, []string{"sso", "verify-domain", "-account", acct.SlugOrEmpty(), "-domain", "engines.example"}, quiet); err != nil {
		t.Fatal(err)
	}
	db = openDataDir(t, dir)
	defer closeDB(db)
	sa, err := sso.FindSSOByEmail(ctx, db, "someone@engines.example")
	if err != nil || sa.Account.ID != acct.ID {
		t.Fatalf("the proved domain does not route to the organization: %v", err)
	}
	var actor string
	plainDataDir(t, dir).Raw("SELECT actor_name FROM audit_events WHERE account_id = ? AND action = ?", acct.ID, sso.AuditSSODomainVerified).Scan(&actor)
	if !strings.Contains(actor, "switchboard sso verify-domain") {
		t.Fatalf("audit actor %q does not name the command", actor)
	}
}
