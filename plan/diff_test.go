package plan

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// changeList is a plan as "action address" lines, in the plan's order.
func changeList(p *Plan) []string {
	out := make([]string, len(p.Changes))
	for i, c := range p.Changes {
		out[i] = string(c.Action) + " " + c.Address
	}
	return out
}

func TestDiff(t *testing.T) {
	desired := Desired(fullConfig())
	// A live state differs from the desired one by what mutate does.
	type drift func(live *State)
	chain := func(s *State, name string) *Chain { return s.Firewall.Chain(name) }
	set := func(s *State, name string) *Set { return s.Firewall.Set(name) }
	removeRule := func(c *Chain, comment string) {
		c.Rules = slices.DeleteFunc(c.Rules, func(r Rule) bool { return r.Comment == comment })
	}
	ruleIndex := func(c *Chain, comment string) int {
		return slices.IndexFunc(c.Rules, func(r Rule) bool { return r.Comment == comment })
	}
	bridge := func(s *State, name string, f func(b *Bridge)) {
		b := s.Bridges[name]
		f(&b)
		s.Bridges[name] = b
	}
	userRules := func(s *State) {
		chain(s, ChainUser).Rules = []Rule{
			{Match: []Match{{Key: KeySAddr, Value: "192.0.2.66"}}, Verdict: VerdictDrop, Handle: 101},
			{Comment: "firewall.user", Match: []Match{{Key: KeyDAddr, Value: "172.17.0.3"}}, Verdict: VerdictAccept, Handle: 102},
		}
	}
	// Everything of the desired table, created or destroyed, in plan order.
	table := func(a Action) []string {
		out := []string{
			"firewall",
			"firewall.chain.filter-forward", "firewall.chain.nat-postrouting", "firewall.chain.user",
			"firewall.set.allowed_sources", "firewall.set.links",
		}
		for _, name := range []string{ChainForward, ChainPostrouting} {
			out = append(out, comments(desired.Firewall.Chain(name))...)
		}
		if a == Delete {
			out = append(out, "firewall.chain.user.rule.handle-101", "firewall.chain.user.rule.handle-102")
		}
		out = append(out,
			"bridge.br-internal.allowed_source.192.0.2.0/24",
			"bridge.docker0.allowed_source.198.51.100.0/24",
			"bridge.docker0.allowed_source.203.0.113.7/32",
			"bridge.docker0.link.web->cache",
			"bridge.docker0.link.web->db",
			"bridge.docker0.link.web->dns",
		)
		for i := range out {
			out[i] = string(a) + " " + out[i]
		}
		return out
	}

	tests := []struct {
		name    string
		desired *State // Desired(fullConfig()) when nil
		drift   drift
		want    []string
	}{{
		name:  "equal",
		drift: func(*State) {},
	}, {
		name: "bridge ports and user-chain rules are not drift",
		drift: func(s *State) {
			bridge(s, "docker0", func(b *Bridge) { b.Ports = []string{"veth1", "veth2"} })
			userRules(s)
		},
	}, {
		name:  "bridge missing",
		drift: func(s *State) { delete(s.Bridges, "docker0") },
		want:  []string{"create bridge.docker0"},
	}, {
		name:  "address removed",
		drift: func(s *State) { bridge(s, "docker0", func(b *Bridge) { b.Addresses = nil }) },
		want:  []string{"update bridge.docker0"},
	}, {
		name: "address changed",
		drift: func(s *State) {
			bridge(s, "docker0", func(b *Bridge) { b.Addresses = []netip.Prefix{pfx("172.17.0.1/24")} })
		},
		want: []string{"update bridge.docker0"},
	}, {
		name: "extra address",
		drift: func(s *State) {
			bridge(s, "docker0", func(b *Bridge) { b.Addresses = append(b.Addresses, pfx("192.0.2.1/24")) })
		},
		want: []string{"update bridge.docker0"},
	}, {
		name:  "MTU changed",
		drift: func(s *State) { bridge(s, "br-internal", func(b *Bridge) { b.MTU = 1500 }) },
		want:  []string{"update bridge.br-internal"},
	}, {
		name:  "bridge down",
		drift: func(s *State) { bridge(s, "docker0", func(b *Bridge) { b.Up = false }) },
		want:  []string{"update bridge.docker0"},
	}, {
		name:  "bridge not marked as netctl's",
		drift: func(s *State) { bridge(s, "docker0", func(b *Bridge) { b.Owner = "" }) },
		want:  []string{"update bridge.docker0"},
	}, {
		name:  "bridge of another kind",
		drift: func(s *State) { bridge(s, "docker0", func(b *Bridge) { b.Kind = "dummy" }) },
		want:  []string{"replace bridge.docker0"},
	}, {
		name: "owned bridge not in the file",
		drift: func(s *State) {
			s.Bridges["br-old"] = Bridge{Name: "br-old", Kind: "bridge", Addresses: []netip.Prefix{pfx("10.99.0.1/24")}, MTU: 1500, Up: true, Owner: Owner}
		},
		want: []string{"delete bridge.br-old"},
	}, {
		name:  "sysctl changed",
		drift: func(s *State) { s.Sysctls[SysctlIPForward] = "0" },
		want:  []string{"update sysctl.net.ipv4.ip_forward"},
	}, {
		name:  "sysctl absent (br_netfilter not loaded)",
		drift: func(s *State) { delete(s.Sysctls, SysctlBridgeNFIptables) },
		want:  []string{"update sysctl.net.bridge.bridge-nf-call-iptables"},
	}, {
		name:  "table deleted",
		drift: func(s *State) { s.Firewall = nil },
		want:  table(Create),
	}, {
		name:  "chain deleted",
		drift: func(s *State) { removeChain(s.Firewall, ChainForward) },
		want: append([]string{"create firewall.chain.filter-forward"},
			prefixAll("create ", comments(desired.Firewall.Chain(ChainForward)))...),
	}, {
		name:  "user chain deleted",
		drift: func(s *State) { removeChain(s.Firewall, ChainUser) },
		want:  []string{"create firewall.chain.user"},
	}, {
		name:  "chain policy changed",
		drift: func(s *State) { chain(s, ChainForward).Policy = VerdictDrop },
		want:  []string{"update firewall.chain.filter-forward"},
	}, {
		name:  "chain priority changed",
		drift: func(s *State) { chain(s, ChainPostrouting).Priority = 0 },
		want:  []string{"replace firewall.chain.nat-postrouting"},
	}, {
		name:  "rule deleted",
		drift: func(s *State) { removeRule(chain(s, ChainForward), "bridge.docker0.icc") },
		want:  []string{"create bridge.docker0.icc"},
	}, {
		name: "rule changed: expressions netctl cannot decode",
		drift: func(s *State) {
			c := chain(s, ChainForward)
			c.Rules[ruleIndex(c, "bridge.docker0.icc")].Unknown = `iifname "docker0" [unknown expression] drop`
		},
		want: []string{"update bridge.docker0.icc"},
	}, {
		name: "rule changed: another verdict",
		drift: func(s *State) {
			c := chain(s, ChainForward)
			c.Rules[ruleIndex(c, "bridge.docker0.icc")].Verdict = VerdictAccept
		},
		want: []string{"update bridge.docker0.icc"},
	}, {
		name: "rule changed: another match",
		drift: func(s *State) {
			c := chain(s, ChainPostrouting)
			c.Rules[0].Match[1].Value = "172.17.0.0/24"
		},
		want: []string{"update bridge.docker0.masquerade"},
	}, {
		name: "foreign rule added (no comment)",
		drift: func(s *State) {
			c := chain(s, ChainForward)
			c.Rules = slices.Insert(c.Rules, 1, Rule{Match: []Match{{Key: KeySAddr, Value: "192.0.2.66"}}, Verdict: VerdictAccept, Handle: 77})
		},
		want: []string{"delete firewall.chain.filter-forward.rule.handle-77"},
	}, {
		name: "a rule of ours twice",
		drift: func(s *State) {
			c := chain(s, ChainForward)
			dup := c.Rules[ruleIndex(c, "bridge.docker0.icc")]
			dup.Handle = 78
			c.Rules = append(c.Rules, dup)
		},
		want: []string{"delete firewall.chain.filter-forward.rule.handle-78"},
	}, {
		name: "a rule of a bridge no longer in the file",
		drift: func(s *State) {
			c := chain(s, ChainPostrouting)
			c.Rules = append(c.Rules, Rule{Comment: "bridge.br-old.masquerade", Match: []Match{{Key: KeySAddr, Value: "10.99.0.0/24"}}, Verdict: VerdictMasquerade, Handle: 79})
		},
		want: []string{"delete bridge.br-old.masquerade"},
	}, {
		name: "a rule of ours in the wrong chain",
		drift: func(s *State) {
			c := chain(s, ChainForward)
			masq := chain(s, ChainPostrouting).Rules[0]
			masq.Handle = 80
			c.Rules = append(c.Rules, masq)
			removeRule(chain(s, ChainPostrouting), "bridge.docker0.masquerade")
		},
		want: []string{"delete firewall.chain.filter-forward.rule.handle-80", "create bridge.docker0.masquerade"},
	}, {
		name: "a stale rule in two chains",
		drift: func(s *State) {
			stale := Rule{Comment: "bridge.br-old.icc", Verdict: VerdictDrop, Handle: 81}
			chain(s, ChainForward).Rules = append(chain(s, ChainForward).Rules, stale)
			stale.Handle = 82
			chain(s, ChainPostrouting).Rules = append(chain(s, ChainPostrouting).Rules, stale)
		},
		want: []string{"delete bridge.br-old.icc", "delete firewall.chain.nat-postrouting.rule.handle-82"},
	}, {
		name: "rule order changed",
		drift: func(s *State) {
			c := chain(s, ChainForward)
			i, j := ruleIndex(c, "bridge.docker0.links"), ruleIndex(c, "bridge.docker0.icc")
			c.Rules[i], c.Rules[j] = c.Rules[j], c.Rules[i]
		},
		want: []string{"update firewall.chain.filter-forward.order"},
	}, {
		name: "a link element removed",
		drift: func(s *State) {
			links := set(s, SetLinks)
			links.Elements = slices.DeleteFunc(links.Elements, func(e Element) bool { return e.Key == "172.17.0.2 . 172.17.0.5 . udp . 53" })
		},
		want: []string{"update bridge.docker0.link.web->dns"},
	}, {
		name: "a link removed",
		drift: func(s *State) {
			links := set(s, SetLinks)
			links.Elements = slices.DeleteFunc(links.Elements, func(e Element) bool { return e.Comment == "bridge.docker0.link.web->db" })
		},
		want: []string{"create bridge.docker0.link.web->db"},
	}, {
		name: "a link no longer in the file",
		drift: func(s *State) {
			links := set(s, SetLinks)
			links.Elements = append(links.Elements, Element{Key: "172.17.0.3 . 172.17.0.2 . tcp . 80", Comment: "bridge.docker0.link.db->web"})
			SortElements(links.Elements)
		},
		want: []string{"delete bridge.docker0.link.db->web"},
	}, {
		name: "a foreign element added (no comment)",
		drift: func(s *State) {
			links := set(s, SetLinks)
			links.Elements = append(links.Elements, Element{Key: "172.17.0.9 . 172.17.0.3 . tcp . 5432"})
			SortElements(links.Elements)
		},
		want: []string{"delete firewall.set.links.element[172.17.0.9 . 172.17.0.3 . tcp . 5432]"},
	}, {
		name: "an allowed source removed",
		drift: func(s *State) {
			src := set(s, SetAllowedSources)
			src.Elements = slices.DeleteFunc(src.Elements, func(e Element) bool { return e.Key == `"docker0" . 203.0.113.7` })
		},
		want: []string{"create bridge.docker0.allowed_source.203.0.113.7/32"},
	}, {
		name:  "set of another type",
		drift: func(s *State) { set(s, SetLinks).Type = "ipv4_addr . ipv4_addr" },
		want:  []string{"replace firewall.set.links"},
	}, {
		name:  "set deleted",
		drift: func(s *State) { s.Firewall.Sets = s.Firewall.Sets[:1] },
		want: []string{
			"create firewall.set.links",
			"create bridge.docker0.link.web->cache",
			"create bridge.docker0.link.web->db",
			"create bridge.docker0.link.web->dns",
		},
	}, {
		name: "destroy: the table and everything in it, user rules too",
		desired: func() *State {
			cfg := fullConfig()
			cfg.Firewall = false
			d := Desired(cfg)
			return &d
		}(),
		drift: func(s *State) {
			userRules(s)
			s.Sysctls[SysctlBridgeNFIptables] = "1" // left alone once not desired
		},
		want: table(Delete),
	}, {
		name: "several drifts, in plan order",
		drift: func(s *State) {
			s.Sysctls[SysctlIPForward] = "0"
			bridge(s, "docker0", func(b *Bridge) { b.MTU = 9000 })
			chain(s, ChainForward).Policy = VerdictDrop
			removeRule(chain(s, ChainPostrouting), "bridge.docker0.masquerade")
			set(s, SetAllowedSources).Elements = nil
		},
		want: []string{
			"update sysctl.net.ipv4.ip_forward",
			"update bridge.docker0",
			"update firewall.chain.filter-forward",
			"create bridge.docker0.masquerade",
			"create bridge.br-internal.allowed_source.192.0.2.0/24",
			"create bridge.docker0.allowed_source.198.51.100.0/24",
			"create bridge.docker0.allowed_source.203.0.113.7/32",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := desired
			if tt.desired != nil {
				d = *tt.desired
			}
			// The live state is the full desired one, as read back.
			live := liveOf(desired)
			tt.drift(&live)
			p := Diff(cloneState(d), live)
			wantStrings(t, "changes", changeList(p), tt.want)
			checkChanges(t, p)
			checkOps(t, d, live, p) // what is planned is what is written
		})
	}
}

