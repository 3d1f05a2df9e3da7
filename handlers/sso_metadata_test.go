package handlers_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gorm.io/gorm"

	"switchboard/handlers"
	"switchboard/models/dbtest"
)

// The metadata URL is refused on every reserved network, by literal address
// or by name, and the message names neither the address nor what the
// resolver or the network said; the log keeps the detail.
func TestSSOMetadataURLRefusesReservedAddresses(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db)
		_, org, ac := orgAdmin(t, app)
		const reserved = "The metadata URL points to a private or reserved network address."
		const unreachable = "The metadata host could not be reached."
		for _, tc := range []struct {
			url, msg string
			secret   []string // what the page must not say
		}{
			{"https://100.64.0.1/metadata", reserved, []string{"100.64"}},
			{"https://198.18.0.1/metadata", reserved, []string{"198.18"}},
			{"https://192.0.0.8/metadata", reserved, []string{"192.0.0"}},
			{"https://240.0.0.1/metadata", reserved, []string{"240.0"}},
			{"https://255.255.255.255/metadata", reserved, []string{"255.255"}},
			{"https://224.0.0.1/metadata", reserved, []string{"224.0"}},
			{"https://169.254.169.254/latest/meta-data", reserved, []string{"169.254"}},
			{"https://0.0.0.0/metadata", reserved, []string{"0.0.0.0"}},
			{"https://[::ffff:127.0.0.1]/metadata", reserved, []string{"127.0.0.1", "::ffff"}},
			{"https://[::ffff:10.1.2.3]/metadata", reserved, []string{"10.1.2.3"}},
			{"https://[64:ff9b::a01:203]/metadata", reserved, []string{"64:ff9b", "a01"}},
			{"https://[ff02::1]/metadata", reserved, []string{"ff02"}},
			{"https://[fd00::1]/metadata", reserved, []string{"fd00"}},
			{"https://localhost/metadata", reserved, []string{"127.0.0.1", "::1"}},
			// A name that does not resolve: the resolver's answer names the
			// resolver.
			{"https://switchboard-test.invalid/metadata", unreachable, []string{"lookup", "no such host", ":53"}},
		} {
			f := ssoSetup{}.form("")
			f.Set("metadata_url", tc.url)
			r := ac.post("/settings/sso", f).status(http.StatusUnprocessableEntity)
			msg := strings.TrimSpace(r.doc().Find("#field-metadata_url-error").Text())
			if msg != tc.msg {
				t.Errorf("%s: %q, want %q", tc.url, msg, tc.msg)
			}
			for _, s := range tc.secret {
				if strings.Contains(msg, s) {
					t.Errorf("%s: the message %q says %q", tc.url, msg, s)
				}
			}
			if n := countRows(t, db, "sso_connections", "account_id = ?", org.AccountID()); n != 0 {
				t.Fatalf("%s: saved", tc.url)
			}
		}
		if logs := app.logs.String(); !strings.Contains(logs, "metadata fetch failed") || !strings.Contains(logs, "100.64.0.1") {
			t.Error("the log does not keep the refused address")
		}
	})
}

// A host that refuses the connection is "could not be reached", whatever
// the network said; one whose certificate fails is told apart.
func TestSSOMetadataURLUnreachable(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		app := newApp(t, db, func(c *handlers.Config) { c.AllowPrivateMetadataHosts = true })
		_, _, ac := orgAdmin(t, app)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := l.Addr().String()
		l.Close()
		f := ssoSetup{}.form("")
		f.Set("metadata_url", "http://"+closed+"/metadata")
		r := ac.post("/settings/sso", f).status(http.StatusUnprocessableEntity)
		if msg := strings.TrimSpace(r.doc().Find("#field-metadata_url-error").Text()); msg != "The metadata host could not be reached." {
			t.Errorf("message %q", msg)
		}
		r.lacks("connection refused").lacks("dial tcp")

		// A certificate no authority signed.
		self := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
		t.Cleanup(self.Close)
		f.Set("metadata_url", self.URL+"/metadata")
		r = ac.post("/settings/sso", f).status(http.StatusUnprocessableEntity)
		if msg := strings.TrimSpace(r.doc().Find("#field-metadata_url-error").Text()); msg != "The metadata host's certificate could not be verified." {
			t.Errorf("message %q", msg)
		}
	})
}
