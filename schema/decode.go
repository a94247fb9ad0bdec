package schema

import (
	"net/netip"
	"slices"

	"go.yaml.in/yaml/v3"
)

// The fields of each mapping, in the order the documentation lists them,
// from the types of format.go.
var (
	topFields       = fields[File]()
	bridgeFields    = fields[FileBridge]()
	containerFields = fields[FileContainer]()
	linkFields      = fields[FileLink]()
)

// Words people bring from Docker and elsewhere, for "did you mean".
var (
	topSynonyms = map[string]string{
		"iptables": "firewall", "ip-forward": "ip_forward", "ipforward": "ip_forward",
		"bridge": "bridges", "networks": "bridges", "network": "bridges",
	}
	bridgeSynonyms = map[string]string{
		"bip": "address", "gateway": "address", "subnet": "address", "ip": "address",
		"ip-masq": "masquerade", "ip_masq": "masquerade", "ipmasq": "masquerade", "nat": "masquerade",
		"inter_container_communication": "icc", "external": "external_interface", "uplink": "external_interface",
		"sources": "allowed_sources", "allow": "allowed_sources", "allowed": "allowed_sources",
		"container": "containers", "link": "links",
	}
	containerSynonyms = map[string]string{
		"ip": "address", "ports": "expose", "port": "expose", "exposed": "expose",
	}
	linkSynonyms = map[string]string{
		"name": "alias", "port": "ports", "expose": "ports", "source": "from", "target": "to",
	}
)

// The loader first decodes each object with the nodes it came from, then
// validates across objects (validate.go). Values that failed to decode are
// left out (their node is nil), so one mistake is reported once.

type bridgeSrc struct {
	b    Bridge
	key  *node // the bridge's name in the file
	path fieldPath

	addr     *node // nil: missing or wrong
	addrSeen bool  // address was written (perhaps wrongly)
	icc      *node // set when written as a valid boolean
	masq     *node // likewise
	addr6    *node // address6, when valid
	masq6    *node // masquerade6, when written as a valid boolean
	mode     *node // gateway_mode, likewise
	ext      *node // likewise, for a valid name
	sources  []sourceSrc
	srcNode  *node // allowed_sources, when written
	conts    []containerSrc
	links    []linkSrc
}

type containerSrc struct {
	c     Container
	key   *node
	path  fieldPath
	addr  *node // nil: missing or wrong
	addr6 *node // address6, when valid
	// addr6Bad: address6 was written wrongly (and reported).
	addr6Bad bool
	expose   []portSrc
	publish  []publishSrc
	// exposeBroken: some written port was wrong (and reported).
	exposeBroken bool
}

type portSrc struct {
	port Port
	node *node
	path fieldPath
}

type sourceSrc struct {
	prefix netip.Prefix
	node   *node
	path   fieldPath
}

type linkSrc struct {
	l           Link
	node        *node
	path        fieldPath
	from, to    *node // nil: missing or wrong
	fromSeen    bool
	toSeen      bool
	alias       *node
	ports       []portSrc
	portsNode   *node // set when ports was written
	portsBroken bool  // some written port was wrong
}

// config decodes the document and validates it.
func (p *parser) config(doc *node) *Config {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		p.add(doc, fieldPath{}, "empty document: expected a mapping with bridges and settings")
		return nil
	}
	root := p.resolve(doc.Content[0], fieldPath{})
	if root == nil {
		return nil
	}
	if isNull(root) {
		p.add(doc, fieldPath{}, "empty document: expected a mapping with bridges and settings")
		return nil
	}
	if root.Kind != yaml.MappingNode {
		p.add(root, fieldPath{}, "expected a mapping with bridges and settings at the top, got %s", describe(root))
		return nil
	}
	defer p.release(len(p.entries))
	entries, _ := p.mapping(root, fieldPath{}, topFields, topSynonyms)
	cfg := &Config{File: p.file, Firewall: true}
	var firewall *node      // set when firewall: false is written
	var forwardOthers *node // set when forward_others is written validly
	var forwardPath fieldPath
	var bridges []*bridgeSrc
	for _, e := range entries {
		if e.val == nil || isNull(e.val) {
			continue
		}
		switch e.name {
		case "ip_forward":
			if b, ok := p.boolean(e.val, e.path); ok {
				cfg.IPForward = &b
			}
		case "ip6_forward":
			if b, ok := p.boolean(e.val, e.path); ok {
				cfg.IP6Forward = &b
			}
		case "forward_others":
			if v, ok := p.forwardOthers(e.val, e.path); ok {
				cfg.ForwardOthers, forwardOthers, forwardPath = v, e.val, e.path
			}
		case "firewall":
			if b, ok := p.boolean(e.val, e.path); ok {
				cfg.Firewall = b
				if !b {
					firewall = e.val
				}
			}
		case "bridges":
			bridges = p.bridges(e.val, e.path)
		}
	}
	p.validate(cfg, firewall, bridges)
	if forwardOthers != nil && !cfg.Firewall {
		p.add(forwardOthers, forwardPath, "forward_others: %s needs the firewall (netctl's table holds the rule), but firewall is false (line %d)", cfg.ForwardOthers, firewall.Line)
	}
	if len(p.problems) > 0 {
		return nil
	}
	for _, bs := range bridges {
		cfg.Bridges = append(cfg.Bridges, bs.b)
	}
	return cfg
}

