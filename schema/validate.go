package schema

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// validate checks what involves more than one value and fills the defaults
// that depend on other fields. firewall is the node of firewall: false, or
// nil.
func (p *parser) validate(cfg *Config, firewall *node, bridges []*bridgeSrc) {
	names := make([]string, len(bridges))
	for i, bs := range bridges {
		names[i] = bs.b.Name
	}
	var subnets []interval
	for i, bs := range bridges {
		if !bs.addrSeen {
			p.add(bs.key, child(bs.path, "address"), "missing: every bridge needs its gateway address with prefix length, e.g. address: 172.17.0.1/16")
		}
		if bs.addr != nil {
			subnets = append(subnets, prefixInterval(bs.b.Address, i))
		}
		if bs.ext != nil && contains(names, bs.b.ExternalInterface) {
			p.add(bs.ext, child(bs.path, "external_interface"), "%q is a bridge in this file: the external interface must be another interface", bs.b.ExternalInterface)
		}
		if !cfg.Firewall {
			p.withoutFirewall(bs, firewall)
		}
		p.gatewayChecks(bs, cfg.Firewall, firewall)
		p.sources(bs)
		p.ipv6Checks(bs, firewall)
		p.containerChecks(bs)
		p.container6Checks(bs)
		p.publishFamilies(bs)
		p.linkChecks(bs)
	}
	p.publishChecks(bridges)
	overlaps(subnets, func(later, earlier int) {
		l, e := bridges[later], bridges[earlier]
		p.add(l.addr, child(l.path, "address"), "subnet %s overlaps the subnet %s of bridge %q", l.b.Address.Masked(), e.b.Address.Masked(), e.b.Name)
	})
	p.subnet6Overlaps(bridges)
}

// withoutFirewall refuses what needs the firewall when firewall is false,
// and turns the masquerade default off.
func (p *parser) withoutFirewall(bs *bridgeSrc, firewall *node) {
	off := fmt.Sprintf("firewall is false (line %d)", firewall.Line)
	if bs.icc != nil && !bs.b.ICC {
		p.add(bs.icc, child(bs.path, "icc"), "icc: false needs the firewall, but %s; Docker refuses the same combination", off)
	}
	switch {
	case bs.masq == nil:
		bs.b.Masquerade = false
	case bs.b.Masquerade:
		p.add(bs.masq, child(bs.path, "masquerade"), "masquerade: true needs the firewall, but %s", off)
	}
	if bs.srcNode != nil && (len(bs.sources) > 0 || len(bs.srcNode.Content) > 0) {
		p.add(bs.srcNode, child(bs.path, "allowed_sources"), "allowed_sources needs the firewall, but %s", off)
	}
	for _, ls := range bs.links {
		p.add(ls.node, ls.path, "links need the firewall, but %s", off)
	}
}

func (p *parser) sources(bs *bridgeSrc) {
	ivs := make([]interval, 0, len(bs.sources))
	for i, s := range bs.sources {
		if s.prefix.Addr().Is4() { // IPv6 entries: ipv6Checks
			ivs = append(ivs, prefixInterval(s.prefix, i))
		}
		bs.b.AllowedSources = append(bs.b.AllowedSources, s.prefix)
	}
	overlaps(ivs, func(later, earlier int) {
		l, e := bs.sources[later], bs.sources[earlier]
		if l.prefix == e.prefix {
			p.add(l.node, l.path, "%s is listed twice (first at line %d)", l.node.Value, e.node.Line)
		} else {
			p.add(l.node, l.path, "%s overlaps %s (line %d)", l.node.Value, e.node.Value, e.node.Line)
		}
	})
}

func (p *parser) containerChecks(bs *bridgeSrc) {
	// By address (IPv4, as hostAddr reads them), the container's index.
	byAddr := make(map[[4]byte]int32, len(bs.conts))
	bs.b.Containers = slices.Grow(bs.b.Containers, len(bs.conts))
	for i, cs := range bs.conts {
		bs.b.Containers = append(bs.b.Containers, cs.c)
		p.exposeOverlaps(cs.expose)
		if cs.addr == nil || bs.addr == nil {
			continue
		}
		a, subnet := cs.c.Address, bs.b.Address.Masked()
		path := child(cs.path, "address")
		switch {
		case !subnet.Contains(a):
			p.add(cs.addr, path, "%s is outside the subnet %s of bridge %q", a, subnet, bs.b.Name)
		case a == bs.b.Address.Addr():
			p.add(cs.addr, path, "%s is the gateway address of bridge %q", a, bs.b.Name)
		case a == subnet.Addr():
			p.add(cs.addr, path, "%s is the network address of %s", a, subnet)
		case a == lastAddr(subnet):
			p.add(cs.addr, path, "%s is the broadcast address of %s", a, subnet)
		default:
			if other, dup := byAddr[a.As4()]; dup {
				p.add(cs.addr, path, "%s is already the address of container %q", a, bs.conts[other].c.Name)
			} else {
				byAddr[a.As4()] = int32(i)
			}
		}
	}
}

// exposeOverlaps reports ports of one list that overlap; it serves a
// container's expose and a link's ports.
func (p *parser) exposeOverlaps(ports []portSrc) {
	ivs := make([]interval, len(ports))
	for i, ps := range ports {
		ivs[i] = portInterval(ps.port, i)
	}
	overlaps(ivs, func(later, earlier int) {
		l, e := ports[later], ports[earlier]
		if l.port == e.port {
			p.add(l.node, l.path, "%s is listed twice (first at line %d)", l.port, e.node.Line)
		} else {
			p.add(l.node, l.path, "%s overlaps %s (line %d)", l.port, e.port, e.node.Line)
		}
	})
}

