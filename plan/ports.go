package plan

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/netctl/netctl/schema"
)

// Published ports and gateway modes: the chains, rules, maps and sysctls
// they need, as data. Every publication is elements of a map, looked up
// by DNAT rules per protocol and hook, so that adding a port writes
// elements, never rules: publish_any (a hash map: protocol . host port) for
// a publication on every host address without allowed_sources, publish
// (an interval map, below) for the others, one element per host port and
// allowed source.
//
//	chain raw-prerouting  { type filter hook prerouting priority -300
//	  iifname != "lo" ip daddr 127.0.0.0/8 drop                 # the loopback guard
//	chain nat-prerouting  { type nat hook prerouting priority -100
//	  fib daddr type local meta l4proto tcp dnat ip to ip saddr . ip daddr . meta l4proto . th dport map @publish
//	  fib daddr type local meta l4proto tcp dnat ip to meta l4proto . th dport map @publish_any
//	chain nat-output      { type nat hook output priority -100      # the host's own connections
//	  (the same)
//	filter-forward, per bridge with publications or not in nat-unprotected mode:
//	  oifname "B" ct status dnat accept                          # a publication (hairpin too, icc or not)
//	  iifname != "B" oifname "B" ip saddr . ip daddr . meta l4proto . th dport @routed_ports accept   # routed
//	  iifname != "B" oifname "B" drop                            # nat, routed: nothing else from outside
//	nat-postrouting, per bridge with publications:
//	  oifname "B" ct status dnat ip saddr SUBNET masquerade      # hairpin: replies come back through the host
//	  oifname "B" ip saddr 127.0.0.0/8 masquerade                # the host's 127.0.0.1:PORT
//
// publish's key is the client's address (0.0.0.0/0 unless the
// publication lists allowed_sources), the address connected to (0.0.0.0/0
// for every host address), the protocol and the host port: per-port
// sources are checked on the original destination, before DNAT. A client
// not allowed is not translated: for it the port is not published.

// Names of the objects of published ports and gateway modes.
const (
	ChainNATPrerouting = "nat-prerouting"
	ChainNATOutput     = "nat-output"
	ChainRawPrerouting = "raw-prerouting"

	SetPublish     = "publish"
	SetPublishAny  = "publish_any"
	SetRoutedPorts = "routed_ports"

	// PublishMapType is the type of the map publish: client . host address
	// . protocol . host port : container address . container port.
	PublishMapType = LinksKeyType + " : ipv4_addr . inet_service"
	// PublishAnyMapType is the type of the map publish_any, a hash map
	// (one lookup whatever its size) of the publications on every host
	// address without allowed_sources, the common case: protocol . host
	// port : container address . container port.
	PublishAnyMapType = "inet_proto . inet_service : ipv4_addr . inet_service"
	// RoutedPortsKeyType: client . container address . protocol . port.
	RoutedPortsKeyType = LinksKeyType

	KeyL4Proto      MatchKey = "meta l4proto"
	KeyFibDAddrType MatchKey = "fib daddr type"
	KeyCTStatus     MatchKey = "ct status"

	// VerdictDNATPublish translates to the container's address and port
	// that the map publish holds for the packet.
	VerdictDNATPublish = "dnat ip to ip saddr . ip daddr . meta l4proto . th dport map @" + SetPublish
	// VerdictDNATPublishAny is the same from the map publish_any.
	VerdictDNATPublishAny = "dnat ip to meta l4proto . th dport map @" + SetPublishAny

	TypePublish = "publish"

	CommentLoopbackGuard = "firewall.loopback_guard"

	// SysctlRouteLocalnetFmt: route_localnet on a bridge lets the host's
	// connections to 127.0.0.1:PORT, translated to a container, leave
	// through it (Docker 28 without its userland proxy sets the same).
	sysctlConfPrefix = "net.ipv4.conf."
	sysctlLocalnet   = ".route_localnet"
)

// RouteLocalnetSysctl is the sysctl of a bridge's route_localnet.
func RouteLocalnetSysctl(bridge string) string { return sysctlConfPrefix + bridge + sysctlLocalnet }

// PublishAddress is the address of a publication, also the comment of its
// elements: bridge.docker0.container.web.publish.8080:80/tcp.
func PublishAddress(bridge, container string, p schema.Publish) string {
	return "bridge." + bridge + ".container." + container + ".publish." + p.String()
}

