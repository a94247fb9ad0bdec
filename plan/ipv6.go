package plan

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netctl/netctl/schema"
)

// IPv6. A dual-stack bridge (address6 in the file) keeps every promise for
// IPv6 as for IPv4: isolation rules match both families already; links and
// allowed sources have IPv6 twins of their sets (one lookup per packet per
// family); with icc: false neighbour discovery is accepted before the drop,
// or links over IPv6 would die with the neighbour cache. An IPv4-only bridge
// carries no IPv6 through the firewall: IPv6 forwarded to, from or across
// it is dropped, link-local included, whatever the host's IPv6 forwarding.

// IPv6 objects of netctl's table.
const (
	SetLinks6          = "links6"
	SetAllowedSources6 = "allowed_sources6"

	Links6KeyType          = "ipv6_addr . ipv6_addr . inet_proto . inet_service"
	AllowedSources6KeyType = "ifname . ipv6_addr"

	// SysctlIP6Forward is the file's ip6_forward.
	SysctlIP6Forward = "net.ipv6.conf.all.forwarding"
)

// IPv6 match keys, spelled as nft spells them.
const (
	// (KeyNFProto, `meta nfproto ipv4|ipv6` where no address match
	// implies the family, is forward.go's.)
	KeySAddr6       MatchKey = "ip6 saddr"
	KeyDAddr6       MatchKey = "ip6 daddr"
	KeyLinkTuple6   MatchKey = "ip6 saddr . ip6 daddr . meta l4proto . th dport"
	KeySourceTuple6 MatchKey = "oifname . ip6 saddr"
	// KeyICMPv6Type is `icmpv6 type NAME` (one type).
	KeyICMPv6Type MatchKey = "icmpv6 type"
)

// The ICMPv6 types netctl lets through with icc: false: neighbour
// discovery, without which no IPv6 link survives the neighbour cache.
const (
	ICMPv6NeighborSolicit = "nd-neighbor-solicit"
	ICMPv6NeighborAdvert  = "nd-neighbor-advert"
)

// Rule comment suffixes of the IPv6 rules (after "bridge.NAME").
const (
	suffixIPv4OnlyIn  = ".ipv4_only.in"
	suffixIPv4OnlyOut = ".ipv4_only.out"
)

// MatchFamily is the address family a match key implies: 4, 6 or 0 (none).
func MatchFamily(k MatchKey) int {
	switch k {
	case KeySAddr, KeyDAddr, KeyLinkTuple, KeySourceTuple:
		return 4
	case KeySAddr6, KeyDAddr6, KeyLinkTuple6, KeySourceTuple6, KeyICMPv6Type:
		return 6
	}
	return 0
}

// ipv4OnlyRules drop IPv6 in and out of a bridge without address6 (across
// it too: same-bridge traffic meets the hook through br_netfilter).
func ipv4OnlyRules(b schema.Bridge) []Rule {
	if b.Address6.IsValid() {
		return nil
	}
	v6 := Match{Key: KeyNFProto, Value: "ipv6"}
	addr := "bridge." + b.Name
	return []Rule{
		{Comment: addr + suffixIPv4OnlyIn, Match: []Match{{Key: KeyIIFName, Value: b.Name}, v6}, Verdict: VerdictDrop},
		{Comment: addr + suffixIPv4OnlyOut, Match: []Match{{Key: KeyOIFName, Value: b.Name}, v6}, Verdict: VerdictDrop},
	}
}

// allowedSources6 is the IPv6 twin of the allowed_sources rule, for a
// dual-stack bridge with allowed sources (of either family: a list of IPv4
// sources only admits no IPv6 source), and its elements.
func allowedSources6(b schema.Bridge, from, out Match, set *Set) []Rule {
	if !b.Address6.IsValid() || len(b.AllowedSources) == 0 {
		return nil
	}
	for _, p := range b.AllowedSources {
		if p.Addr().Is6() {
			set.Elements = append(set.Elements, Element{
				Key:     quoteIfname(b.Name) + " . " + CanonicalPrefix(p),
				Comment: AllowedSourceAddress(b.Name, p),
			})
		}
	}
	return []Rule{{
		Comment: "bridge." + b.Name + ".allowed_sources6",
		Match:   []Match{from, out, {Key: KeySourceTuple6, Negate: true, Value: "@" + SetAllowedSources6}},
		Verdict: VerdictDrop,
	}}
}

// iccRules6 come before a dual-stack bridge's icc drop: neighbour
// discovery, then the IPv6 links.
func iccRules6(b schema.Bridge, in, out Match) []Rule {
	if !b.Address6.IsValid() {
		return nil
	}
	addr := "bridge." + b.Name
	nd := func(typ string) Rule {
		return Rule{Comment: addr + ".icc." + typ, Match: []Match{in, out, {Key: KeyICMPv6Type, Value: typ}}, Verdict: VerdictAccept}
	}
	return []Rule{
		nd(ICMPv6NeighborSolicit),
		nd(ICMPv6NeighborAdvert),
		{Comment: addr + ".links6", Match: []Match{in, out, {Key: KeyLinkTuple6, Value: "@" + SetLinks6}}, Verdict: VerdictAccept},
	}
}

