package plan

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/netctl/netctl/schema"
)

// Rule comments that do not belong to one bridge.
const (
	CommentJumpUser    = "firewall.user"
	CommentEstablished = "firewall.established"
)

// Desired compiles a config into the state netctl makes real.
//
// The firewall is one inet table whose rules are fixed per bridge; links and
// source restrictions are set elements, so a packet costs one set lookup
// whatever their number, and adding a link writes one element.
func Desired(cfg *schema.Config) State {
	s := State{
		Sysctls:       map[string]string{},
		Bridges:       map[string]Bridge{},
		ForwardOthers: cfg.ForwardOthers,
	}
	if cfg.IPForward != nil {
		s.Sysctls[SysctlIPForward] = boolSysctl(*cfg.IPForward)
	}
	for _, b := range cfg.Bridges {
		s.Bridges[b.Name] = Bridge{
			Name:      b.Name,
			Kind:      "bridge",
			Addresses: []netip.Prefix{b.Address},
			MTU:       b.MTU,
			Up:        true,
			Owner:     Owner,
			Adopt:     b.Adopt,
			Hairpin:   cfg.Firewall && hasPublish(b),
		}
		if cfg.Firewall && !b.ICC {
			// Same-bridge traffic is bridged: the inet forward hook sees it
			// only through br_netfilter, IPv4 and IPv6 each by its switch.
			s.Sysctls[SysctlBridgeNFIptables] = "1"
			s.Sysctls[SysctlBridgeNFIp6tables] = "1"
		}
	}
	publishSysctls(cfg, s.Sysctls)
	if cfg.Firewall {
		s.Firewall = desiredFirewall(cfg.Bridges)
	}
	return s
}

