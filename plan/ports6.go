package plan

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
