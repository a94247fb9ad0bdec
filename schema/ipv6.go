package schema

import (
	"fmt"
	"net/netip"
	"strings"
)

// IPv6: a bridge is dual-stack when its file entry has address6; its
// containers may then have address6, its allowed_sources IPv6 entries, and
// masquerade6 switches NAT66 on.

const (
	gateway6Example = "an IPv6 gateway address with prefix length, e.g. fd00:17::1/64"
	host6Example    = "an IPv6 address, e.g. fd00:17::3"
	// ipv6Elsewhere answers an IPv6 address where an IPv4 one belongs.
	ipv6Elsewhere = "an IPv6 address: write it in address6 (address is the IPv4 one)"
)

// special6 says what kind of IPv6 address a is when it cannot be a
// host's global address on a bridge.
func special6(a netip.Addr) string {
	switch {
	case a.Is4In6():
		return "an IPv4-mapped address"
	case a.IsUnspecified():
		return "the unspecified address"
	case a.IsLoopback():
		return "the loopback address"
	case a.IsMulticast():
		return "a multicast address"
	case a.IsLinkLocalUnicast():
		return "a link-local address (the kernel gives every interface its own)"
	}
	return ""
}

// gateway6 reads a bridge's address6.
func (p *parser) gateway6(n *node, path fieldPath) (netip.Prefix, bool) {
	s, ok := p.addrText(n, path, gateway6Example)
	if !ok {
		return netip.Prefix{}, false
	}
	if !strings.Contains(s, "/") {
		if a, err := netip.ParseAddr(s); err == nil && a.Is6() && a.Zone() == "" {
			p.add(n, path, "%s has no prefix length: expected %s", s, gateway6Example)
			return netip.Prefix{}, false
		}
	}
	pr, err := netip.ParsePrefix(s)
	if err != nil {
		p.add(n, path, "malformed address %q: expected %s", shorten(s), gateway6Example)
		return netip.Prefix{}, false
	}
	a := pr.Addr()
	switch {
	case a.Is4():
		p.add(n, path, "%s is an IPv4 address: address6 takes %s", s, gateway6Example)
	case special6(a) != "":
		p.add(n, path, "%s is %s: the gateway must be a unicast address", a, special6(a))
	case pr.Bits() > 126:
		p.add(n, path, "prefix /%d is too long: a bridge's IPv6 subnet must be /126 or shorter, to hold the gateway and a container", pr.Bits())
	case a == pr.Masked().Addr():
		p.add(n, path, "%s is the subnet-router anycast address of %s: the gateway must be another address in it", a, pr.Masked())
	default:
		return pr, true
	}
	return netip.Prefix{}, false
}

// hostAddr6 reads a container's address6.
func (p *parser) hostAddr6(n *node, path fieldPath) (netip.Addr, bool) {
	s, ok := p.addrText(n, path, host6Example)
	if !ok {
		return netip.Addr{}, false
	}
	if pr, err := netip.ParsePrefix(s); err == nil && pr.Addr().Is6() {
		p.add(n, path, "%s has a prefix length: a container's address6 takes its bridge's, write %s", s, pr.Addr())
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil || a.Zone() != "":
		p.add(n, path, "malformed address %q: expected %s", shorten(s), host6Example)
	case a.Is4():
		p.add(n, path, "%s is an IPv4 address: address6 takes %s", s, host6Example)
	case special6(a) != "":
		p.add(n, path, "%s is %s: a container's address6 must be a unicast address of its bridge's IPv6 subnet", a, special6(a))
	default:
		return a, true
	}
	return netip.Addr{}, false
}

// badSource6 refuses an IPv6 allowed source that cannot match a packet's
// source as written (netctl's set is keyed by plain IPv6 addresses).
func badSource6(a netip.Addr) string {
	switch {
	case a.Is4():
		return ""
	case a.Is4In6():
		return fmt.Sprintf("%s is an IPv4-mapped address: write the IPv4 address", a)
	}
	return ""
}