var anyIPv4 = netip.MustParsePrefix("0.0.0.0/0")

// hasPublish reports whether any container of b publishes a port.
func hasPublish(b schema.Bridge) bool {
	has4, has6 := publishFamilies(b)
	return has4 || has6
}

// publishFamilies reports whether b's publications have IPv4 and IPv6
// sides.
func publishFamilies(b schema.Bridge) (has4, has6 bool) {
	return ipv4Publish.bridgeHas(b), ipv6Publish.bridgeHas(b)
}

// publishSysctls adds route_localnet for the bridges whose publications
// the host reaches on 127.0.0.1: an IPv4 side on every address or a
// loopback one.
func publishSysctls(cfg *schema.Config, sysctls map[string]string) {
	if !cfg.Firewall {
		return
	}
	for _, b := range cfg.Bridges {
		for _, c := range b.Containers {
			for _, p := range c.Publish {
				if _, ok := publishSide(ipv4Publish, b, c, p); ok && (p.AnyHostAddr() || p.HostAddr.IsLoopback()) {
					sysctls[RouteLocalnetSysctl(b.Name)] = "1"
				}
			}
		}
	}
}

// publishForward is the forward rule of one bridge for its publications,
// placed after the source restriction and before icc: a DNATed connection
// from a container of the bridge (hairpin) is accepted whatever icc says.
// It names no family: a DNATed connection of either is a publication's.
func publishForward(b schema.Bridge) []Rule {
	if !hasPublish(b) {
		return nil
	}
	return []Rule{{Comment: "bridge." + b.Name + ".published", Match: []Match{{Key: KeyOIFName, Value: b.Name}, {Key: KeyCTStatus, Value: "dnat"}}, Verdict: VerdictAccept}}
}

// gatewayForward is the forward rules of the bridges' gateway modes, after
// every bridge's own rules: isolation between bridges is decided first
// (and named so by explain).
func gatewayForward(bridges []schema.Bridge) []Rule {
	var rs []Rule
	for _, b := range bridges {
		rs = append(rs, gatewayRules(b)...)
	}
	return rs
}

// gatewayRules: the drop matches both families; routed accepts the
// published container ports of each family the bridge has.
func gatewayRules(b schema.Bridge) []Rule {
	addr := "bridge." + b.Name
	in, out := Match{Key: KeyIIFName, Value: b.Name, Negate: true}, Match{Key: KeyOIFName, Value: b.Name}
	var rs []Rule
	switch b.GatewayMode {
	case schema.GatewayRouted:
		rs = append(rs, Rule{Comment: addr + ".routed", Match: []Match{in, out, {Key: KeyLinkTuple, Value: "@" + SetRoutedPorts}}, Verdict: VerdictAccept})
		if b.Address6.IsValid() {
			rs = append(rs, Rule{Comment: addr + ".routed6", Match: []Match{in, out, {Key: KeyLinkTuple6, Value: "@" + SetRoutedPorts6}}, Verdict: VerdictAccept})
		}
		rs = append(rs, Rule{Comment: addr + ".gateway_mode", Match: []Match{in, out}, Verdict: VerdictDrop})
	case schema.GatewayNAT:
		rs = append(rs, Rule{Comment: addr + ".gateway_mode", Match: []Match{in, out}, Verdict: VerdictDrop})
	}
	return rs
}

// publishPostrouting is the masquerade rules of one bridge with
// publications: hairpin per family the publications take, and the host's
// 127.0.0.1 (IPv4 only: IPv6 has no route_localnet).
func publishPostrouting(b schema.Bridge) []Rule {
	has4, has6 := publishFamilies(b)
	addr := "bridge." + b.Name
	out := Match{Key: KeyOIFName, Value: b.Name}
	dnat := Match{Key: KeyCTStatus, Value: "dnat"}
	var rs []Rule
	if has4 {
		rs = append(rs,
			Rule{Comment: addr + ".hairpin", Match: []Match{out, dnat, {Key: KeySAddr, Value: b.Address.Masked().String()}}, Verdict: VerdictMasquerade},
			Rule{Comment: addr + ".localhost", Match: []Match{out, {Key: KeySAddr, Value: "127.0.0.0/8"}}, Verdict: VerdictMasquerade})
	}
	if has6 {
		rs = append(rs, Rule{Comment: addr + ".hairpin6", Match: []Match{out, dnat, {Key: KeySAddr6, Value: b.Address6.Masked().String()}}, Verdict: VerdictMasquerade})
	}
	return rs
}