// checkChanges checks what every plan must hold: unique addresses, names
// that end their address, Before and After as the action says.
func checkChanges(t *testing.T, p *Plan) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range p.Changes {
		if seen[c.Address] {
			t.Errorf("address %q twice", c.Address)
		}
		seen[c.Address] = true
		ownName := c.Type == TypeTable || strings.HasSuffix(c.Address, ".order") // netctl, the chain's name
		if c.Name == "" || !ownName && !strings.HasSuffix(c.Address, c.Name) && c.Type != TypeSetElement {
			t.Errorf("%s: name %q does not end the address", c.Address, c.Name)
		}
		switch c.Action {
		case Create:
			if c.Before != nil || c.After == nil {
				t.Errorf("%s: create with before %v, after %v", c.Address, c.Before, c.After)
			}
		case Delete:
			if c.Before == nil || c.After != nil {
				t.Errorf("%s: delete with before %v, after %v", c.Address, c.Before, c.After)
			}
		case Update, Replace:
			if c.Before == nil || c.After == nil {
				t.Errorf("%s: %s with before %v, after %v", c.Address, c.Action, c.Before, c.After)
			}
		default:
			t.Errorf("%s: action %q", c.Address, c.Action)
		}
	}
}

func TestDiffDetails(t *testing.T) {
	desired := Desired(fullConfig())
	live := liveOf(desired)
	links := live.Firewall.Set(SetLinks)
	links.Elements = slices.DeleteFunc(links.Elements, func(e Element) bool { return e.Key == "172.17.0.2 . 172.17.0.5 . udp . 53" })
	links.Elements = append(links.Elements, Element{Key: "172.17.0.2 . 172.17.0.5 . udp . 54", Comment: "bridge.docker0.link.web->dns"})
	SortElements(links.Elements)
	c := live.Firewall.Chain(ChainForward)
	c.Rules[0], c.Rules[1] = c.Rules[1], c.Rules[0]

	p := Diff(desired, live)
	byAddr := map[string]Change{}
	for _, c := range p.Changes {
		byAddr[c.Address] = c
	}
	l := byAddr["bridge.docker0.link.web->dns"]
	if l.Type != TypeLink || l.Name != "web->dns" || l.Action != Update {
		t.Errorf("link change = %+v", l)
	}
	wantStrings(t, "link before", l.Before.([]string), []string{"172.17.0.2 . 172.17.0.5 . tcp . 53", "172.17.0.2 . 172.17.0.5 . udp . 54"})
	wantStrings(t, "link after", l.After.([]string), []string{"172.17.0.2 . 172.17.0.5 . tcp . 53", "172.17.0.2 . 172.17.0.5 . udp . 53"})

	o := byAddr["firewall.chain.filter-forward.order"]
	if o.Type != TypeChain || o.Name != ChainForward {
		t.Errorf("order change = %+v", o)
	}
	after := o.After.([]string)
	wantStrings(t, "order before", o.Before.([]string)[:2], []string{CommentEstablished, CommentJumpUser})
	wantStrings(t, "order after", after[:2], []string{CommentJumpUser, CommentEstablished})
	if len(after) != len(desired.Firewall.Chain(ChainForward).Rules) {
		t.Errorf("order after has %d rules, want %d", len(after), len(desired.Firewall.Chain(ChainForward).Rules))
	}
}