// ipv6Checks checks what depends on whether the bridge is dual-stack:
// masquerade6 and IPv6 allowed sources need address6 (and the firewall).
func (p *parser) ipv6Checks(bs *bridgeSrc, firewall *node) {
	dual := bs.addr6 != nil
	if bs.masq6 != nil && bs.b.Masquerade6 {
		switch {
		case firewall != nil:
			p.add(bs.masq6, child(bs.path, "masquerade6"), "masquerade6: true needs the firewall, but firewall is false (line %d)", firewall.Line)
		case !dual:
			p.add(bs.masq6, child(bs.path, "masquerade6"), "masquerade6: true needs address6: bridge %q has no IPv6 subnet", bs.b.Name)
		}
	}
	var v6 []sourceSrc
	for _, s := range bs.sources {
		if s.prefix.Addr().Is4() {
			continue
		}
		if !dual {
			p.add(s.node, s.path, "%s is an IPv6 source, but bridge %q has no address6: netctl drops all IPv6 to it", s.node.Value, bs.b.Name)
			continue
		}
		v6 = append(v6, s)
	}
	p.source6Overlaps(v6)
}

// container6Checks checks the containers' address6: only on a dual-stack
// bridge, inside its IPv6 subnet, not the gateway or the subnet-router
// anycast address, not another container's.
func (p *parser) container6Checks(bs *bridgeSrc) {
	byAddr := make(map[netip.Addr]int)
	for i, cs := range bs.conts {
		if cs.addr6 == nil {
			continue
		}
		a, path := cs.c.Address6, child(cs.path, "address6")
		if bs.addr6 == nil {
			p.add(cs.addr6, path, "bridge %q has no address6: a container's IPv6 address needs a dual-stack bridge", bs.b.Name)
			continue
		}
		subnet := bs.b.Address6.Masked()
		switch {
		case !subnet.Contains(a):
			p.add(cs.addr6, path, "%s is outside the IPv6 subnet %s of bridge %q", a, subnet, bs.b.Name)
		case a == bs.b.Address6.Addr():
			p.add(cs.addr6, path, "%s is the IPv6 gateway address of bridge %q", a, bs.b.Name)
		case a == subnet.Addr():
			p.add(cs.addr6, path, "%s is the subnet-router anycast address of %s", a, subnet)
		default:
			if other, dup := byAddr[a]; dup {
				p.add(cs.addr6, path, "%s is already the address6 of container %q", a, bs.conts[other].c.Name)
			} else {
				byAddr[a] = i
			}
		}
	}
}

// subnet6Overlaps reports a bridge whose IPv6 subnet overlaps an earlier
// bridge's (bridges are few: pairwise).
func (p *parser) subnet6Overlaps(bridges []*bridgeSrc) {
	for i, l := range bridges {
		if l.addr6 == nil {
			continue
		}
		for _, e := range bridges[:i] {
			if e.addr6 != nil && e.b.Address6.Masked().Overlaps(l.b.Address6.Masked()) {
				p.add(l.addr6, child(l.path, "address6"), "IPv6 subnet %s overlaps the IPv6 subnet %s of bridge %q", l.b.Address6.Masked(), e.b.Address6.Masked(), e.b.Name)
				break
			}
		}
	}
}

const (
	// ipv6 is loose (hex digits and colons, at least two colons, an IPv4
	// tail allowed): the loader is the authority.
	ipv6  = `[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){1,7}(:` + ipv4 + `)?`
	bits6 = `([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8])`
	// PatternGateway6 is an IPv6 address with a prefix length of at most 126.
	PatternGateway6 = `^` + ipv6 + `/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-6])$`
	// PatternHostAddress6 is an IPv6 address without prefix length.
	PatternHostAddress6 = `^` + ipv6 + `$`
)

func (Gateway6) jsonSchema() map[string]any {
	return map[string]any{
		"type":                "string",
		"description":         "An IPv6 gateway address with the subnet's prefix length (at most /126); not link-local, multicast or the subnet-router anycast address.",
		"pattern":             PatternGateway6,
		"patternErrorMessage": "Not an IPv6 gateway address with prefix length (/0 to /126), e.g. fd00:17::1/64.",
		"errorMessage":        "Expected an IPv6 gateway address with prefix length (a string), e.g. fd00:17::1/64.",
		"examples":            []any{"fd00:17::1/64"},
	}
}

func (HostAddress6) jsonSchema() map[string]any {
	return map[string]any{
		"type":                "string",
		"description":         "An IPv6 address without prefix length.",
		"pattern":             PatternHostAddress6,
		"patternErrorMessage": "Not an IPv6 address without prefix length, e.g. fd00:17::3.",
		"errorMessage":        "Expected an IPv6 address (a string), e.g. fd00:17::3.",
		"examples":            []any{"fd00:17::3"},
	}
}
