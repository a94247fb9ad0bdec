package explain

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/netctl/netctl/internal/plural"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// Explain walks the flow's first packet through what the live state says
// and returns the verdict with the path of decisions.
func Explain(in Input, f Flow) Answer {
	a := Answer{From: f.From, To: f.To, Proto: f.Proto, Port: f.Port, IPv6: f.Is6(), Verdict: Allowed, Drift: []string{}}
	if in.Config != nil {
		desired, _ := plan.ResolveForward(plan.Desired(in.Config), in.Live)
		for _, c := range plan.Diff(desired, in.Live).Changes {
			a.Drift = append(a.Drift, c.Address)
		}
	}
	if len(a.Drift) > 0 {
		a.Path = append(a.Path, Step{Text: fmt.Sprintf("the live state differs from the file (%s: %s); this answer is for the live state",
			plural.S(len(a.Drift), "change"), shortList(a.Drift, 5))})
	}
	w := walker{in: in, f: f}
	w.run()
	a.Path = append(a.Path, w.path...)
	a.Verdict = w.verdict
	return a
}

func shortList(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(" and %d more", len(s)-n)
}

type walker struct {
	in      Input
	f       Flow
	path    []Step
	verdict string
	// depth bounds jumps (a loop of jumps is refused by the kernel; a
	// state read back could still be odd).
	depth int
	// uncertain is set by a decoded match that cannot be evaluated.
	uncertain string
}

func (w *walker) step(s Step) { w.path = append(w.path, s) }

func (w *walker) run() {
	w.verdict = Allowed
	if w.f.To.Kind == KindAddress && w.f.To.Bridge == "" && slices.Contains(w.in.Local, w.f.To.Addr) {
		w.f.To.Kind = KindHost // an address of the host's other interfaces
	}
	if w.f.To.Kind == KindHost && w.f.To.Addr.IsValid() && w.f.From.Kind != KindHost {
		if p, ok := w.findPublication(); ok {
			w.translate(p)
		}
	}
	from, to := w.f.From, w.f.To
	switch {
	case from.Kind == KindHost && to.Kind == KindHost:
		w.step(Step{Text: "the host to itself: local, not forwarded"})
		return
	case from.Kind == KindHost:
		w.step(Step{Text: "sent by the host itself (output): netctl's forward chain does not see it"})
		return
	case to.Kind == KindHost:
		w.step(Step{Text: "delivered to the host itself (input): netctl's forward chain does not see it"})
		return
	case from.Bridge == "" && to.Bridge == "":
		w.step(Step{Text: "neither end is on a bridge of the file: this host does not forward it"})
		w.verdict = Unknown
		return
	}
	for _, b := range []string{from.Bridge, to.Bridge} {
		if _, ok := w.in.Live.Bridges[b]; b != "" && !ok {
			w.step(Step{Text: "bridge " + b + " does not exist in the kernel", Item: "bridge." + b, Verdict: plan.VerdictDrop})
			w.verdict = Blocked
			return
		}
	}
	// A translated connection from a container of the bridge (hairpin)
	// goes up to the host and is routed back: not bridged.
	bridged := from.Bridge != "" && from.Bridge == to.Bridge && !w.f.dnat
	// The family decides which sysctls let the forward hook see the packet.
	nfCall, nfName, fwd, fwdItem, fwdName := plan.SysctlBridgeNFIptables, "bridge-nf-call-iptables", plan.SysctlIPForward, "ip_forward", "ip_forward"
	if w.f.Is6() {
		nfCall, nfName, fwd, fwdItem, fwdName = plan.SysctlBridgeNFIp6tables, "bridge-nf-call-ip6tables", plan.SysctlIP6Forward, "ip6_forward", "IPv6 forwarding ("+plan.SysctlIP6Forward+")"
	}
	if bridged {
		if w.sysctl(nfCall) != "1" {
			what, item := "icc", "bridge."+from.Bridge+".icc"
			if b := w.bridge(from.Bridge); w.f.Is6() && b != nil && !b.Address6.IsValid() {
				what, item = "the IPv4-only drop", "bridge."+from.Bridge+".ipv4_only"
			}
			w.step(Step{Text: nfName + " = 0 (" + what + " cannot be enforced)", Object: "sysctl " + nfCall, Item: item})
			w.step(Step{Text: "same bridge: bridged without netctl's forward chain"})
			w.foreign(true, false)
			return
		}
		w.step(Step{Text: "same bridge " + from.Bridge + ": bridged, seen by the forward hook through br_netfilter",
			Object: "sysctl " + nfCall + " = 1"})
	} else {
		if w.sysctl(fwd) != "1" {
			w.step(Step{Text: fwdName + " = 0", Item: fwdItem, Object: "sysctl " + fwd, Verdict: plan.VerdictDrop})
			w.verdict = Blocked
			return
		}
		w.step(Step{Text: "routed from " + from.Iface + " to " + to.Iface, Object: "sysctl " + fwd + " = 1"})
	}
	fw := w.in.Live.Firewall
	if fw == nil {
		w.step(Step{Text: "no table inet netctl (firewall off): nothing of netctl's filters it"})
	} else if ch := fw.Chain(plan.ChainForward); ch == nil {
		w.step(Step{Text: "table inet netctl has no chain " + plan.ChainForward})
	} else {
		switch v := w.chain(ch); v {
		case plan.VerdictDrop:
			w.verdict = Blocked
			return
		case Unknown:
			w.verdict = Unknown
			return
		case plan.VerdictAccept:
		default:
			pol := ch.Policy
			if pol == "" {
				pol = plan.VerdictAccept
			}
			w.step(Step{Text: "chain " + ch.Name + " policy " + pol, Object: chainObject(ch.Name), Verdict: pol})
			if pol == plan.VerdictDrop {
				w.verdict = Blocked
				return
			}
		}
		if w.replyDropped(ch) {
			w.verdict = Blocked
			return
		}
	}
	w.foreign(bridged, true)
}

