package schema

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Published ports (Docker's -p) and gateway modes: the file's syntax,
// loading and validation.

// Gateway modes of a bridge, as Docker 28 names them.
const (
	// GatewayNAT: masquerade by default; from outside only published ports
	// reach the containers, packets routed straight to a container's
	// address are dropped.
	GatewayNAT = "nat"
	// GatewayRouted: no masquerade; the containers' addresses are reachable
	// from outside, only on their published ports.
	GatewayRouted = "routed"
	// GatewayNATUnprotected: masquerade by default; everything routed to a
	// container is forwarded (subject to allowed_sources): netctl before
	// gateway modes.
	GatewayNATUnprotected = "nat-unprotected"
)

// GatewayModes are the modes a bridge may name, the default first.
var GatewayModes = []string{GatewayNAT, GatewayRouted, GatewayNATUnprotected}

// Publish is one published port range of a container: HostAddr ports
// Host… reach the container's ports Container…, one to one. HostAddr, as
// Docker reads -p: invalid (no address written) is every host address of
// both families (IPv6 only when the container has address6); 0.0.0.0 every
// IPv4 address; :: every IPv6 address; otherwise that one address.
// AllowedSources of one family admit clients of that family only: a
// publication on both families whose sources are all IPv4 has no IPv6 side.
type Publish struct {
	HostAddr       netip.Addr
	Proto          string
	Host           [2]uint16 // first, last
	Container      [2]uint16 // first, last; as many as Host
	AllowedSources []netip.Prefix
}

// OnIPv4 reports whether the publication takes IPv4 host addresses.
func (p Publish) OnIPv4() bool { return !p.HostAddr.IsValid() || p.HostAddr.Is4() }

// OnIPv6 reports whether the publication takes IPv6 host addresses (when
// its container has address6).
func (p Publish) OnIPv6() bool { return !p.HostAddr.IsValid() || p.HostAddr.Is6() }

// AnyHostAddr reports whether the publication takes every host address of
// its families (none written, 0.0.0.0 or ::).
func (p Publish) AnyHostAddr() bool { return !p.HostAddr.IsValid() || p.HostAddr.IsUnspecified() }

// Sources returns the allowed sources of one family (4 or 6): nil and
// true when the publication lists none (every client), nil and false when
// it lists sources of the other family only (no client of this one).
func (p Publish) Sources(family int) ([]netip.Prefix, bool) {
	if len(p.AllowedSources) == 0 {
		return nil, true
	}
	var out []netip.Prefix
	for _, s := range p.AllowedSources {
		if s.Addr().Is4() == (family == 4) {
			out = append(out, s)
		}
	}
	return out, len(out) > 0
}

// String is the publication in canonical -p form, as the file item's
// address and the element comments name it: 8080:80/tcp,
// 127.0.0.1:5432:5432/tcp, [2001:db8::1]:8080:80/tcp, 8000-8010:8000-8010/udp.
func (p Publish) String() string {
	var b strings.Builder
	switch {
	case p.HostAddr.Is6():
		b.WriteByte('[')
		b.WriteString(p.HostAddr.String())
		b.WriteString("]:")
	case p.HostAddr.IsValid():
		b.WriteString(p.HostAddr.String())
		b.WriteByte(':')
	}
	b.WriteString(portRange(p.Host))
	b.WriteByte(':')
	b.WriteString(portRange(p.Container))
	b.WriteByte('/')
	b.WriteString(p.Proto)
	return b.String()
}

func portRange(r [2]uint16) string {
	if r[0] == r[1] {
		return strconv.Itoa(int(r[0]))
	}
	return strconv.Itoa(int(r[0])) + "-" + strconv.Itoa(int(r[1]))
}

// ParsePublish parses a publication in Docker's -p syntax:
// [HOST_ADDR:]HOST_PORT:CONTAINER_PORT[/PROTO], ports or same-size ranges;
// an IPv6 HOST_ADDR in brackets ([2001:db8::1], [::]).
func ParsePublish(s string) (Publish, error) {
	p, msg := parsePublish(s)
	if msg != "" {
		return Publish{}, fmt.Errorf("%s", msg)
	}
	return p, nil
}

const publishFormat = "expected [HOST_ADDRESS:]HOST_PORT:CONTAINER_PORT[/PROTO], e.g. 8080:80, 127.0.0.1:5432:5432/tcp or 8000-8010:8000-8010/udp"

func parsePublish(s string) (Publish, string) {
	spec, proto := s, "tcp"
	if i := strings.IndexByte(s, '/'); i >= 0 {
		spec, proto = s[:i], s[i+1:]
		known := false
		for _, p := range protocols {
			known = known || p == proto
		}
		if !known {
			return Publish{}, fmt.Sprintf("unknown protocol %q in %q: expected tcp, udp or sctp", shorten(proto), shorten(s))
		}
	}
	var p Publish
	p.Proto = proto
	if strings.HasPrefix(spec, "[") {
		a, rest, msg := bracketAddr(spec, s)
		if msg != "" {
			return Publish{}, msg
		}
		if msg := hostAddr6Problem(a, s); msg != "" {
			return Publish{}, msg
		}
		p.HostAddr = a
		spec = rest
	} else if strings.ContainsAny(spec, "[]") {
		return Publish{}, fmt.Sprintf("malformed brackets in %q: %s", shorten(s), bracketFormat)
	}
	parts := strings.Split(spec, ":")
	if len(parts) > 3 && !p.HostAddr.IsValid() {
		// An IPv6 address written bare, as 2001:db8::1:8080:80.
		addr := strings.Join(parts[:len(parts)-2], ":")
		if a, err := netip.ParseAddr(addr); err == nil && a.Is6() {
			if msg := hostAddr6Problem(a, s); msg != "" {
				return Publish{}, msg
			}
			return Publish{}, fmt.Sprintf("IPv6 host address %s in %q needs brackets: write [%s]:%s%s", shorten(addr), shorten(s), shorten(addr), strings.Join(parts[len(parts)-2:], ":"), s[len(spec):])
		}
	}
	switch {
	case p.HostAddr.IsValid() && len(parts) == 1:
		return Publish{}, fmt.Sprintf("%q has no host port: netctl publishes on a port you name (Docker would pick a random one); %s", shorten(s), publish6Format)
	case p.HostAddr.IsValid() && len(parts) != 2:
		return Publish{}, fmt.Sprintf("malformed publication %q: %s", shorten(s), publish6Format)
	case p.HostAddr.IsValid():
	case len(parts) == 1:
		return Publish{}, fmt.Sprintf("%q has no host port: netctl publishes on a port you name (Docker would pick a random one); %s", shorten(s), publishFormat)
	case len(parts) == 2:
	case len(parts) == 3:
		if parts[0] == "" {
			return Publish{}, fmt.Sprintf("malformed publication %q: %s", shorten(s), publishFormat)
		}
		a, err := netip.ParseAddr(parts[0])
		switch {
		case err != nil || !a.Is4():
			// Without colons an address is IPv4 or nothing.
			return Publish{}, fmt.Sprintf("malformed host address %q in %q: expected an IPv4 address such as 127.0.0.1", shorten(parts[0]), shorten(s))
		case a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || a.As4()[0] >= 240:
			return Publish{}, fmt.Sprintf("host address %s in %q is not a unicast address", a, shorten(s))
		case a.As4()[0] == 0 && !a.IsUnspecified():
			return Publish{}, fmt.Sprintf("host address %s in %q is in 0.0.0.0/8, not a host's address", a, shorten(s))
		}
		// 0.0.0.0 is kept: every IPv4 address (and no IPv6 one).
		p.HostAddr = a
		parts = parts[1:]
	default:
		return Publish{}, fmt.Sprintf("malformed publication %q: %s", shorten(s), publishFormat)
	}
	if parts[0] == "" {
		format := publishFormat
		if p.HostAddr.Is6() {
			format = publish6Format
		}
		return Publish{}, fmt.Sprintf("%q has no host port: netctl publishes on a port you name (Docker would pick a random one); %s", shorten(s), format)
	}
	var msg string
	if p.Host, msg = publishRange(parts[0], s); msg != "" {
		return Publish{}, msg
	}
	if p.Container, msg = publishRange(parts[1], s); msg != "" {
		return Publish{}, msg
	}
	if p.Host[1]-p.Host[0] != p.Container[1]-p.Container[0] {
		return Publish{}, fmt.Sprintf("%q maps %d host ports to %d container ports: ranges must be the same size",
			shorten(s), int(p.Host[1]-p.Host[0])+1, int(p.Container[1]-p.Container[0])+1)
	}
	return p, ""
}

const publish6Format = "expected [IPV6_ADDRESS]:HOST_PORT:CONTAINER_PORT[/PROTO], e.g. [2001:db8::1]:8080:80 or [::]:8080:80/udp"

const bracketFormat = "an IPv6 host address is written in brackets, e.g. [2001:db8::1]:8080:80 or [::]:8080:80"

// bracketAddr reads the [IPV6_ADDRESS]: that starts spec, and returns the
// address and what follows its colon.
func bracketAddr(spec, whole string) (netip.Addr, string, string) {
	end := strings.IndexByte(spec, ']')
	if end < 0 || strings.Count(spec, "[") != 1 || strings.Count(spec, "]") != 1 || !strings.HasPrefix(spec[end+1:], ":") {
		return netip.Addr{}, "", fmt.Sprintf("malformed brackets in %q: %s", shorten(whole), bracketFormat)
	}
	text := spec[1:end]
	a, err := netip.ParseAddr(text)
	switch {
	case err == nil && a.Is4():
		return netip.Addr{}, "", fmt.Sprintf("host address %s in %q is IPv4: brackets are for IPv6 addresses, write %s:%s", a, shorten(whole), a, shorten(whole[end+2:]))
	case err == nil && a.Zone() != "":
		return netip.Addr{}, "", fmt.Sprintf("host address %s in %q has a zone: a publication's host address is a global one, without zone", shorten(text), shorten(whole))
	case err != nil:
		return netip.Addr{}, "", fmt.Sprintf("malformed host address %q in %q: expected an IPv6 address in brackets such as [2001:db8::1]", shorten(text), shorten(whole))
	}
	return a, spec[end+2:], ""
}

// hostAddr6Problem refuses an IPv6 host address that netctl cannot
// publish on; :: (every IPv6 address) is fine.
func hostAddr6Problem(a netip.Addr, whole string) string {
	switch {
	case a.Is4In6():
		return fmt.Sprintf("host address %s in %q is an IPv4-mapped address: write the IPv4 address, %s", a, shorten(whole), a.Unmap())
	case a.IsMulticast():
		return fmt.Sprintf("host address %s in %q is not a unicast address", a, shorten(whole))
	case a.IsLinkLocalUnicast():
		return fmt.Sprintf("host address %s in %q is link-local (fe80::/10): a publication on it would need a zone, which netctl does not support; use a global address or [::]", a, shorten(whole))
	case a.IsLoopback():
		return fmt.Sprintf("host address ::1 in %q is not promised: IPv6 has no route_localnet, so [::1] would need a userland proxy, which netctl does not run; publish on the host's own global IPv6 address (the host reaches it too) or on [::]", shorten(whole))
	}
	return ""
}

func publishRange(text, whole string) ([2]uint16, string) {
	first, last, ranged := text, text, false
	if i := strings.IndexByte(text, '-'); i >= 0 {
		first, last, ranged = text[:i], text[i+1:], true
	}
	lo, msg := publishNumber(first, whole)
	if msg != "" {
		return [2]uint16{}, msg
	}
	hi := lo
	if ranged {
		if hi, msg = publishNumber(last, whole); msg != "" {
			return [2]uint16{}, msg
		}
		if hi < lo {
			return [2]uint16{}, fmt.Sprintf("range %s in %q is reversed: %d comes after %d", shorten(text), shorten(whole), lo, hi)
		}
	}
	return [2]uint16{lo, hi}, ""
}

func publishNumber(num, whole string) (uint16, string) {
	if num == "" || strings.Trim(num, "0123456789") != "" {
		return 0, fmt.Sprintf("malformed publication %q: %s", shorten(whole), publishFormat)
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Sprintf("port %s in %q is out of range 1-65535", shorten(num), shorten(whole))
	}
	return uint16(n), ""
}

// publishSrc is a publication with the nodes it came from.
type publishSrc struct {
	pub  Publish
	node *node // the -p string
	path fieldPath
	// sources are the publication's own allowed_sources.
	sources []sourceSrc
	// where names the container for messages: container "web" of bridge "docker0".
	bridge, container string
}

var publishFields = fields[FilePublish]()

// publications reads a container's publish list; entries that are wrong
// are left out, their problems recorded.
func (p *parser) publications(n *node, path fieldPath) []publishSrc {
	items, ok := p.sequence(n, path)
	if !ok {
		return nil
	}
	var out []publishSrc
	for i, it := range items {
		if it == nil {
			continue
		}
		ipath := index(path, i)
		if ps, ok := p.publication(it, ipath); ok {
			out = append(out, ps)
		}
	}
	return out
}

// unquoted6 says how to write an IPv6 publication that YAML read as a
// list: unquoted, [2001:db8::1]:8080:80 starts a flow sequence.
const unquoted6 = `an IPv6 publication must be quoted, e.g. "[2001:db8::1]:8080:80" (unquoted, YAML reads [...] as a list)`

func (p *parser) publication(n *node, path fieldPath) (publishSrc, bool) {
	if n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Kind == yaml.SequenceNode {
		p.add(n, path, "expected a publication such as 8080:80, got %s: %s", describe(n), unquoted6)
		return publishSrc{}, false
	}
	if n.Kind == yaml.MappingNode {
		mark := len(p.entries)
		defer p.release(mark)
		entries, _ := p.mapping(n, path, publishFields, map[string]string{"publish": "port", "ports": "port", "sources": "allowed_sources", "allow": "allowed_sources"})
		var ps publishSrc
		portOK, seen := false, false
		var sources []sourceSrc
		for _, e := range entries {
			if e.val == nil {
				seen = seen || e.name == "port"
				continue
			}
			switch e.name {
			case "port":
				seen = true
				ps, portOK = p.publication(e.val, e.path)
				if portOK && e.val.Kind == yaml.MappingNode {
					p.add(e.val, e.path, "expected a publication such as 8080:80, got a mapping")
					portOK = false
				}
			case "allowed_sources":
				items, ok := p.sequence(e.val, e.path)
				if !ok {
					continue
				}
				if len(items) == 0 {
					p.add(e.val, e.path, "empty: nobody could reach this port; leave allowed_sources out to allow every source")
				}
				for i, it := range items {
					if it == nil {
						continue
					}
					ipath := index(e.path, i)
					if pr, ok := p.source(it, ipath); ok {
						sources = append(sources, sourceSrc{prefix: pr, node: it, path: ipath})
					}
				}
			}
		}
		if !seen {
			p.add(n, child(path, "port"), "missing: the publication, e.g. port: 8443:443")
		}
		p.sourceOverlaps(sources)
		if !portOK {
			return ps, false
		}
		for _, s := range sources {
			ps.pub.AllowedSources = append(ps.pub.AllowedSources, s.prefix)
		}
		ps.path, ps.sources = path, sources
		return ps, true
	}
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!str" && n.ShortTag() != "!!int") {
		p.expected(n, path, "a publication such as 8080:80 or 127.0.0.1:5432:5432/tcp, or a mapping with port and allowed_sources")
		return publishSrc{}, false
	}
	if n.ShortTag() == "!!int" {
		// YAML 1.1 reads 8080:80 unquoted as a base-60 integer; yaml.v3
		// keeps it a string, but a bare 80 is an integer.
		p.add(n, path, "%q has no host port: netctl publishes on a port you name (Docker would pick a random one); %s", shorten(n.Value), publishFormat)
		return publishSrc{}, false
	}
	pub, msg := parsePublish(n.Value)
	if msg != "" {
		p.add(n, path, "%s", msg)
		return publishSrc{}, false
	}
	return publishSrc{pub: pub, node: n, path: path}, true
}