func TestDiffNames(t *testing.T) {
	tests := []struct{ address, name, typ string }{
		{"bridge.docker0.link.web->db", "web->db", TypeLink},
		{"bridge.docker0.allowed_source.8.8.8.8/32", "8.8.8.8/32", TypeAllowedSource},
		{"bridge.docker0.isolation.br-internal", "br-internal", ""},
		{"firewall.chain.filter-forward.rule.handle-7", "handle-7", ""},
		{"firewall.set.links.element[1.2.3.4 . 5.6.7.8 . tcp . 80]", "1.2.3.4 . 5.6.7.8 . tcp . 80", ""},
		// Names with dots and the markers' words.
		{"bridge.br.0.link.web.1->db.2", "web.1->db.2", TypeLink},
		{"bridge.link.allowed_source.192.0.2.0/24", "192.0.2.0/24", TypeAllowedSource},
		{"bridge.link.link.web->db", "web->db", TypeLink},
		{"bridge.allowed_source.link.web->db", "web->db", TypeLink},
		{"bridge.allowed_source.allowed_source.192.0.2.1/32", "192.0.2.1/32", TypeAllowedSource},
		{"bridge.docker0.link.web.link.x->db", "web.link.x->db", TypeLink},
		{"bridge.br.1.isolation.br.2", "br.2", ""},
		{"bridge.docker0.links", "links", TypeSetElement},
		{"bridge.docker0.allowed_sources", "allowed_sources", TypeSetElement},
		{"firewall.user", "user", TypeSetElement},
	}
	for _, tt := range tests {
		if got := lastPart(tt.address); got != tt.name {
			t.Errorf("lastPart(%q) = %q, want %q", tt.address, got, tt.name)
		}
		if tt.typ != "" {
			if got := ElementType(tt.address); got != tt.typ {
				t.Errorf("ElementType(%q) = %q, want %q", tt.address, got, tt.typ)
			}
		}
	}
}

func removeChain(f *Firewall, name string) {
	f.Chains = slices.DeleteFunc(f.Chains, func(c Chain) bool { return c.Name == name })
}

func prefixAll(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}