// publishTable is what published ports add to the table: the chains
// (nil when nothing is published) and the maps and routed sets of each
// family (with no elements, nil when not needed).
func publishTable(bridges []schema.Bridge) (chains []Chain, sets []Set) {
	var pre, outp []Rule
	for _, f := range []*publishFamily{ipv4Publish, ipv6Publish} {
		fsets, fpre, fout := f.table(bridges)
		sets = append(sets, fsets...)
		pre, outp = append(pre, fpre...), append(outp, fout...)
	}
	if len(pre) == 0 {
		return nil, sets
	}
	chains = []Chain{
		{Name: ChainNATOutput, Type: "nat", Hook: "output", Priority: -100, Policy: VerdictAccept, Rules: outp},
		{Name: ChainNATPrerouting, Type: "nat", Hook: "prerouting", Priority: -100, Policy: VerdictAccept, Rules: pre},
		{Name: ChainRawPrerouting, Type: "filter", Hook: "prerouting", Priority: -300, Policy: VerdictAccept, Rules: []Rule{{
			Comment: CommentLoopbackGuard,
			Match:   []Match{{Key: KeyIIFName, Negate: true, Value: "lo"}, {Key: KeyDAddr, Value: "127.0.0.0/8"}},
			Verdict: VerdictDrop,
		}}},
	}
	return chains, sets
}

// table is one family's maps, routed set and DNAT rules (prerouting,
// output).
func (f *publishFamily) table(bridges []schema.Bridge) (sets []Set, pre, outp []Rule) {
	publish := Set{Name: f.publish, Type: f.publishType, Interval: true}
	publishAny := Set{Name: f.publishAny, Type: f.publishAnyType}
	routed := Set{Name: f.routed, Type: f.routedType, Interval: true}
	protos := map[string]bool{}
	anyRouted := false
	for _, b := range bridges {
		isRouted := b.GatewayMode == schema.GatewayRouted && f.bridgeHasFamily(b)
		anyRouted = anyRouted || isRouted
		// Routed: by container address, protocol and port, the sources.
		type cport struct {
			addr  netip.Addr
			proto string
			port  uint16
		}
		routedSrc := map[cport][]netip.Prefix{}
		routedComment := map[cport]string{}
		var routedOrder []cport
		for _, c := range b.Containers {
			for _, p := range c.Publish {
				side, ok := publishSide(f, b, c, p)
				if !ok {
					continue
				}
				protos[p.Proto] = true
				comment := PublishAddress(b.Name, c.Name, p)
				for i := 0; i <= int(p.Host[1]-p.Host[0]); i++ {
					hp, cp := p.Host[0]+uint16(i), p.Container[0]+uint16(i)
					value := side.container.String() + " . " + strconv.Itoa(int(cp))
					if p.AnyHostAddr() && len(p.AllowedSources) == 0 {
						publishAny.Elements = append(publishAny.Elements, Element{
							Key: p.Proto + " . " + strconv.Itoa(int(hp)), Value: value, Comment: comment,
						})
					} else {
						for _, s := range side.sources {
							publish.Elements = append(publish.Elements, Element{
								Key:     CanonicalPrefix(s) + " . " + CanonicalPrefix(side.host) + " . " + p.Proto + " . " + strconv.Itoa(int(hp)),
								Value:   value,
								Comment: comment,
							})
						}
					}
					if isRouted {
						k := cport{side.container, p.Proto, cp}
						if _, seen := routedSrc[k]; !seen {
							routedOrder = append(routedOrder, k)
							routedComment[k] = comment
						}
						routedSrc[k] = append(routedSrc[k], side.sources...)
					}
				}
			}
		}
		for _, k := range routedOrder {
			for _, s := range outermost(routedSrc[k]) {
				routed.Elements = append(routed.Elements, Element{
					Key:     CanonicalPrefix(s) + " . " + k.addr.String() + " . " + k.proto + " . " + strconv.Itoa(int(k.port)),
					Comment: routedComment[k],
				})
			}
		}
	}
	if anyRouted {
		SortElements(routed.Elements)
		sets = append(sets, routed)
	}
	if len(protos) == 0 {
		return sets, nil, nil
	}
	SortElements(publish.Elements)
	SortElements(publishAny.Elements)
	sets = append([]Set{publish, publishAny}, sets...)
	for _, proto := range []string{"tcp", "udp", "sctp"} {
		if !protos[proto] {
			continue
		}
		ms := []Match{{Key: KeyFibDAddrType, Value: "local"}, {Key: KeyL4Proto, Value: proto}}
		// The interval map (a host address, allowed sources) first: its
		// keys never repeat one of the hash map's (the loader refuses it).
		pre = append(pre,
			Rule{Comment: "firewall." + f.publish + "." + proto, Match: ms, Verdict: f.verdict},
			Rule{Comment: "firewall." + f.publishAny + "." + proto, Match: ms, Verdict: f.verdictAny})
		outp = append(outp,
			Rule{Comment: "firewall." + f.publish + "." + proto + ".host", Match: ms, Verdict: f.verdict},
			Rule{Comment: "firewall." + f.publishAny + "." + proto + ".host", Match: ms, Verdict: f.verdictAny})
	}
	return sets, pre, outp
}