// sourceOverlaps reports allowed sources of one list that overlap: IPv4
// ones by interval, IPv6 ones pairwise (lists are short).
func (p *parser) sourceOverlaps(sources []sourceSrc) {
	var v4, v6 []sourceSrc
	for _, s := range sources {
		if s.prefix.Addr().Is4() {
			v4 = append(v4, s)
		} else {
			v6 = append(v6, s)
		}
	}
	ivs := make([]interval, len(v4))
	for i, s := range v4 {
		ivs[i] = prefixInterval(s.prefix, i)
	}
	overlaps(ivs, func(later, earlier int) {
		p.sourceOverlap(v4[later], v4[earlier])
	})
	p.source6Overlaps(v6)
}

// source6Overlaps reports IPv6 sources that overlap an earlier one.
func (p *parser) source6Overlaps(v6 []sourceSrc) {
	for i, l := range v6 {
		for _, e := range v6[:i] {
			if e.prefix.Overlaps(l.prefix) {
				p.sourceOverlap(l, e)
				break
			}
		}
	}
}

func (p *parser) sourceOverlap(l, e sourceSrc) {
	if l.prefix == e.prefix {
		p.add(l.node, l.path, "%s is listed twice (first at line %d)", l.node.Value, e.node.Line)
	} else {
		p.add(l.node, l.path, "%s overlaps %s (line %d)", l.node.Value, e.node.Value, e.node.Line)
	}
}