// exposed answers whether a container exposes a port, in O(log n).
type exposed struct {
	lo, maxHi []uint64 // sorted starts, and the furthest end up to each
}

func newExposed(ports []Port) *exposed {
	ivs := make([]interval, len(ports))
	for i, pt := range ports {
		ivs[i] = portInterval(pt, i)
	}
	sort.Slice(ivs, func(a, b int) bool { return ivs[a].lo < ivs[b].lo })
	e := &exposed{}
	var far uint64
	for _, iv := range ivs {
		far = max(far, iv.hi)
		e.lo = append(e.lo, iv.lo)
		e.maxHi = append(e.maxHi, far)
	}
	return e
}

// covers reports whether one exposed entry holds all of pt: some entry that
// starts at or before pt ends at or after it (entries of other protocols
// lie wholly before or after pt in the key space).
func (e *exposed) covers(pt Port) bool {
	iv := portInterval(pt, 0)
	k := sort.Search(len(e.lo), func(i int) bool { return e.lo[i] > iv.lo })
	return k > 0 && e.maxHi[k-1] >= iv.hi
}

// copyPorts returns a copy of ports (nil for none), cut from a block: a
// link without ports opens every port its target exposes, and 100,000
// such links would be 100,000 small allocations.
func (p *parser) copyPorts(ports []Port) []Port {
	if len(ports) == 0 {
		return nil
	}
	if len(p.portBlock) < len(ports) {
		p.portBlock = make([]Port, max(len(ports), 4096))
	}
	out := p.portBlock[:len(ports):len(ports)]
	p.portBlock = p.portBlock[len(ports):]
	copy(out, ports)
	return out
}

func listPorts(ports []Port) string {
	if len(ports) == 0 {
		return "nothing"
	}
	const max = 5
	s := make([]string, 0, max+1)
	for i, pt := range ports {
		if i == max {
			s = append(s, fmt.Sprintf("and %d more", len(ports)-max))
			break
		}
		s = append(s, pt.String())
	}
	return strings.Join(s, ", ")
}

func (p *parser) linkChecks(bs *bridgeSrc) {
	// Containers by name (names are unique: mapping drops repeated keys),
	// their index; links by the indexes of their two containers.
	conts := make(map[string]int32, len(bs.conts))
	for i := range bs.conts {
		conts[bs.conts[i].c.Name] = int32(i)
	}
	lookup := func(name string, n *node, path fieldPath) *containerSrc {
		i, ok := conts[name]
		if !ok {
			names := make([]string, len(bs.conts))
			for i := range bs.conts {
				names[i] = bs.conts[i].c.Name
			}
			p.add(n, path, "no container %q on bridge %q%s", shorten(name), bs.b.Name, didYouMean(name, names))
			return nil
		}
		return &bs.conts[i]
	}
	type pair struct{ a, b string }
	links := make(map[[2]int32]*linkSrc, len(bs.links))
	aliases := make(map[pair]*linkSrc)
	expose := make(map[*containerSrc]*exposed)
	for i := range bs.links {
		ls := &bs.links[i]
		var from, to *containerSrc
		if !ls.fromSeen {
			p.add(ls.node, child(ls.path, "from"), "missing: the container that opens connections")
		}
		if !ls.toSeen {
			p.add(ls.node, child(ls.path, "to"), "missing: the container whose ports the link opens")
		}
		if ls.from != nil {
			from = lookup(ls.l.From, ls.from, child(ls.path, "from"))
		}
		if ls.to != nil {
			to = lookup(ls.l.To, ls.to, child(ls.path, "to"))
		}
		if from != nil && to != nil {
			if from == to {
				p.add(ls.to, child(ls.path, "to"), "%s links to itself", shorten(ls.l.To))
			}
			key := [2]int32{conts[ls.l.From], conts[ls.l.To]}
			if prev := links[key]; prev != nil {
				p.add(ls.node, ls.path, "duplicate link %s → %s (first at line %d)", ls.l.From, ls.l.To, prev.node.Line)
			} else {
				links[key] = ls
			}
		}
		if from != nil && ls.alias != nil {
			if prev := aliases[pair{ls.l.From, ls.l.Alias}]; prev != nil {
				p.add(ls.alias, child(ls.path, "alias"), "alias %q is already used by a link from %s (line %d)", ls.l.Alias, ls.l.From, prev.node.Line)
			} else {
				aliases[pair{ls.l.From, ls.l.Alias}] = ls
			}
		}
		p.exposeOverlaps(ls.ports)
		if to == nil {
			continue
		}
		if ls.portsNode == nil {
			if len(to.c.Expose) == 0 && !to.exposeBroken && from != to {
				p.add(ls.to, child(ls.path, "to"), "%s exposes no ports: the link would open nothing", shorten(ls.l.To))
			}
			ls.l.Ports = p.copyPorts(to.c.Expose)
			continue
		}
		if len(ls.ports) == 0 && !ls.portsBroken {
			p.add(ls.portsNode, child(ls.path, "ports"), "empty: the link would open nothing; leave ports out to open every port %s exposes", shorten(ls.l.To))
		}
		ex := expose[to]
		if ex == nil {
			ex = newExposed(to.c.Expose)
			expose[to] = ex
		}
		for _, ps := range ls.ports {
			if !ex.covers(ps.port) {
				p.add(ps.node, ps.path, "%s does not expose %s (it exposes %s)", shorten(ls.l.To), ps.port, listPorts(to.c.Expose))
			}
		}
	}
	bs.b.Links = slices.Grow(bs.b.Links, len(bs.links))
	for _, ls := range bs.links {
		bs.b.Links = append(bs.b.Links, ls.l)
	}
}