// outermost drops the prefixes another of the list contains: the elements
// of an interval set must not overlap.
func outermost(ps []netip.Prefix) []netip.Prefix {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Bits() - b.Bits() })
	var out []netip.Prefix
	for _, p := range ps {
		if !slices.ContainsFunc(out, func(o netip.Prefix) bool { return o.Contains(p.Addr()) }) {
			out = append(out, p.Masked())
		}
	}
	return out
}

// sortChains and sortSets put chains and sets in name order, as Read
// returns them.
func sortChains(cs []Chain) {
	slices.SortFunc(cs, func(a, b Chain) int { return strings.Compare(a.Name, b.Name) })
}

func sortSets(ss []Set) {
	slices.SortFunc(ss, func(a, b Set) int { return strings.Compare(a.Name, b.Name) })
}

// publishPart returns the publication that ends a publication's address
// ("8080:80/tcp"), or "": a -p string holds no ".publish.".
func publishPart(addr string) string {
	const marker = ".publish."
	i := strings.LastIndex(addr, marker)
	if i < 0 || bridgeMarker(addr, ".container.") < 0 {
		return ""
	}
	if _, err := schema.ParsePublish(addr[i+len(marker):]); err != nil {
		return ""
	}
	return addr[i+len(marker):]
}

// elementText is an element as a change lists it: its key, and a map
// element's value after " : ".
func elementText(e Element) string {
	if e.Value == "" {
		return e.Key
	}
	return e.Key + " : " + e.Value
}

// hairpinSatisfied reports whether the live bridge have has the hairpin
// flag the desired want asks for: on every port when want.Hairpin.
func hairpinSatisfied(want, have Bridge) bool {
	return !want.Hairpin || HairpinOn(&have)
}

// HairpinOn reports whether a bridge has the flag on every port: a desired
// bridge that asks for it, a live one whose ports all have it (or that
// has none).
func HairpinOn(b *Bridge) bool {
	if b.Hairpin {
		return true
	}
	for _, p := range b.Ports {
		if !slices.Contains(b.HairpinPorts, p) {
			return false
		}
	}
	return true
}

// HairpinDiff says how the hairpin flags of the ports both live states
// have differ, "" when they do not: what a rollback must restore.
func HairpinDiff(was, is Bridge) string {
	var on, off []string
	for _, p := range was.Ports {
		if !slices.Contains(is.Ports, p) {
			continue
		}
		w, i := slices.Contains(was.HairpinPorts, p), slices.Contains(is.HairpinPorts, p)
		switch {
		case i && !w:
			on = append(on, p)
		case w && !i:
			off = append(off, p)
		}
	}
	if len(on) == 0 && len(off) == 0 {
		return ""
	}
	return fmt.Sprintf("hairpin on %v, off %v, was the other way", on, off)
}

// BridgeSysctls are the per-bridge sysctls netctl may manage for the
// bridges of a live state (route_localnet), for a read that does not start
// from a file (netctl show).
func BridgeSysctls(live State) []string {
	var out []string
	for name := range live.Bridges {
		out = append(out, RouteLocalnetSysctl(name))
	}
	slices.Sort(out)
	return out
}