// publishFamilies checks a bridge's publications against the families
// they take: an IPv6 host address (or ::) needs the container's address6,
// and a source of a family the publication does not take admits nothing.
func (p *parser) publishFamilies(bs *bridgeSrc) {
	for _, cs := range bs.conts {
		// A wrong address6 is reported where it is written.
		has6 := cs.c.Address6.IsValid() || cs.addr6Bad
		for _, ps := range cs.publish {
			pub, spec := ps.pub, shorten(ps.node.Value)
			if pub.HostAddr.Is6() && !has6 {
				p.add(ps.node, ps.path, "%s is published on %s, but container %q has no address6: nothing receives it", spec, hostAddrName(pub.HostAddr), cs.c.Name)
			}
			for _, s := range ps.sources {
				switch is4 := s.prefix.Addr().Is4(); {
				case is4 && !pub.OnIPv4():
					p.add(s.node, s.path, "%s is an IPv4 source, but %s is published on IPv6 only: it admits nothing", s.node.Value, spec)
				case !is4 && !pub.OnIPv6():
					p.add(s.node, s.path, "%s is an IPv6 source, but %s is published on IPv4 only: it admits nothing", s.node.Value, spec)
				case !is4 && !has6:
					// As a bridge's IPv6 sources need address6: an entry
					// that admits nobody is a mistake, not a no-op.
					p.add(s.node, s.path, "%s is an IPv6 source, but container %q has no address6, so %s is published on IPv4 only: it admits nothing", s.node.Value, cs.c.Name, spec)
				}
			}
		}
	}
}