// replyDropped walks the connection's reply through the forward chain:
// the person's rules come before netctl's accept of established traffic,
// so a rule there that drops by the server's address (without ct state
// new) kills the connection whose first packet passed. A drop blocks the
// connection, named with the reply's path; a reply that cannot be
// evaluated (a rule reads the client's port) leaves the verdict and says
// so.
func (w *walker) replyDropped(ch *plan.Chain) bool {
	r := walker{in: w.in, f: w.f.replyOf()}
	v := r.chain(ch)
	head := "the reply, " + r.f.From.Name + " → " + r.f.To.Name + " (ct state established)"
	switch v {
	case plan.VerdictDrop:
		w.step(Step{Text: head + ", is dropped:"})
		w.path = append(w.path, r.path...)
		return true
	case Unknown:
		w.step(Step{Text: head + ", could not be followed; the verdict is the first packet's"})
		w.path = append(w.path, r.path...)
	}
	return false
}

func (w *walker) sysctl(name string) string { return w.in.Live.Sysctls[name] }

// foreign applies the other tables' forward-hook drop policies: the bridge
// family's forward hook sees bridged frames, ip and inet see routed packets
// and, through br_netfilter, bridged ones.
func (w *walker) foreign(bridged, inet bool) {
	for _, d := range w.in.ForeignDrops {
		fam := strings.Fields(d)
		if len(fam) < 2 {
			continue
		}
		applies := (fam[1] == "bridge" && bridged) || ((fam[1] == "ip" || fam[1] == "inet") && inet)
		if !applies {
			continue
		}
		obj := strings.TrimSuffix(d, " has policy drop")
		w.step(Step{Text: obj + " policy drop (not netctl's)", Object: obj, Verdict: plan.VerdictDrop})
		w.verdict = Blocked
		return
	}
}

