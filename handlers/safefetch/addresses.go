package safefetch

import "net/netip"

// reservedNets are the networks a fetch made on a user's behalf must never
// reach: this host, the networks around it, and addresses that are not on
// the public internet. IPv4-mapped IPv6 addresses are unmapped before they
// are compared, so each IPv4 entry covers its ::ffff:a.b.c.d form too.
var reservedNets = [...]netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"; 0.0.0.0 reaches this host
	netip.MustParsePrefix("10.0.0.0/8"),     // private
	netip.MustParsePrefix("100.64.0.0/10"),  // shared address space (carrier-grade NAT)
	netip.MustParsePrefix("127.0.0.0/8"),    // loopback
	netip.MustParsePrefix("169.254.0.0/16"), // link-local, where cloud metadata services answer
	netip.MustParsePrefix("172.16.0.0/12"),  // private
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("192.168.0.0/16"), // private
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("224.0.0.0/4"),    // multicast
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and 255.255.255.255 (broadcast)

	netip.MustParsePrefix("::/96"),           // unspecified, loopback, IPv4-compatible
	netip.MustParsePrefix("::ffff:0:0:0/96"), // IPv4-translated
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: any IPv4 address through a translator
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("fc00::/7"),        // unique local
	netip.MustParsePrefix("fe80::/10"),       // link-local
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
	netip.MustParsePrefix("ff00::/8"),        // multicast
}

// reservedAddress reports whether ip is on one of reservedNets. An invalid
// address counts as reserved; a zone is ignored.
func reservedAddress(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	// Contains is false for any address with a zone, and for an IPv4
	// address in IPv6 form against an IPv4 prefix.
	ip = ip.WithZone("").Unmap()
	for _, p := range reservedNets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
