package handlers

import (
	"context"
	"net"
	"time"
)

// txtLookup resolves DNS TXT records, to prove SSO domains: through the
// system resolver, or through server (host:port) when it is set, so that an
// air-gapped install or a test can answer with a DNS server of its own.
func txtLookup(server string) func(ctx context.Context, name string) ([]string, error) {
	if server == "" {
		return net.DefaultResolver.LookupTXT
	}
	r := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: 5 * time.Second}
			return d.DialContext(ctx, network, server)
		},
	}
	return r.LookupTXT
}
