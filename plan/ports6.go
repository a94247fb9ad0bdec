package plan

import (
	"net/netip"

	"github.com/netctl/netctl/schema"
)

// Published ports over IPv6: the twins of ports.go's maps, rules and set
// for the publications' IPv6 sides (a container with address6 on a
// dual-stack bridge, a publication on every address or an IPv6 one):
//
//	chain nat-prerouting (and nat-output, comments ending .host)
//	  fib daddr type local meta l4proto tcp dnat ip6 to ip6 saddr . ip6 daddr . meta l4proto . th dport map @publish6
//	  fib daddr type local meta l4proto tcp dnat ip6 to meta l4proto . th dport map @publish_any6
//	nat-postrouting, per dual-stack bridge with IPv6 publications:
//	  oifname "B" ct status dnat ip6 saddr SUBNET6 masquerade    # hairpin6
//	filter-forward, per dual-stack bridge in gateway_mode routed:
//	  iifname != "B" oifname "B" ip6 saddr . ip6 daddr . meta l4proto . th dport @routed_ports6 accept
//
// IPv6 has no route_localnet: the host reaching a publication at [::1]
// would need a userland proxy, which netctl does not run (not promised);
// no loopback guard is needed either, the kernel drops ::1 arriving on
// any other interface.

// Names and types of the IPv6 objects of published ports.
const (
	SetPublish6     = "publish6"
	SetPublishAny6  = "publish_any6"
	SetRoutedPorts6 = "routed_ports6"

	// PublishMap6Type: client . host address . protocol . host port :
	// container address6 . container port.
	PublishMap6Type = Links6KeyType + " : ipv6_addr . inet_service"
	// PublishAnyMap6Type: protocol . host port : container address6 .
	// container port (a hash map, as publish_any).
	PublishAnyMap6Type = "inet_proto . inet_service : ipv6_addr . inet_service"
	// RoutedPorts6KeyType: client . container address6 . protocol . port.
	RoutedPorts6KeyType = Links6KeyType

	// VerdictDNATPublish6 translates to the container's IPv6 address and
	// port that the map publish6 holds for the packet.
	VerdictDNATPublish6 = "dnat ip6 to ip6 saddr . ip6 daddr . meta l4proto . th dport map @" + SetPublish6
	// VerdictDNATPublishAny6 is the same from the map publish_any6.
	VerdictDNATPublishAny6 = "dnat ip6 to meta l4proto . th dport map @" + SetPublishAny6
)

// publishFamily is what differs between the IPv4 and IPv6 sides of
// publications: the objects' names and types, and the addresses.
type publishFamily struct {
	family                      int
	publish, publishAny, routed string
	publishType, publishAnyType string
	routedType                  string
	verdict, verdictAny         string
	anyAddr                     netip.Prefix // every client, every host address
	containerAddr               func(schema.Container) netip.Addr
	bridgeHasFamily             func(schema.Bridge) bool
}

var (
	ipv4Publish = &publishFamily{
		family: 4, publish: SetPublish, publishAny: SetPublishAny, routed: SetRoutedPorts,
		publishType: PublishMapType, publishAnyType: PublishAnyMapType, routedType: RoutedPortsKeyType,
		verdict: VerdictDNATPublish, verdictAny: VerdictDNATPublishAny,
		anyAddr:         anyIPv4,
		containerAddr:   func(c schema.Container) netip.Addr { return c.Address },
		bridgeHasFamily: func(schema.Bridge) bool { return true },
	}
	ipv6Publish = &publishFamily{
		family: 6, publish: SetPublish6, publishAny: SetPublishAny6, routed: SetRoutedPorts6,
		publishType: PublishMap6Type, publishAnyType: PublishAnyMap6Type, routedType: RoutedPorts6KeyType,
		verdict: VerdictDNATPublish6, verdictAny: VerdictDNATPublishAny6,
		anyAddr:         netip.MustParsePrefix("::/0"),
		containerAddr:   func(c schema.Container) netip.Addr { return c.Address6 },
		bridgeHasFamily: func(b schema.Bridge) bool { return b.Address6.IsValid() },
	}
)

// publishSideOf is one family's side of a publication: the container's
// address of that family, the host address (every one: the family's
// 0/0), and the clients (every one: the family's 0/0).
type publishSideOf struct {
	container netip.Addr
	host      netip.Prefix
	sources   []netip.Prefix
}

// publishSide returns a publication's side of family f; false when it
// has none: the publication takes no host address of f, the container has
// no address of f, or the allowed sources list only the other family.
func publishSide(f *publishFamily, b schema.Bridge, c schema.Container, p schema.Publish) (publishSideOf, bool) {
	if !f.bridgeHasFamily(b) || (f.family == 4 && !p.OnIPv4()) || (f.family == 6 && !p.OnIPv6()) {
		return publishSideOf{}, false
	}
	addr := f.containerAddr(c)
	srcs, ok := p.Sources(f.family)
	if !addr.IsValid() || !ok {
		return publishSideOf{}, false
	}
	if len(srcs) == 0 {
		srcs = []netip.Prefix{f.anyAddr}
	}
	host := f.anyAddr
	if !p.AnyHostAddr() {
		host = netip.PrefixFrom(p.HostAddr, p.HostAddr.BitLen())
	}
	return publishSideOf{container: addr, host: host, sources: srcs}, true
}

// bridgeHas reports whether some publication of b has a side of f.
func (f *publishFamily) bridgeHas(b schema.Bridge) bool {
	for _, c := range b.Containers {
		for _, p := range c.Publish {
			if _, ok := publishSide(f, b, c, p); ok {
				return true
			}
		}
	}
	return false
}
