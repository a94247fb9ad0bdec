package show

import (
	"net/netip"
	"strings"

	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// IPv6: a bridge with an IPv6 address is written with address6, its
// containers' address6 come from the links6 elements, NAT66 from the
// masquerade6 rule; the IPv4-only drops, the neighbour discovery accepts
// and the IPv6 twins of the links and sources rules are what such a file
// writes, so they say nothing more.

// facts6 are what the firewall says of a bridge's IPv6.
type facts6 struct {
	masquerade bool
	containers map[string]netip.Addr
	byAddr     map[netip.Addr]string
}

// address6 is the container's address6 as the file writes it, when the
// links6 elements gave one inside the bridge's IPv6 subnet.
func (f *facts6) address6(name string, v6 []netip.Prefix) schema.HostAddress6 {
	a, ok := f.containers[name]
	if !ok || len(v6) == 0 || !v6[0].Masked().Contains(a) || a == v6[0].Addr() {
		return ""
	}
	return schema.HostAddress6(a.String())
}

func (w *writer) ip6Forward() *bool {
	switch v, ok := w.live.Sysctls[plan.SysctlIP6Forward]; {
	case !ok:
		return nil // not read: left alone
	case v == "1":
		return ptr(true)
	case v == "0":
		// Off is the kernel's default: left out, which leaves it alone
		// (and off), so that files of IPv4-only hosts do not grow a line.
		return nil
	default:
		w.note("%s is %q, neither 0 nor 1: ip6_forward is left out", plan.SysctlIP6Forward, v)
		return nil
	}
}

// splitAddresses returns a bridge's IPv4 and IPv6 addresses; a file gives
// one of each.
func (w *writer) splitAddresses(b plan.Bridge) (v4, v6 []netip.Prefix) {
	for _, p := range b.Addresses {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	if len(v6) > 1 {
		w.note("bridge %q has %d IPv6 addresses; a file gives one: only %s is kept", b.Name, len(v6), v6[0])
	}
	return v4, v6
}

// bridgeRule6 accepts the IPv6 rules a file writes for a bridge.
func (w *writer) bridgeRule6(chain string, fa *facts, what string) bool {
	switch {
	case chain == plan.ChainPostrouting && what == "masquerade6":
		fa.ipv6.masquerade = true
	case chain != plan.ChainForward:
		return false
	case what == "ipv4_only.in", what == "ipv4_only.out", what == "allowed_sources6", what == "links6",
		what == "icc."+plan.ICMPv6NeighborSolicit, what == "icc."+plan.ICMPv6NeighborAdvert:
	default:
		return false
	}
	return true
}

// linkElement6 reads "A6 . B6 . PROTO . PORT" commented
// bridge.X.link.FROM->TO: the two containers' address6 (the ports are the
// IPv4 element's, a link opens the same over both families).
func (w *writer) linkElement6(e plan.Element) bool {
	name, rest, ok := w.bridgeOf(e.Comment)
	if !ok {
		return false
	}
	pair, ok := strings.CutPrefix(rest, "link.")
	j := strings.IndexByte(pair, '>')
	if !ok || j < 1 || pair[j-1] != '-' {
		return false
	}
	from, to := pair[:j-1], pair[j+1:]
	f := strings.Split(e.Key, " . ")
	if len(f) != 4 || !validName(from) || !validName(to) {
		return false
	}
	a, errA := netip.ParseAddr(f[0])
	b, errB := netip.ParseAddr(f[1])
	if errA != nil || errB != nil || !a.Is6() || !b.Is6() || a.Is4In6() || b.Is4In6() {
		return false
	}
	fa := w.facts[name]
	if fa.ipv6.containers == nil {
		fa.ipv6.containers, fa.ipv6.byAddr = map[string]netip.Addr{}, map[netip.Addr]string{}
	}
	for _, c := range []struct {
		name string
		addr netip.Addr
	}{{from, a}, {to, b}} {
		if have, ok := fa.ipv6.containers[c.name]; ok && have != c.addr {
			w.note("link %s: container %q has two IPv6 addresses, %s and %s: element %s left out", e.Comment, c.name, have, c.addr, e.Key)
			return true
		}
		if other, ok := fa.ipv6.byAddr[c.addr]; ok && other != c.name {
			w.note("link %s: %s is the IPv6 address of both %q and %q: element %s left out", e.Comment, c.addr, other, c.name, e.Key)
			return true
		}
	}
	fa.ipv6.containers[from], fa.ipv6.containers[to] = a, b
	fa.ipv6.byAddr[a], fa.ipv6.byAddr[b] = from, to
	return true
}