func (p *parser) bridges(n *node, path fieldPath) []*bridgeSrc {
	defer p.release(len(p.entries))
	entries, _ := p.mapping(n, path, nil, nil)
	var out []*bridgeSrc
	for _, e := range entries {
		// Rendered once per bridge: a container's or a link's fields are
		// three steps below it, held unrendered.
		bs := &bridgeSrc{key: e.key, path: fieldPath{base: e.path.String()}}
		bs.b.Name = e.name
		bs.b.MTU = 1500
		bs.b.ICC = true
		bs.b.Masquerade = true
		if msg := checkIfName(e.name); msg != "" {
			p.add(e.key, e.path, "%s", msg)
		}
		out = append(out, bs)
		if e.val == nil {
			bs.addrSeen = true // do not also report it missing
			continue
		}
		if isNull(e.val) {
			continue // every field missing: reported in validate
		}
		p.bridge(bs, e.val)
	}
	return out
}

func (p *parser) bridge(bs *bridgeSrc, n *node) {
	defer p.release(len(p.entries))
	entries, ok := p.mapping(n, bs.path, bridgeFields, bridgeSynonyms)
	if !ok {
		bs.addrSeen = true
		return
	}
	for _, e := range entries {
		if e.val == nil {
			if e.name == "address" {
				bs.addrSeen = true
			}
			continue
		}
		if isNull(e.val) {
			continue
		}
		switch e.name {
		case "address":
			bs.addrSeen = true
			if a, ok := p.gateway(e.val, e.path); ok {
				bs.b.Address = a
				bs.addr = e.val
			}
		case "address6":
			if a, ok := p.gateway6(e.val, e.path); ok {
				bs.b.Address6, bs.addr6 = a, e.val
			}
		case "masquerade6":
			if b, ok := p.boolean(e.val, e.path); ok {
				bs.b.Masquerade6, bs.masq6 = b, e.val
			}
		case "mtu":
			if v, ok := p.integer(e.val, e.path); ok {
				if v < 68 || v > 65535 {
					p.add(e.val, e.path, "mtu %d is out of range 68-65535", v)
				} else {
					bs.b.MTU = int(v)
				}
			}
		case "icc":
			if b, ok := p.boolean(e.val, e.path); ok {
				bs.b.ICC, bs.icc = b, e.val
			}
		case "masquerade":
			if b, ok := p.boolean(e.val, e.path); ok {
				bs.b.Masquerade, bs.masq = b, e.val
			}
		case "gateway_mode":
			p.gatewayMode(bs, e.val, e.path)
		case "adopt":
			if b, ok := p.boolean(e.val, e.path); ok {
				bs.b.Adopt = b
			}
		case "external_interface":
			if s, ok := p.text(e.val, e.path); ok {
				if msg := checkIfName(s); msg != "" {
					p.add(e.val, e.path, "%s", msg)
				} else {
					bs.b.ExternalInterface, bs.ext = s, e.val
				}
			}
		case "allowed_sources":
			bs.srcNode = e.val
			items, ok := p.sequence(e.val, e.path)
			if !ok {
				continue
			}
			for i, it := range items {
				if it == nil {
					continue
				}
				ipath := index(e.path, i)
				if pr, ok := p.source(it, ipath); ok {
					bs.sources = append(bs.sources, sourceSrc{prefix: pr, node: it, path: ipath})
				}
			}
		case "containers":
			p.containers(bs, e.val, e.path)
		case "links":
			items, ok := p.sequence(e.val, e.path)
			if !ok {
				continue
			}
			bs.links = slices.Grow(bs.links, len(items))
			for i, it := range items {
				if it == nil {
					continue
				}
				if ls, ok := p.link(it, index(e.path, i)); ok {
					bs.links = append(bs.links, ls)
				}
			}
		}
	}
}

