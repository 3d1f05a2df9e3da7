// Package safefetch reads a document from a URL that a user gave, without
// letting that user make the server probe its own network: https only,
// never from (or redirected to) a private or reserved address, bounded in
// time and size.
//
// Its errors are values: each failure matches one of the sentinels below
// (or is a *StatusError), and wraps the underlying error for the log. What
// a user is told is the caller's choice; the underlying error can name
// internal hosts and addresses, and should not be shown.
package safefetch

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// Why a fetch failed.
var (
	// ErrInvalidURL: the URL is not absolute or has no host.
	ErrInvalidURL = errors.New("not an absolute url")
	// ErrNotHTTPS: the URL's scheme is not https.
	ErrNotHTTPS = errors.New("url is not https")
	// ErrReservedAddress: the host is, or resolved to, an address on a
	// private or reserved network.
	ErrReservedAddress = errors.New("address on a private or reserved network")
	// ErrTooManyRedirects: more than MaxRedirects redirects.
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrRedirectNotHTTPS: a redirect led away from https.
	ErrRedirectNotHTTPS = errors.New("redirected away from https")
	// ErrCertificate: the host's TLS certificate could not be verified.
	ErrCertificate = errors.New("certificate not verified")
	// ErrTimeout: the host did not answer in time.
	ErrTimeout = errors.New("no answer in time")
	// ErrUnreachable: the host could not be resolved or reached.
	ErrUnreachable = errors.New("host unreachable")
	// ErrIncomplete: the body could not be read in full.
	ErrIncomplete = errors.New("body not read in full")
	// ErrTooLarge: the body is larger than the Fetcher's MaxBytes.
	ErrTooLarge = errors.New("body too large")
)

// StatusError is an answer other than 200 OK.
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("status %d %s", e.Code, http.StatusText(e.Code))
}

// Bounds of every fetch.
const (
	Timeout      = 10 * time.Second
	DialTimeout  = 5 * time.Second
	MaxRedirects = 3
)

// Fetcher reads documents. Its zero value reads up to DefaultMaxBytes from
// public https addresses only.
type Fetcher struct {
	// MaxBytes bounds the body (DefaultMaxBytes when zero).
	MaxBytes int64
	// AllowPrivate lets fetches reach private and reserved addresses, and
	// use http: for tests only.
	AllowPrivate bool
}

// DefaultMaxBytes bounds a body when the Fetcher does not say.
const DefaultMaxBytes = 1 << 20

// Get reads the document at rawURL, its surrounding spaces trimmed. Every
// error matches one of the package's sentinels or is a *StatusError.
func (f Fetcher) Get(ctx context.Context, rawURL string) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return nil, ErrInvalidURL
	}
	if u.Scheme != "https" && !(f.AllowPrivate && u.Scheme == "http") {
		return nil, ErrNotHTTPS
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, ErrInvalidURL
	}
	res, err := f.client().Do(req)
	if err != nil {
		return nil, classify(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, &StatusError{Code: res.StatusCode}
	}
	limit := f.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIncomplete, err)
	}
	if int64(len(body)) > limit {
		return nil, ErrTooLarge
	}
	return bytes.TrimSpace(body), nil
}

// client is a fresh client that refuses reserved addresses, redirects away
// from https and redirect chains, and uses no proxy (a proxy would dial for
// us, past the guard).
func (f Fetcher) client() *http.Client {
	return &http.Client{
		Timeout: Timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: DialTimeout, Control: f.guard}).DialContext,
			TLSHandshakeTimeout: DialTimeout,
			Proxy:               nil,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= MaxRedirects {
				return ErrTooManyRedirects
			}
			if req.URL.Scheme != "https" && !f.AllowPrivate {
				return ErrRedirectNotHTTPS
			}
			return nil
		},
	}
}

// guard runs on the address about to be dialled, after name resolution,
// so that a name that resolves to a private address is caught too.
func (f Fetcher) guard(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrReservedAddress, address)
	}
	if !f.AllowPrivate && reservedAddress(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrReservedAddress, ap.Addr())
	}
	return nil
}

// classify gives a failed request its sentinel, keeping the error it
// wraps for the log.
func classify(err error) error {
	var cert *tls.CertificateVerificationError
	var netErr net.Error
	switch {
	case errors.Is(err, ErrReservedAddress), errors.Is(err, ErrTooManyRedirects), errors.Is(err, ErrRedirectNotHTTPS):
		return err
	case errors.As(err, &cert):
		return fmt.Errorf("%w: %w", ErrCertificate, err)
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, err)
}