func chainObject(name string) string {
	return "table " + plan.TableFamily + " " + plan.TableName + " chain " + name
}

func ruleObject(chain string, r plan.Rule) string {
	return chainObject(chain) + " rule handle " + strconv.FormatUint(r.Handle, 10)
}

// chain walks one chain: the verdict that ends the walk (accept, drop,
// Unknown) or "" when the packet falls off its end (or returns).
func (w *walker) chain(ch *plan.Chain) string {
	w.depth++
	defer func() { w.depth-- }()
	if w.depth > 16 {
		w.step(Step{Text: "jumps nested too deep", Object: chainObject(ch.Name)})
		return Unknown
	}
	for _, r := range ch.Rules {
		var (
			ok      bool
			verdict string
			notes   []Step
		)
		if r.Unknown != "" {
			var uncertain string
			ok, verdict, uncertain = w.vm(r.Unknown)
			if uncertain != "" {
				w.step(Step{Text: ruleName(ch.Name, r) + " cannot be evaluated: " + uncertain + ": " + r.Unknown,
					Item: r.Comment, Object: ruleObject(ch.Name, r)})
				return Unknown
			}
		} else {
			ok, notes = w.match(r.Match)
			verdict = r.Verdict
			if w.uncertain != "" {
				w.step(Step{Text: ruleName(ch.Name, r) + " cannot be evaluated: " + w.uncertain, Item: r.Comment, Object: ruleObject(ch.Name, r)})
				return Unknown
			}
		}
		if !ok {
			// A lookup that kept the packet from a drop rule is a decision.
			w.path = append(w.path, notes...)
			continue
		}
		switch {
		case verdict == plan.VerdictAccept || verdict == plan.VerdictDrop:
			w.step(w.describe(ch.Name, r, verdict, notes))
			if strings.HasSuffix(r.Comment, ".icc") && verdict == plan.VerdictDrop {
				w.linkNote()
			}
			return verdict
		case strings.HasPrefix(verdict, "jump ") || strings.HasPrefix(verdict, "goto "):
			target := w.in.Live.Firewall.Chain(verdict[5:])
			if target == nil {
				w.step(Step{Text: ruleName(ch.Name, r) + " jumps to a missing chain", Object: ruleObject(ch.Name, r)})
				return Unknown
			}
			if v := w.chain(target); v != "" || strings.HasPrefix(verdict, "goto ") {
				return v
			}
		case verdict == "return":
			return ""
		default:
			// continue, masquerade, counters: the walk goes on.
		}
	}
	return ""
}

func ruleName(chain string, r plan.Rule) string {
	if chain == plan.ChainUser || plan.IsUserChain(chain) {
		if chain == plan.ChainUser {
			return "user chain rule handle " + strconv.FormatUint(r.Handle, 10)
		}
		return "chain " + chain + " rule handle " + strconv.FormatUint(r.Handle, 10)
	}
	if r.Comment != "" {
		return r.Comment
	}
	return "rule handle " + strconv.FormatUint(r.Handle, 10) + " of chain " + chain
}

// describe words a rule that ended the walk in the file's terms.
func (w *walker) describe(chain string, r plan.Rule, verdict string, notes []Step) Step {
	s := Step{Item: r.Comment, Object: ruleObject(chain, r), Verdict: verdict}
	verb := verdict + "s"
	switch {
	case chain == plan.ChainUser || plan.IsUserChain(chain):
		s.Text = ruleName(chain, r) + " " + verb
	case strings.Contains(r.Comment, ".ipv4_only."):
		b, _, _ := strings.Cut(strings.TrimPrefix(r.Comment, "bridge."), ".ipv4_only.")
		s.Text = r.Comment + " " + verb + " IPv6 (" + b + " has no address6)"
	case strings.Contains(r.Comment, ".isolation."):
		s.Text = "different bridges: isolation"
	case strings.HasSuffix(r.Comment, ".allowed_sources") || strings.HasSuffix(r.Comment, ".allowed_sources6"):
		s.Text = r.Comment + " " + verb + " " + w.f.From.Addr.String()
	case len(notes) > 0 && notes[0].Item != "":
		// A set element decided: name it (bridge.docker0.link.web->db).
		s.Text = notes[0].Item + " " + verb + " " + strconv.Itoa(int(w.f.Port)) + "/" + w.f.Proto
		s.Object = notes[0].Object + ", by " + s.Object
		s.Item = notes[0].Item
	default:
		s.Text = ruleName(chain, r) + " " + verb
	}
	return s
}