func (p *parser) containers(bs *bridgeSrc, n *node, path fieldPath) {
	defer p.release(len(p.entries))
	entries, _ := p.mapping(n, path, nil, nil)
	bs.conts = slices.Grow(bs.conts, len(entries))
	for _, e := range entries {
		cs := containerSrc{key: e.key, path: e.path}
		cs.c.Name = e.name
		if !validContainerName(e.name) {
			p.add(e.key, e.path, "invalid container name %q: Docker allows [a-zA-Z0-9][a-zA-Z0-9_.-]*", shorten(e.name))
		}
		addrSeen := e.val == nil
		if e.val != nil && !isNull(e.val) {
			mark := len(p.entries)
			entries, ok := p.mapping(e.val, e.path, containerFields, containerSynonyms)
			addrSeen = addrSeen || !ok
			for _, f := range entries {
				if f.val == nil {
					addrSeen = addrSeen || f.name == "address"
					cs.exposeBroken = cs.exposeBroken || f.name == "expose"
					continue
				}
				if isNull(f.val) {
					continue
				}
				switch f.name {
				case "address":
					addrSeen = true
					if a, ok := p.hostAddr(f.val, f.path); ok {
						cs.c.Address = a
						cs.addr = f.val
					}
				case "address6":
					if a, ok := p.hostAddr6(f.val, f.path); ok {
						cs.c.Address6, cs.addr6 = a, f.val
					} else {
						cs.addr6Bad = true
					}
				case "expose":
					cs.expose = p.ports(f.val, f.path)
					cs.exposeBroken = f.val.Kind != yaml.SequenceNode || len(cs.expose) != len(f.val.Content)
					for _, ps := range cs.expose {
						cs.c.Expose = append(cs.c.Expose, ps.port)
					}
				case "publish":
					cs.publish = p.publications(f.val, f.path)
				}
			}
			p.release(mark)
		}
		if !addrSeen {
			p.add(e.key, child(e.path, "address"), "missing: every container needs an IPv4 address on its bridge, e.g. address: 172.17.0.2")
		}
		bs.conts = append(bs.conts, cs)
	}
}

func (p *parser) link(n *node, path fieldPath) (linkSrc, bool) {
	ls := linkSrc{node: n, path: path}
	if isNull(n) {
		p.add(n, path, "empty link: expected a mapping with from and to")
		return ls, false
	}
	defer p.release(len(p.entries))
	entries, ok := p.mapping(n, path, linkFields, linkSynonyms)
	if !ok {
		return ls, false
	}
	for _, e := range entries {
		if e.val == nil {
			ls.fromSeen = ls.fromSeen || e.name == "from"
			ls.toSeen = ls.toSeen || e.name == "to"
			ls.portsBroken = ls.portsBroken || e.name == "ports"
			continue
		}
		if isNull(e.val) {
			continue
		}
		switch e.name {
		case "from", "to":
			if e.name == "from" {
				ls.fromSeen = true
			} else {
				ls.toSeen = true
			}
			s, ok := p.text(e.val, e.path)
			if !ok {
				continue
			}
			if e.name == "from" {
				ls.l.From, ls.from = s, e.val
			} else {
				ls.l.To, ls.to = s, e.val
			}
		case "alias":
			if s, ok := p.text(e.val, e.path); ok {
				if !validContainerName(s) {
					p.add(e.val, e.path, "invalid alias %q: Docker allows [a-zA-Z0-9][a-zA-Z0-9_.-]*", shorten(s))
				} else {
					ls.l.Alias, ls.alias = s, e.val
				}
			}
		case "ports":
			ls.portsNode = e.val
			ls.ports = p.ports(e.val, e.path)
			if e.val.Kind != yaml.SequenceNode || len(ls.ports) != len(e.val.Content) {
				ls.portsBroken = true
			}
			for _, ps := range ls.ports {
				ls.l.Ports = append(ls.l.Ports, ps.port)
			}
		}
	}
	return ls, true
}