// links6 adds the IPv6 elements of a dual-stack bridge's links: the same
// ports as the IPv4 ones, between the two containers' address6 (a link
// whose containers lack one opens nothing over IPv6).
func links6(b schema.Bridge, set *Set) {
	if !b.Address6.IsValid() || len(b.Links) == 0 {
		return
	}
	addr6 := make(map[string]netip.Addr, len(b.Containers))
	for _, c := range slices.Backward(b.Containers) {
		if c.Address6.IsValid() {
			addr6[c.Name] = c.Address6
		} else {
			delete(addr6, c.Name)
		}
	}
	for _, l := range b.Links {
		from, okF := addr6[l.From]
		to, okT := addr6[l.To]
		if !okF || !okT {
			continue
		}
		comment := LinkAddress(b.Name, l.From, l.To)
		for _, p := range schema.MergePorts(l.Ports) {
			key := appendAddr(nil, from)
			key = append(key, " . "...)
			key = appendAddr(key, to)
			key = append(key, " . "+p.Proto+" . "...)
			key = appendPort(key, p)
			set.Elements = append(set.Elements, Element{Key: string(key), Comment: comment})
		}
	}
}

// masquerade6 is NAT66 of a dual-stack bridge's IPv6 subnet.
func masquerade6(b schema.Bridge) []Rule {
	if !b.Address6.IsValid() || !b.Masquerade6 {
		return nil
	}
	return []Rule{{
		Comment: "bridge." + b.Name + ".masquerade6",
		Match:   []Match{{Key: KeyOIFName, Negate: true, Value: b.Name}, {Key: KeySAddr6, Value: b.Address6.Masked().String()}},
		Verdict: VerdictMasquerade,
	}}
}

// desired6 adds the IPv6 objects of the file to a desired state: the
// ip6_forward sysctl, the bridges' IPv6 addresses, and, when some bridge is
// dual-stack, the IPv6 sets (none otherwise, so an IPv4-only file's table
// is what it was).
func desired6(cfg *schema.Config, s *State) {
	if cfg.IP6Forward != nil {
		s.Sysctls[SysctlIP6Forward] = boolSysctl(*cfg.IP6Forward)
	}
	for _, b := range cfg.Bridges {
		if cfg.Firewall && !b.Address6.IsValid() {
			// IPv6 across an IPv4-only bridge is bridged: the table's drop
			// sees it only through br_netfilter, icc or not.
			s.Sysctls[SysctlBridgeNFIp6tables] = "1"
		}
		if b.Address6.IsValid() {
			br := s.Bridges[b.Name]
			br.Addresses = append(slices.Clone(br.Addresses), b.Address6)
			slices.SortFunc(br.Addresses, netip.Prefix.Compare)
			s.Bridges[b.Name] = br
		}
	}
}

// firewall6Sets returns the IPv6 sets when some bridge is dual-stack.
func firewall6Sets(bridges []schema.Bridge, sources6 Set) []Set {
	dual := slices.ContainsFunc(bridges, func(b schema.Bridge) bool { return b.Address6.IsValid() })
	if !dual {
		return nil
	}
	links := Set{Name: SetLinks6, Type: Links6KeyType, Interval: true}
	for _, b := range bridges {
		links6(b, &links)
	}
	SortElements(links.Elements)
	SortElements(sources6.Elements)
	return []Set{sources6, links}
}

// IPv4OnlyNotes say, for each IPv4-only bridge whose IPv6 drop the plan
// brings in, that IPv6 to, from and across it will be dropped: a line in
// the plan, so that nobody is surprised.
func IPv4OnlyNotes(desired, live State) []string {
	var notes []string
	fwd := desired.Firewall.Chain(ChainForward)
	if fwd == nil {
		return nil
	}
	liveFwd := live.Firewall.Chain(ChainForward)
	for _, r := range fwd.Rules {
		name, ok := cutSuffix(r.Comment, suffixIPv4OnlyIn)
		if !ok {
			continue
		}
		if liveFwd != nil && slices.ContainsFunc(liveFwd.Rules, func(l Rule) bool { return l.Comment == r.Comment }) {
			continue
		}
		notes = append(notes, fmt.Sprintf("%s has no address6: netctl's table will drop all IPv6 forwarded to, from or across it, link-local included, whatever the host's IPv6 forwarding (give it address6 to make it dual-stack).", name))
	}
	return notes
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) < len(suffix) || s[len(s)-len(suffix):] != suffix {
		return "", false
	}
	return s[:len(s)-len(suffix)], true
}

// sortedSets sorts sets by name, the order Read returns them in.
func sortedSets(sets []Set) []Set {
	slices.SortFunc(sets, func(a, b Set) int { return strings.Compare(a.Name, b.Name) })
	return sets
}