// match evaluates decoded matches; notes name the set elements a lookup
// found (as steps, in case they decide).
func (w *walker) match(ms []plan.Match) (bool, []Step) {
	var notes []Step
	v6 := w.f.Is6()
	for _, m := range ms {
		// A match bound to a family carries nft's implicit dependency on
		// it (meta nfproto): it fails for a packet of the other family,
		// negated or not (ip saddr != X does not match an IPv6 packet).
		if fam := plan.MatchFamily(m.Key); fam != 0 && (fam == 6) != v6 {
			return false, notes
		}
		var hit bool
		switch m.Key {
		case plan.KeyIIFName:
			hit = w.ifMatch(m.Value, w.f.From.Iface)
		case plan.KeyOIFName:
			hit = w.ifMatch(m.Value, w.f.To.Iface)
		case plan.KeyNFProto:
			hit = m.Value == "ipv4" && !v6 || m.Value == "ipv6" && v6
		case plan.KeyICMPv6Type:
			// The flow is tcp, udp or sctp: the implied meta l4proto
			// icmpv6 fails, negated or not.
			return false, notes
		case plan.KeySAddr, plan.KeySAddr6:
			hit = addrMatch(m.Value, w.f.From.Addr)
		case plan.KeyDAddr, plan.KeyDAddr6:
			hit = addrMatch(m.Value, w.f.To.Addr)
		case plan.KeyCTStatus:
			hit = m.Value == "dnat" && w.f.dnat
		case plan.KeyCTState:
			state := "new"
			if w.f.reply {
				state = "established"
			}
			hit = slices.Contains(strings.Split(m.Value, ","), state)
		case plan.KeyLinkTuple, plan.KeyLinkTuple6:
			if w.f.reply {
				// The reply's destination port is the client's: unknown.
				w.uncertain = "a lookup of the reply's destination port (the client's)"
				return false, notes
			}
			fallthrough
		case plan.KeySourceTuple, plan.KeySourceTuple6:
			var el *plan.Element
			set := w.in.Live.Firewall.Set(strings.TrimPrefix(m.Value, "@"))
			if set != nil {
				el = w.lookup(set, m.Key)
			}
			hit = el != nil
			if el != nil {
				notes = append(notes, w.elementStep(set, el, m.Negate))
			}
		default:
			return false, notes
		}
		if hit == m.Negate {
			return false, notes
		}
	}
	return true, notes
}

func (w *walker) elementStep(set *plan.Set, el *plan.Element, negated bool) Step {
	s := Step{Item: el.Comment, Object: "table " + plan.TableFamily + " " + plan.TableName + " set " + set.Name + " element " + el.Key}
	if negated {
		s.Text = el.Comment + " admits " + w.f.From.Addr.String()
	}
	return s
}

// ifMatch matches an interface name against a name, a wildcard or a set
// of names (@bridges).
func (w *walker) ifMatch(pattern, name string) bool {
	if set, ok := strings.CutPrefix(pattern, "@"); ok {
		s := w.in.Live.Firewall.Set(set)
		return s != nil && slices.ContainsFunc(s.Elements, func(e plan.Element) bool { return e.Key == `"`+name+`"` })
	}
	return ifMatch(pattern, name)
}

func ifMatch(pattern, name string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, p)
	}
	return pattern == name
}

