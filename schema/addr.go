package schema

import (
	"encoding/binary"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"
)

const (
	gatewayExample = "an IPv4 gateway address with prefix length, e.g. 172.17.0.1/16"
	hostExample    = "an IPv4 address, e.g. 172.17.0.2"
	sourceExample  = "an IPv4 or IPv6 address or CIDR, e.g. 198.51.100.10, 203.0.113.0/24 or 2001:db8:100::/48"
)

// addrText reads a scalar holding an address; a YAML integer or number is
// refused with the same message as a string that is not an address.
func (p *parser) addrText(n *node, path fieldPath, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) || n.ShortTag() == "!!bool" {
		p.expected(n, path, want)
		return "", false
	}
	return n.Value, true
}

func (p *parser) gateway(n *node, path fieldPath) (netip.Prefix, bool) {
	s, ok := p.addrText(n, path, gatewayExample)
	if !ok {
		return netip.Prefix{}, false
	}
	if !strings.Contains(s, "/") {
		if a, err := netip.ParseAddr(s); err == nil {
			if !a.Is4() {
				p.add(n, path, "%s", ipv6Elsewhere)
			} else {
				p.add(n, path, "%s has no prefix length: expected %s", s, gatewayExample)
			}
			return netip.Prefix{}, false
		}
	}
	pr, err := netip.ParsePrefix(s)
	if err != nil {
		p.add(n, path, "malformed address %q: expected %s", shorten(s), gatewayExample)
		return netip.Prefix{}, false
	}
	if !pr.Addr().Is4() {
		p.add(n, path, "%s", ipv6Elsewhere)
		return netip.Prefix{}, false
	}
	if pr.Bits() > 30 {
		p.add(n, path, "prefix /%d is too long: a bridge's subnet must be /30 or shorter, to hold the gateway and a container", pr.Bits())
		return netip.Prefix{}, false
	}
	a, subnet := pr.Addr(), pr.Masked()
	switch {
	case a == subnet.Addr():
		p.add(n, path, "%s is the network address of %s: the gateway must be a host address in it", a, subnet)
	case a == lastAddr(subnet):
		p.add(n, path, "%s is the broadcast address of %s: the gateway must be a host address in it", a, subnet)
	default:
		if msg := special(a); msg != "" {
			p.add(n, path, "%s is %s: the gateway must be a unicast address", a, msg)
		} else {
			return pr, true
		}
	}
	return netip.Prefix{}, false
}

// special says what kind of address a is when it cannot be a host's on a
// bridge.
func special(a netip.Addr) string {
	switch {
	case a.As4()[0] == 0:
		return "in 0.0.0.0/8, this host on this network"
	case a.IsLoopback():
		return "a loopback address"
	case a.IsMulticast():
		return "a multicast address"
	case a.As4()[0] >= 240:
		return "in 240.0.0.0/4, reserved"
	}
	return ""
}

func (p *parser) hostAddr(n *node, path fieldPath) (netip.Addr, bool) {
	s, ok := p.addrText(n, path, hostExample)
	if !ok {
		return netip.Addr{}, false
	}
	if pr, err := netip.ParsePrefix(s); err == nil {
		if !pr.Addr().Is4() {
			p.add(n, path, "%s", ipv6Elsewhere)
		} else {
			p.add(n, path, "%s has a prefix length: a container's address takes its bridge's, write %s", s, pr.Addr())
		}
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		p.add(n, path, "malformed address %q: expected %s", shorten(s), hostExample)
		return netip.Addr{}, false
	}
	if !a.Is4() {
		p.add(n, path, "%s", ipv6Elsewhere)
		return netip.Addr{}, false
	}
	return a, true
}

// source reads an allowed_sources entry: a host address becomes a /32; a
// CIDR with host bits set is refused, since it is unclear whether the host or
// the network was meant.
func (p *parser) source(n *node, path fieldPath) (netip.Prefix, bool) {
	s, ok := p.addrText(n, path, sourceExample)
	if !ok {
		return netip.Prefix{}, false
	}
	var pr netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if pr, err = netip.ParsePrefix(s); err != nil {
			p.add(n, path, "malformed address %q: expected %s", shorten(s), sourceExample)
			return netip.Prefix{}, false
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			p.add(n, path, "malformed address %q: expected %s", shorten(s), sourceExample)
			return netip.Prefix{}, false
		}
		if a.Zone() != "" {
			p.add(n, path, "%s has a zone: allowed sources are addresses without zone", s)
			return netip.Prefix{}, false
		}
		pr = netip.PrefixFrom(a, a.BitLen())
	}
	if msg := badSource6(pr.Addr()); msg != "" {
		p.add(n, path, "%s", msg)
		return netip.Prefix{}, false
	}
	if m := pr.Masked(); m != pr {
		p.add(n, path, "%s has host bits set: write %s for the network or %s for the host", s, m, pr.Addr())
		return netip.Prefix{}, false
	}
	return pr, true
}

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(pr netip.Prefix) netip.Addr {
	b := pr.Masked().Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) | uint32(uint64(1)<<(32-pr.Bits())-1)
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}