// hostAddrName names a publication's host address for messages.
func hostAddrName(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "every host address"
	case a == netip.IPv4Unspecified():
		return "every IPv4 address"
	case a == netip.IPv6Unspecified():
		return "every IPv6 address"
	}
	return a.String()
}

// gatewayMode reads a bridge's gateway_mode.
func (p *parser) gatewayMode(bs *bridgeSrc, n *node, path fieldPath) {
	s, ok := p.text(n, path)
	if !ok {
		return
	}
	for _, m := range GatewayModes {
		if s == m {
			bs.b.GatewayMode, bs.mode = s, n
			return
		}
	}
	p.add(n, path, "unknown gateway mode %q: expected nat, routed or nat-unprotected%s", shorten(s), didYouMean(s, GatewayModes))
}

// gatewayChecks fills the defaults that follow from the gateway mode and
// refuses contradictions: routed means no masquerade (its default), and
// nat or routed need the firewall that enforces them.
func (p *parser) gatewayChecks(bs *bridgeSrc, firewall bool, fwNode *node) {
	if bs.b.GatewayMode == "" {
		bs.b.GatewayMode = GatewayNAT
	}
	if bs.b.GatewayMode == GatewayRouted {
		switch {
		case bs.masq == nil:
			bs.b.Masquerade = false
		case bs.b.Masquerade:
			p.add(bs.masq, child(bs.path, "masquerade"), "masquerade: true contradicts gateway_mode: routed (line %d): routed means the containers' addresses are seen outside, unmasqueraded", bs.mode.Line)
		}
	}
	if !firewall {
		if bs.mode != nil && bs.b.GatewayMode != GatewayNATUnprotected {
			p.add(bs.mode, child(bs.path, "gateway_mode"), "gateway_mode: %s needs the firewall, but firewall is false (line %d); without it everything routed to a container reaches it, as nat-unprotected", bs.b.GatewayMode, fwNode.Line)
		}
		// Nothing is enforced without the firewall: say so in the config.
		bs.b.GatewayMode = GatewayNATUnprotected
		for _, cs := range bs.conts {
			for _, ps := range cs.publish {
				p.add(ps.node, ps.path, "publish needs the firewall, but firewall is false (line %d)", fwNode.Line)
			}
		}
	}
}

