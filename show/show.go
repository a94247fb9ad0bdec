// Package show turns a live State back into a netctl file, so that
// `netctl show > netctl.yaml; netctl plan` shows no changes. It writes the
// format as package schema describes it (schema.File). It is pure: no
// kernel calls.
package show

import (
	"bytes"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/netctl/netctl/internal/plural"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// Result is a live state written as a netctl file.
type Result struct {
	// YAML is the file. Notes are written in it as comments.
	YAML string
	// File is what YAML holds.
	File schema.File
	// Notes say what was seen but is not expressed by the file: ports
	// attached to a bridge, a person's rules in the user chain, foreign rules
	// and set elements, and anything the file could not reproduce.
	Notes []string
	// Residual is what `netctl plan` with this file would still change in
	// the live state: empty when the file reproduces it, which is the rule
	// for a state netctl wrote. It is computed by loading YAML with
	// schema.Parse and diffing its desired state against live.
	Residual []plan.Change
}

// Config writes the live state as a netctl file.
func Config(live plan.State) Result {
	w := &writer{live: live}
	f := w.file()
	r := Result{File: f, Notes: w.notes}
	text, err := render(f, r.Notes, false)
	if err != nil {
		// Only strings, booleans and integers are encoded.
		panic(fmt.Sprintf("show: encoding the file: %v", err))
	}
	cfg, err := schema.Parse("netctl show", []byte(text))
	if err != nil {
		r.Notes = append(r.Notes, "the file written here does not load (a bug in netctl show): "+oneLine(err.Error()))
	} else {
		desired, err := plan.Resolve(plan.Desired(cfg), live)
		if err != nil {
			r.Notes = append(r.Notes, "plan with this file would refuse: "+oneLine(err.Error()))
		}
		r.Residual = plan.Diff(desired, live).Changes
		for _, c := range r.Residual {
			r.Notes = append(r.Notes, fmt.Sprintf("not reproduced: plan with this file would %s %s", c.Action, c.Address))
		}
	}
	if len(r.Notes) != len(w.notes) {
		if text, err = render(f, r.Notes, len(r.Residual) > 0); err != nil {
			panic(fmt.Sprintf("show: encoding the file: %v", err))
		}
	}
	r.YAML = text
	return r
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// render encodes the file with the notes as comments at its top.
func render(f schema.File, notes []string, residual bool) (string, error) {
	var b bytes.Buffer
	if residual {
		b.WriteString("# Written by netctl show from the live state, which this file cannot reproduce exactly: see the notes.\n")
	} else {
		b.WriteString("# Written by netctl show from the live state: with this file, netctl plan shows no changes.\n")
	}
	if len(notes) > 0 {
		b.WriteString("#\n")
		for _, n := range notes {
			b.WriteString("# note: " + strings.ReplaceAll(strings.ReplaceAll(n, "\r", " "), "\n", " ") + "\n")
		}
	}
	b.WriteString("\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

// writer gathers the file and the notes from one live state.
type writer struct {
	live  plan.State
	notes []string
	// names are the bridges of the live state, longest first, to find the
	// bridge an address names (names may contain dots).
	names []string
	// facts by bridge name.
	facts map[string]*facts
}

// facts are what the firewall says of one bridge.
type facts struct {
	order      int // first rule's position; bridges are written in rule order
	icc        bool
	masquerade bool
	sourceRule bool
	external   string
	sources    []netip.Prefix
	containers map[string]netip.Addr
	byAddr     map[netip.Addr]string
	links      map[[2]string][]schema.Port
	ipv6       facts6
	// Published ports and the gateway mode (ports.go).
	publish             map[string][]*publishFacts
	gatewayDrop, routed bool
}

func (w *writer) note(format string, args ...any) {
	w.notes = append(w.notes, fmt.Sprintf(format, args...))
}

func (w *writer) file() schema.File {
	live := w.live
	var f schema.File
	switch v, ok := live.Sysctls[plan.SysctlIPForward]; {
	case !ok:
		w.note("%s was not read: ip_forward is left out, so netctl leaves it alone", plan.SysctlIPForward)
	case v == "1" || v == "0":
		f.IPForward = ptr(v == "1")
	default:
		w.note("%s is %q, neither 0 nor 1: ip_forward is left out", plan.SysctlIPForward, v)
	}
	f.IP6Forward = w.ip6Forward()
	firewall := live.Firewall != nil
	f.Firewall = ptr(firewall)

	w.facts = map[string]*facts{}
	for name, b := range live.Bridges {
		if b.Kind != "bridge" {
			w.note("interface %q (%s) carries netctl's mark but is not a bridge: left out", name, b.Kind)
			continue
		}
		if err := schema.CheckIfName(name); err != nil {
			w.note("bridge %q carries netctl's mark but a netctl file cannot name it (%v): left out", name, err)
			continue
		}
		w.names = append(w.names, name)
		w.facts[name] = &facts{order: -1, icc: true, containers: map[string]netip.Addr{}, byAddr: map[netip.Addr]string{}, links: map[[2]string][]schema.Port{}}
	}
	sort.Slice(w.names, func(i, j int) bool {
		if len(w.names[i]) != len(w.names[j]) {
			return len(w.names[i]) > len(w.names[j])
		}
		return w.names[i] < w.names[j]
	})
	if firewall {
		w.firewall(live.Firewall)
		f.ForwardOthers = schema.ForwardOthers(plan.ForwardOthersOf(live.Firewall))
	}

	order := slices.Clone(w.names)
	sort.SliceStable(order, func(i, j int) bool {
		oi, oj := w.facts[order[i]].order, w.facts[order[j]].order
		switch {
		case oi < 0 && oj < 0:
			return order[i] < order[j]
		case oi < 0 || oj < 0:
			return oj < 0 // bridges without rules last
		}
		return oi < oj
	})
	for _, name := range order {
		if b, ok := w.bridge(live.Bridges[name], w.facts[name], firewall); ok {
			f.Bridges = append(f.Bridges, b)
		}
	}
	return f
}

// bridgeOf splits an address "bridge.NAME.REST" into NAME and REST for a
// live bridge NAME.
func (w *writer) bridgeOf(addr string) (name, rest string, ok bool) {
	s, ok := strings.CutPrefix(addr, "bridge.")
	if !ok {
		return "", "", false
	}
	for _, n := range w.names { // longest first: "br.x" before "br"
		if r, ok := strings.CutPrefix(s, n+"."); ok {
			return n, r, true
		}
	}
	return "", "", false
}

func (w *writer) firewall(fw *plan.Firewall) {
	pos := 0
	for _, c := range fw.Chains {
		switch c.Name {
		case plan.ChainForward, plan.ChainPostrouting:
		case plan.ChainTrace:
			continue // a running `netctl explain --trace`'s, transient
		case plan.ChainNATPrerouting, plan.ChainNATOutput, plan.ChainRawPrerouting:
			w.publishChain(c)
			continue
		case plan.ChainUser:
			if len(c.Rules) > 0 {
				w.note("chain %s holds %s of your own: netctl keeps them, they are not part of the file", plan.ChainUser, plural.S(len(c.Rules), "rule"))
			}
			continue
		default:
			w.note("chain %q in table %s %s is not netctl's", c.Name, plan.TableFamily, plan.TableName)
			continue
		}
		for _, r := range c.Rules {
			pos++
			if r.Comment == plan.CommentJumpUser || r.Comment == plan.CommentEstablished || plan.IsForwardOthersRule(r) && r.Unknown == "" {
				continue // forward_others rules: see plan.ForwardOthersOf
			}
			name, what, ok := w.bridgeOf(r.Comment)
			if !ok || !w.bridgeRule(c.Name, w.facts[name], what, r) {
				w.note("rule in chain %s not from a netctl file: %s", c.Name, describeRule(r))
				continue
			}
			if fa := w.facts[name]; fa.order < 0 {
				fa.order = pos
			}
		}
	}
	for _, s := range fw.Sets {
		switch s.Name {
		case plan.SetLinks:
			for _, e := range s.Elements {
				if !w.linkElement(e) {
					w.note("element of set %s not from a netctl file: %s", s.Name, describeElement(e))
				}
			}
		case plan.SetLinks6:
			for _, e := range s.Elements {
				if !w.linkElement6(e) {
					w.note("element of set %s not from a netctl file: %s", s.Name, describeElement(e))
				}
			}
		case plan.SetAllowedSources, plan.SetAllowedSources6:
			for _, e := range s.Elements {
				if !w.sourceElement(e) {
					w.note("element of set %s not from a netctl file: %s", s.Name, describeElement(e))
				}
			}
		case plan.SetBridges:
			// The bridges the forward_others rule looks up: from the bridges.
		case plan.SetPublish, plan.SetPublishAny, plan.SetRoutedPorts, plan.SetPublish6, plan.SetPublishAny6, plan.SetRoutedPorts6:
			family := 4
			if s.Name == plan.SetPublish6 || s.Name == plan.SetPublishAny6 {
				family = 6
			}
			read := func(e plan.Element) bool { return w.publishElement(e, family) }
			if s.Name == plan.SetRoutedPorts || s.Name == plan.SetRoutedPorts6 {
				read = w.routedElement
			}
			for _, e := range s.Elements {
				if !read(e) {
					w.note("element of set %s not from a netctl file: %s", s.Name, describeElement(e))
				}
			}
		default:
			w.note("set %q in table %s %s is not netctl's", s.Name, plan.TableFamily, plan.TableName)
		}
	}
}

// bridgeRule records what a rule says of its bridge; false when the rule
// is not one a file writes.
func (w *writer) bridgeRule(chain string, fa *facts, what string, r plan.Rule) bool {
	if r.Unknown != "" {
		return false
	}
	switch {
	case chain == plan.ChainPostrouting && what == "masquerade":
		fa.masquerade = true
	case w.bridgeRule6(chain, fa, what):
	case chain == plan.ChainPostrouting && (what == "hairpin" || what == "hairpin6" || what == "localhost"):
	case chain == plan.ChainForward && what == "gateway_mode":
		fa.gatewayDrop = true
	case chain == plan.ChainForward && (what == "routed" || what == "routed6"):
		fa.routed = true
	case chain == plan.ChainForward && what == "published":
	case chain != plan.ChainForward:
		return false
	case what == "icc":
		fa.icc = false
	case what == "links":
	case strings.HasPrefix(what, "isolation."):
	case what == "allowed_sources":
		fa.sourceRule = true
		if len(r.Match) > 0 && r.Match[0].Key == plan.KeyIIFName && !r.Match[0].Negate {
			fa.external = r.Match[0].Value
		}
	default:
		return false
	}
	return true
}

// linkElement reads "A . B . PROTO . PORT[-PORT]" commented
// bridge.X.link.FROM->TO.
func (w *writer) linkElement(e plan.Element) bool {
	name, rest, ok := w.bridgeOf(e.Comment)
	if !ok {
		return false
	}
	pair, ok := strings.CutPrefix(rest, "link.")
	if !ok {
		return false
	}
	// Container names hold no '>': the first one ends FROM's "-".
	i := strings.Index(pair, "->")
	from, to := "", ""
	if i >= 0 {
		j := strings.IndexByte(pair, '>')
		from, to = pair[:j-1], pair[j+1:]
	}
	if i < 0 || !validName(from) || !validName(to) || from == to {
		return false
	}
	f := strings.Split(e.Key, " . ")
	if len(f) != 4 {
		return false
	}
	a, errA := netip.ParseAddr(f[0])
	b, errB := netip.ParseAddr(f[1])
	if errA != nil || errB != nil || !a.Is4() || !b.Is4() {
		return false
	}
	p, err := schema.ParsePort(f[3] + "/" + f[2])
	if err != nil || strings.HasPrefix(f[3], "0") {
		return false
	}
	fa := w.facts[name]
	br := w.live.Bridges[name]
	for _, c := range []struct {
		name string
		addr netip.Addr
	}{{from, a}, {to, b}} {
		if msg := containerAddr(br, c.addr); msg != "" {
			w.note("link %s: container %q: %s", e.Comment, c.name, msg)
			return true
		}
		if have, ok := fa.containers[c.name]; ok && have != c.addr {
			w.note("link %s: container %q has two addresses, %s and %s: element %s left out", e.Comment, c.name, have, c.addr, e.Key)
			return true
		}
		if other, ok := fa.byAddr[c.addr]; ok && other != c.name {
			w.note("link %s: %s is the address of both %q and %q: element %s left out", e.Comment, c.addr, other, c.name, e.Key)
			return true
		}
	}
	if a == b {
		w.note("link %s: %q and %q have the same address %s: element %s left out", e.Comment, from, to, a, e.Key)
		return true
	}
	fa.containers[from], fa.containers[to] = a, b
	fa.byAddr[a], fa.byAddr[b] = from, to
	fa.links[[2]string{from, to}] = append(fa.links[[2]string{from, to}], p)
	return true
}

// containerAddr says why a cannot be a container's address on the bridge.
func containerAddr(b plan.Bridge, a netip.Addr) string {
	if len(b.Addresses) == 0 {
		return ""
	}
	gw := b.Addresses[0]
	subnet := gw.Masked()
	switch {
	case !subnet.Contains(a):
		return fmt.Sprintf("%s is outside the bridge's subnet %s: left out", a, subnet)
	case a == gw.Addr() || a == subnet.Addr() || a == lastAddr(subnet):
		return fmt.Sprintf("%s is the gateway, network or broadcast address of %s: left out", a, subnet)
	}
	return ""
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	return netip.AddrFrom4(b)
}

// sourceElement reads `"NAME" . PREFIX` commented
// bridge.NAME.allowed_source.PREFIX.
func (w *writer) sourceElement(e plan.Element) bool {
	i := strings.LastIndex(e.Key, `" . `)
	if !strings.HasPrefix(e.Key, `"`) || i < 1 {
		return false
	}
	name, addr := e.Key[1:i], e.Key[i+4:]
	fa, ok := w.facts[name]
	if !ok {
		return false
	}
	var p netip.Prefix
	var err error
	if strings.Contains(addr, "/") {
		p, err = netip.ParsePrefix(addr)
	} else {
		var a netip.Addr
		a, err = netip.ParseAddr(addr)
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if err != nil || p.Addr().Is4In6() || p != p.Masked() || e.Comment != plan.AllowedSourceAddress(name, p) {
		return false
	}
	fa.sources = append(fa.sources, p)
	return true
}

func (w *writer) bridge(b plan.Bridge, fa *facts, firewall bool) (schema.Entry[schema.IfName, schema.FileBridge], bool) {
	e := schema.Entry[schema.IfName, schema.FileBridge]{Name: schema.IfName(b.Name)}
	if len(b.Ports) > 0 {
		e.Comment = "attached ports, not netctl's: " + strings.Join(b.Ports, ", ")
		w.note("bridge %q has attached ports, not netctl's: %s", b.Name, strings.Join(b.Ports, ", "))
	}
	v4, v6 := w.splitAddresses(b)
	switch len(v4) {
	case 0:
		w.note("bridge %q has no address, and a file must give one: left out", b.Name)
		return e, false
	case 1:
	default:
		w.note("bridge %q has %d addresses; a file gives one: only %s is kept", b.Name, len(v4), v4[0])
	}
	if !b.Up {
		w.note("bridge %q is down; netctl sets its bridges up", b.Name)
	}
	if !plan.IsOwned(b.Owner) {
		w.note("bridge %q does not carry netctl's mark (alias %q): adopt: true is written so that the file applies", b.Name, b.Owner)
	}
	// A bridge netctl did not create applies only with adopt: true (an
	// adopted one says so with it).
	e.Value = schema.FileBridge{Address: schema.Gateway(v4[0].String()), MTU: b.MTU, Adopt: b.Owner != plan.Owner}
	if len(v6) > 0 {
		e.Value.Address6 = schema.Gateway6(v6[0].String())
	}
	if !firewall {
		return e, true
	}
	v := &e.Value
	v.ICC, v.Masquerade = ptr(fa.icc), ptr(fa.masquerade)
	if fa.ipv6.masquerade && len(v6) > 0 {
		v.Masquerade6 = ptr(true)
	}
	v.GatewayMode = schema.GatewayMode(fa.gatewayMode())
	if fa.sourceRule {
		if err := schema.CheckIfName(fa.external); fa.external != "" && err != nil {
			w.note("bridge %q: the allowed_sources rule names interface %q, which a netctl file cannot (%v): external_interface left out", b.Name, fa.external, err)
		} else {
			v.ExternalInterface = schema.IfName(fa.external)
		}
	}
	slices.SortFunc(fa.sources, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	for _, p := range fa.sources {
		s := p.String()
		if p.IsSingleIP() {
			s = p.Addr().String()
		}
		v.AllowedSources = append(v.AllowedSources, schema.Source(s))
	}
	if len(fa.sources) > 0 && !fa.sourceRule {
		w.note("bridge %q has allowed sources but no allowed_sources rule", b.Name)
	}

	exposed := map[string][]schema.Port{}
	pairs := make([][2]string, 0, len(fa.links))
	for pair, ports := range fa.links {
		pairs = append(pairs, pair)
		exposed[pair[1]] = append(exposed[pair[1]], ports...)
	}
	for _, n := range slices.Sorted(maps.Keys(fa.publish)) {
		if _, ok := fa.containers[n]; !ok {
			// Only IPv6 elements name it ([::]:P:Q): the file needs its
			// IPv4 address, which nothing in the table holds.
			w.note("container %q of bridge %q publishes only over IPv6: its IPv4 address is in no element, so it and its publications are left out", n, b.Name)
		}
	}
	names := make([]string, 0, len(fa.containers))
	for n := range fa.containers {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if c := fa.containers[names[i]].Compare(fa.containers[names[j]]); c != 0 {
			return c < 0
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		v.Containers = append(v.Containers, schema.Entry[schema.ContainerName, schema.FileContainer]{
			Name:  schema.ContainerName(n),
			Value: schema.FileContainer{Address: schema.HostAddress(fa.containers[n].String()), Address6: fa.ipv6.address6(n, v6), Expose: portList(schema.MergePorts(exposed[n])), Publish: fa.publications(n)},
		})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i][0] != pairs[j][0] {
			return pairs[i][0] < pairs[j][0]
		}
		return pairs[i][1] < pairs[j][1]
	})
	for _, pair := range pairs {
		v.Links = append(v.Links, schema.FileLink{From: schema.ContainerName(pair[0]), To: schema.ContainerName(pair[1]), Ports: portList(schema.MergePorts(fa.links[pair]))})
	}
	return e, true
}

func portList(ps []schema.Port) schema.Flow[schema.FilePort] {
	var out schema.Flow[schema.FilePort]
	for _, p := range ps {
		out = append(out, schema.FilePort(p.String()))
	}
	return out
}

// validName is Docker's container name syntax.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}

func describeRule(r plan.Rule) string {
	if r.Comment == "" {
		return r.String()
	}
	return r.String() + " comment " + strconv.Quote(r.Comment)
}

func describeElement(e plan.Element) string {
	if e.Comment == "" {
		return e.Key
	}
	return e.Key + " comment " + strconv.Quote(e.Comment)
}

func ptr[T any](v T) *T { return &v }
