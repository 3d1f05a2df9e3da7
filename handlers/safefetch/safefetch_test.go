package safefetch_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"switchboard/handlers/safefetch"
)

func TestGet(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/doc", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("  <doc/>\n")) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(strings.Repeat("x", 11))) })
	mux.HandleFunc("/gone", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "gone", http.StatusGone) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	self := httptest.NewTLSServer(mux) // a certificate no authority signed
	t.Cleanup(self.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	private := safefetch.Fetcher{AllowPrivate: true, MaxBytes: 10}
	body, err := private.Get(t.Context(), srv.URL+"/doc")
	if err != nil || string(body) != "<doc/>" {
		t.Fatalf("%q, %v", body, err)
	}
	for _, tc := range []struct {
		f    safefetch.Fetcher
		url  string
		want error
	}{
		{safefetch.Fetcher{}, "not a url", safefetch.ErrInvalidURL},
		{safefetch.Fetcher{}, "https://", safefetch.ErrInvalidURL},
		{safefetch.Fetcher{}, "http://idp.example/metadata", safefetch.ErrNotHTTPS},
		{safefetch.Fetcher{}, "ftp://idp.example/metadata", safefetch.ErrNotHTTPS},
		{safefetch.Fetcher{}, self.URL + "/doc", safefetch.ErrReservedAddress},
		{safefetch.Fetcher{}, "https://[::1]/doc", safefetch.ErrReservedAddress},
		{private, self.URL + "/doc", safefetch.ErrCertificate},
		{private, srv.URL + "/big", safefetch.ErrTooLarge},
		{private, srv.URL + "/loop", safefetch.ErrTooManyRedirects},
		{private, "http://" + closed + "/doc", safefetch.ErrUnreachable},
		{private, "http://switchboard-test.invalid/doc", safefetch.ErrUnreachable},
	} {
		if _, err := tc.f.Get(t.Context(), tc.url); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.url, err, tc.want)
		}
	}
	var status *safefetch.StatusError
	if _, err := private.Get(t.Context(), srv.URL+"/gone"); !errors.As(err, &status) || status.Code != http.StatusGone {
		t.Errorf("/gone: %v, want a StatusError 410", err)
	}
	// The sentinel says what kind of failure; the wrapped error keeps the
	// detail, for the log.
	if _, err := (safefetch.Fetcher{}).Get(t.Context(), "https://127.0.0.1:1/doc"); err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("the error lacks the refused address: %v", err)
	}
}