// publishChecks refuses two publications of one host address, port and
// protocol anywhere in the file (a port of every address takes it on each
// address of its families), naming both, and puts the publications in the
// config.
func (p *parser) publishChecks(bridges []*bridgeSrc) {
	var all []*publishSrc
	for _, bs := range bridges {
		for ci := range bs.conts {
			cs := &bs.conts[ci]
			for i := range cs.publish {
				ps := &cs.publish[i]
				ps.bridge, ps.container = bs.b.Name, cs.c.Name
				all = append(all, ps)
			}
		}
	}
	if len(all) == 0 {
		return
	}
	// Groups by host address. A publication on no address takes every
	// address, 0.0.0.0 every IPv4 one, :: every IPv6 one; each group is
	// checked with the groups that take its addresses too, and reports
	// only pairs with one of its own, so each pair is checked once.
	groups := map[netip.Addr][]int{}
	for i, ps := range all {
		groups[ps.pub.HostAddr] = append(groups[ps.pub.HostAddr], i)
	}
	anyAddr := groups[netip.Addr{}]
	any4, any6 := netip.IPv4Unspecified(), netip.IPv6Unspecified()
	check := func(own netip.Addr, idx []int) {
		ivs := make([]interval, len(idx))
		for k, i := range idx {
			pub := all[i].pub
			ivs[k] = portInterval(Port{Proto: pub.Proto, First: pub.Host[0], Last: pub.Host[1]}, i)
		}
		overlaps(ivs, func(later, earlier int) {
			l, e := all[later], all[earlier]
			if l.pub.HostAddr != own && e.pub.HostAddr != own {
				return // reported with the group of one of them
			}
			p.add(l.node, l.path, "%s takes %s, already published by %s (line %d: %s)",
				shorten(l.node.Value), hostPorts(l.pub, e.pub), e.where(), e.node.Line, shorten(e.node.Value))
		})
	}
	check(netip.Addr{}, anyAddr)
	addrs := slices.SortedFunc(maps.Keys(groups), netip.Addr.Compare)
	for _, a := range addrs {
		if !a.IsValid() {
			continue
		}
		idx := append(slices.Clone(groups[a]), anyAddr...)
		switch {
		case a == any4 || a == any6:
		case a.Is4():
			idx = append(idx, groups[any4]...)
		default:
			idx = append(idx, groups[any6]...)
		}
		check(a, idx)
	}
	for _, bs := range bridges {
		for ci := range bs.conts {
			cs := &bs.conts[ci]
			for _, ps := range cs.publish {
				bs.b.Containers[ci].Publish = append(bs.b.Containers[ci].Publish, ps.pub)
			}
		}
	}
}

func (ps *publishSrc) where() string {
	return fmt.Sprintf("container %q of bridge %q", ps.container, ps.bridge)
}

// hostPorts names what two overlapping publications both take: on the
// narrower of their host addresses.
func hostPorts(a, b Publish) string {
	addr := a.HostAddr
	if breadth(b.HostAddr) < breadth(addr) {
		addr = b.HostAddr
	}
	lo, hi := max(a.Host[0], b.Host[0]), min(a.Host[1], b.Host[1])
	return fmt.Sprintf("%s/%s on %s", portRange([2]uint16{lo, hi}), a.Proto, hostAddrName(addr))
}

// breadth orders host addresses: one address, every address of a
// family, every address.
func breadth(a netip.Addr) int {
	switch {
	case !a.IsValid():
		return 2
	case a.IsUnspecified():
		return 1
	}
	return 0
}