func addrMatch(v string, a netip.Addr) bool {
	if p, err := netip.ParsePrefix(v); err == nil {
		return p.Contains(a)
	}
	b, err := netip.ParseAddr(v)
	return err == nil && a == b
}

// lookup finds the element of a set that the packet's key falls in.
func (w *walker) lookup(set *plan.Set, key plan.MatchKey) *plan.Element {
	var fields []func(string) bool
	switch key {
	case plan.KeyLinkTuple, plan.KeyLinkTuple6:
		fields = []func(string) bool{
			func(s string) bool { return addrField(s, w.f.From.Addr) },
			func(s string) bool { return addrField(s, w.f.To.Addr) },
			func(s string) bool { return s == w.f.Proto },
			func(s string) bool { return portField(s, w.f.Port) },
		}
	case plan.KeySourceTuple, plan.KeySourceTuple6:
		fields = []func(string) bool{
			func(s string) bool { return s == `"`+w.f.To.Iface+`"` },
			func(s string) bool { return addrField(s, w.f.From.Addr) },
		}
	}
	for i := range set.Elements {
		if keyMatches(set.Elements[i].Key, fields) {
			return &set.Elements[i]
		}
	}
	return nil
}

func keyMatches(key string, fields []func(string) bool) bool {
	for i, f := range fields {
		part := key
		if i < len(fields)-1 {
			j := strings.Index(key, " . ")
			if j < 0 {
				return false
			}
			part, key = key[:j], key[j+3:]
		} else if strings.Contains(key, " . ") {
			return false
		}
		if !f(part) {
			return false
		}
	}
	return true
}

// addrField matches an element field: an address, a prefix or a range.
func addrField(s string, a netip.Addr) bool {
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		l, err1 := netip.ParseAddr(lo)
		h, err2 := netip.ParseAddr(hi)
		return err1 == nil && err2 == nil && l.Compare(a) <= 0 && a.Compare(h) <= 0
	}
	return addrMatch(s, a)
}

func portField(s string, p uint16) bool {
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		hi = lo
	}
	l, err1 := strconv.ParseUint(lo, 10, 16)
	h, err2 := strconv.ParseUint(hi, 10, 16)
	return err1 == nil && err2 == nil && uint64(p) >= l && uint64(p) <= h
}

// linkNote says, when icc drops, what in the file's links would have
// opened the flow and why it does not.
func (w *walker) linkNote() {
	b := w.bridge(w.f.To.Bridge)
	if b == nil || w.f.From.Container == "" || w.f.To.Container == "" {
		return
	}
	to, _ := b.Container(w.f.To.Container)
	for _, l := range b.Links {
		if l.From != w.f.From.Container || l.To != w.f.To.Container {
			continue
		}
		addr := plan.LinkAddress(b.Name, l.From, l.To)
		port := strconv.Itoa(int(w.f.Port))
		if slices.Equal(schema.MergePorts(l.Ports), schema.MergePorts(to.Expose)) && !inPorts(to.Expose, w.f.Proto, w.f.Port) {
			w.step(Step{Text: "port " + port + " is not exposed by " + to.Name, Item: addr})
		} else if !inPorts(l.Ports, w.f.Proto, w.f.Port) {
			w.step(Step{Text: "port " + port + "/" + w.f.Proto + " is not among the ports of " + addr, Item: addr})
		}
		return
	}
	w.step(Step{Text: "no link from " + w.f.From.Container + " to " + w.f.To.Container + " on bridge " + b.Name})
}

func (w *walker) bridge(name string) *schema.Bridge {
	if w.in.Config == nil {
		return nil
	}
	for i := range w.in.Config.Bridges {
		if w.in.Config.Bridges[i].Name == name {
			return &w.in.Config.Bridges[i]
		}
	}
	return nil
}

func inPorts(ps []schema.Port, proto string, port uint16) bool {
	for _, p := range ps {
		if p.Proto == proto && p.First <= port && port <= p.Last {
			return true
		}
	}
	return false
}