func boolSysctl(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

func desiredFirewall(bridges []schema.Bridge) *Firewall {
	forward := []Rule{
		{Comment: CommentJumpUser, Verdict: VerdictJumpUser},
		{Comment: CommentEstablished, Match: []Match{{Key: KeyCTState, Value: "established,related"}}, Verdict: VerdictAccept},
	}
	var postrouting []Rule
	links := Set{Name: SetLinks, Type: LinksKeyType, Interval: true}
	nlinks := 0
	for _, b := range bridges {
		nlinks += len(b.Links)
	}
	text := make([]byte, 0, nlinks*96) // two addresses, a port and a comment
	spans := make([]elementSpan, 0, nlinks)
	sources := Set{Name: SetAllowedSources, Type: AllowedSourcesKeyType, Interval: true}

	for _, b := range bridges {
		addr := "bridge." + b.Name
		in, out := Match{Key: KeyIIFName, Value: b.Name}, Match{Key: KeyOIFName, Value: b.Name}
		// Isolation, as Docker isolates its networks: nothing from this
		// bridge may be forwarded to another managed bridge.
		for _, other := range bridges {
			if other.Name != b.Name {
				forward = append(forward, Rule{
					Comment: addr + ".isolation." + other.Name,
					Match:   []Match{in, {Key: KeyOIFName, Value: other.Name}},
					Verdict: VerdictDrop,
				})
			}
		}
		if len(b.AllowedSources) > 0 {
			from := Match{Key: KeyIIFName, Value: b.Name, Negate: true}
			if b.ExternalInterface != "" {
				from = Match{Key: KeyIIFName, Value: b.ExternalInterface}
			}
			forward = append(forward, Rule{
				Comment: addr + ".allowed_sources",
				Match:   []Match{from, out, {Key: KeySourceTuple, Negate: true, Value: "@" + SetAllowedSources}},
				Verdict: VerdictDrop,
			})
			for _, p := range b.AllowedSources {
				sources.Elements = append(sources.Elements, Element{
					Key:     quoteIfname(b.Name) + " . " + CanonicalPrefix(p),
					Comment: AllowedSourceAddress(b.Name, p),
				})
			}
		}
		forward = append(forward, publishForward(b)...)
		if !b.ICC {
			forward = append(forward,
				Rule{
					Comment: addr + ".links",
					Match:   []Match{in, out, {Key: KeyLinkTuple, Value: "@" + SetLinks}},
					Verdict: VerdictAccept,
				},
				Rule{Comment: addr + ".icc", Match: []Match{in, out}, Verdict: VerdictDrop},
			)
		}
		// By name, once: b.Container is a scan, quadratic over many links.
		containers := make(map[string]schema.Container, len(b.Containers))
		for _, c := range slices.Backward(b.Containers) {
			containers[c.Name] = c // the first of a name wins, as in b.Container
		}
		for _, l := range b.Links {
			from, to := containers[l.From], containers[l.To]
			c0 := len(text)
			text = append(text, "bridge."...)
			text = append(text, b.Name...)
			text = append(text, ".link."...)
			text = append(text, l.From...)
			text = append(text, "->"...)
			text = append(text, l.To...) // LinkAddress
			c1 := len(text)
			for _, p := range schema.MergePorts(l.Ports) {
				k0 := len(text)
				text = appendAddr(text, from.Address)
				text = append(text, " . "...)
				text = appendAddr(text, to.Address)
				text = append(text, " . "...)
				text = append(text, p.Proto...)
				text = append(text, " . "...)
				text = appendPort(text, p)
				spans = append(spans, elementSpan{k0, len(text), c0, c1})
			}
		}
		postrouting = append(postrouting, publishPostrouting(b)...)
		if b.Masquerade {
			postrouting = append(postrouting, Rule{
				Comment: addr + ".masquerade",
				Match:   []Match{{Key: KeyOIFName, Negate: true, Value: b.Name}, {Key: KeySAddr, Value: b.Address.Masked().String()}},
				Verdict: VerdictMasquerade,
			})
		}
	}
	forward = append(forward, gatewayForward(bridges)...)
	// The keys and comments of all link elements are one string: two
	// allocations instead of two per link.
	all := string(text)
	links.Elements = make([]Element, len(spans))
	for i, sp := range spans {
		links.Elements[i] = Element{Key: all[sp.k0:sp.k1], Comment: all[sp.c0:sp.c1]}
	}
	SortElements(links.Elements)
	SortElements(sources.Elements)
	fw := &Firewall{
		Owner: Owner,
		Chains: []Chain{ // sorted by name, as Read returns them
			{Name: ChainForward, Type: "filter", Hook: "forward", Priority: 0, Policy: VerdictAccept, Rules: forward},
			{Name: ChainPostrouting, Type: "nat", Hook: "postrouting", Priority: 100, Policy: VerdictAccept, Rules: postrouting},
			{Name: ChainUser},
		},
		Sets: []Set{sources, links}, // sorted by name
	}
	if chains, sets := publishTable(bridges); chains != nil || sets != nil {
		fw.Chains, fw.Sets = append(fw.Chains, chains...), append(fw.Sets, sets...)
		sortChains(fw.Chains)
		sortSets(fw.Sets)
	}
	return fw
}

// LinkAddress is the address of a link, also the comment of its elements.
func LinkAddress(bridge, from, to string) string {
	return "bridge." + bridge + ".link." + from + "->" + to
}

// AllowedSourceAddress is the address of an allowed source, also the comment
// of its element.
func AllowedSourceAddress(bridge string, p netip.Prefix) string {
	return "bridge." + bridge + ".allowed_source." + p.String()
}

// CanonicalPrefix writes a prefix as an element key writes it: a host
// prefix as the bare address.
func CanonicalPrefix(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.Masked().String()
}

func quoteIfname(name string) string { return `"` + name + `"` }

// elementSpan locates an element's key and comment in a text.
type elementSpan struct{ k0, k1, c0, c1 int }

// appendAddr appends a.String().
func appendAddr(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(b, "invalid IP"...)
	}
	return a.AppendTo(b)
}

// appendPort appends a port or range as an element key writes it: 5432,
// 1000-2000.
func appendPort(b []byte, p schema.Port) []byte {
	b = strconv.AppendUint(b, uint64(p.First), 10)
	if p.First != p.Last {
		b = append(b, '-')
		b = strconv.AppendUint(b, uint64(p.Last), 10)
	}
	return b
}

// SortElements sorts elements by key, the order Read returns them in.
func SortElements(es []Element) {
	slices.SortFunc(es, func(a, b Element) int { return strings.Compare(a.Key, b.Key) })
}
