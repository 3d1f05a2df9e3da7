package safefetch

import (
	"net/netip"
	"testing"
)

// Each reserved network, at both ends and just outside each end.
func TestReservedAddress(t *testing.T) {
	v4 := []struct {
		addr     string
		reserved bool
	}{
		// 0.0.0.0/8, "this network"
		{"0.0.0.0", true}, {"0.255.255.255", true}, {"1.0.0.0", false},
		// 10.0.0.0/8
		{"9.255.255.255", false}, {"10.0.0.0", true}, {"10.255.255.255", true}, {"11.0.0.0", false},
		// 100.64.0.0/10, shared address space
		{"100.63.255.255", false}, {"100.64.0.0", true}, {"100.127.255.255", true}, {"100.128.0.0", false},
		// 127.0.0.0/8
		{"126.255.255.255", false}, {"127.0.0.0", true}, {"127.0.0.1", true}, {"127.255.255.255", true}, {"128.0.0.0", false},
		// 169.254.0.0/16
		{"169.253.255.255", false}, {"169.254.0.0", true}, {"169.254.169.254", true}, {"169.254.255.255", true}, {"169.255.0.0", false},
		// 172.16.0.0/12
		{"172.15.255.255", false}, {"172.16.0.0", true}, {"172.31.255.255", true}, {"172.32.0.0", false},
		// 192.0.0.0/24, IETF protocol assignments
		{"191.255.255.255", false}, {"192.0.0.0", true}, {"192.0.0.255", true}, {"192.0.1.0", false},
		// 192.168.0.0/16
		{"192.167.255.255", false}, {"192.168.0.0", true}, {"192.168.255.255", true}, {"192.169.0.0", false},
		// 198.18.0.0/15, benchmarking
		{"198.17.255.255", false}, {"198.18.0.0", true}, {"198.19.255.255", true}, {"198.20.0.0", false},
		// 224.0.0.0/4, multicast, then 240.0.0.0/4 up to the broadcast address
		{"223.255.255.255", false}, {"224.0.0.0", true}, {"239.255.255.255", true},
		{"240.0.0.0", true}, {"255.255.255.254", true}, {"255.255.255.255", true},
		// Public.
		{"1.1.1.1", false}, {"8.8.8.8", false}, {"93.184.216.34", false},
	}
	for _, tc := range v4 {
		ip := netip.MustParseAddr(tc.addr)
		if got := reservedAddress(ip); got != tc.reserved {
			t.Errorf("%s: reserved %v, want %v", tc.addr, got, tc.reserved)
		}
		// The same address in IPv4-mapped IPv6 form.
		mapped := netip.AddrFrom16(ip.As16())
		if got := reservedAddress(mapped); got != tc.reserved {
			t.Errorf("%s: reserved %v, want %v", mapped, got, tc.reserved)
		}
	}

	v6 := []struct {
		addr     string
		reserved bool
	}{
		// ::/96: unspecified, loopback, IPv4-compatible
		{"::", true}, {"::1", true}, {"::ffff:ffff", true}, {"::1:0:0", false},
		// ::ffff:0:0:0/96, IPv4-translated
		{"::fffe:ffff:ffff:ffff", false}, {"::ffff:0:0:0", true}, {"::ffff:0:ffff:ffff", true}, {"::ffff:1:0:0", false},
		// 64:ff9b::/96, NAT64, whatever IPv4 address it carries
		{"64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", false}, {"64:ff9b::", true}, {"64:ff9b::7f00:1", true},
		{"64:ff9b::808:808", true}, {"64:ff9b::ffff:ffff", true}, {"64:ff9b::1:0:0", false},
		// 64:ff9b:1::/48, local-use NAT64
		{"64:ff9b:0:ffff:ffff:ffff:ffff:ffff", false}, {"64:ff9b:1::", true}, {"64:ff9b:1:ffff:ffff:ffff:ffff:ffff", true}, {"64:ff9b:2::", false},
		// fc00::/7, unique local
		{"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false}, {"fc00::", true}, {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true}, {"fe00::", false},
		// fe80::/10 link-local, then fec0::/10 site-local, then ff00::/8 multicast
		{"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false}, {"fe80::", true}, {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
		{"fec0::", true}, {"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
		{"ff00::", true}, {"ff02::1", true}, {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
		// A zone changes nothing.
		{"fe80::1%eth0", true}, {"2001:4860:4860::8888%eth0", false},
		// Public.
		{"2001:4860:4860::8888", false}, {"2606:4700:4700::1111", false},
	}
	for _, tc := range v6 {
		if got := reservedAddress(netip.MustParseAddr(tc.addr)); got != tc.reserved {
			t.Errorf("%s: reserved %v, want %v", tc.addr, got, tc.reserved)
		}
	}
	if !reservedAddress(netip.Addr{}) {
		t.Error("the zero address is not reserved")
	}
}
