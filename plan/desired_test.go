package plan

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/netctl/netctl/schema"
)

func TestDesired(t *testing.T) {
	// A bridge whose links exercise the set's keys: default ports (every
	// exposed port, including all of them), ranges, protocols, merging.
	links := func() schema.Bridge {
		b := schema.Bridge{
			Name: "docker0", Address: pfx("172.17.0.1/16"), MTU: 1500,
			Containers: []schema.Container{
				container("web", "172.17.0.2"),
				container("db", "172.17.0.3", tcp(5432, 5432), tcp(8000, 8100)),
				container("dns", "172.17.0.5", udp(53, 53), tcp(53, 53)),
				container("any", "172.17.0.6", tcp(1, 65535), udp(1, 65535)),
			},
		}
		b.Links = []schema.Link{
			link(b, "web", "db"),
			link(b, "web", "dns", udp(53, 53)),
			link(b, "web", "any"),
			// Overlapping and adjacent ranges of one protocol merge: an
			// interval set refuses overlapping elements.
			link(b, "dns", "db", tcp(85, 100), tcp(80, 90), tcp(101, 101), udp(80, 80), tcp(443, 443)),
		}
		return b
	}
	withBridges := func(fw bool, bs ...schema.Bridge) *schema.Config {
		return &schema.Config{Firewall: fw, Bridges: bs}
	}
	iccOn := func(b schema.Bridge) schema.Bridge { b.ICC = true; return b }
	noFirewall := func(b schema.Bridge) schema.Bridge {
		b.ICC, b.Masquerade, b.Links, b.AllowedSources = true, false, nil, nil
		return b
	}

	tests := []struct {
		name  string
		cfg   *schema.Config
		check func(t *testing.T, s State)
	}{{
		name: "ip_forward on",
		cfg:  &schema.Config{IPForward: ptr(true)},
		check: func(t *testing.T, s State) {
			wantSysctls(t, s, map[string]string{SysctlIPForward: "1"})
		},
	}, {
		name: "ip_forward off",
		cfg:  &schema.Config{IPForward: ptr(false)},
		check: func(t *testing.T, s State) {
			wantSysctls(t, s, map[string]string{SysctlIPForward: "0"})
		},
	}, {
		name: "ip_forward left alone",
		cfg:  &schema.Config{},
		check: func(t *testing.T, s State) {
			wantSysctls(t, s, map[string]string{})
			if s.Firewall != nil {
				t.Errorf("firewall = %+v, want nil", s.Firewall)
			}
		},
	}, {
		name: "br_netfilter when a bridge has icc false and the firewall is on",
		cfg:  withBridges(true, internal(), docker0()),
		check: func(t *testing.T, s State) {
			wantSysctls(t, s, map[string]string{SysctlBridgeNFIptables: "1", SysctlBridgeNFIp6tables: "1"})
		},
	}, {
		// IPv4-only bridges: IPv6 across them is dropped, which needs
		// bridged IPv6 to meet the table (issue 14).
		name: "no IPv4 br_netfilter when every bridge has icc true",
		cfg:  withBridges(true, internal(), iccOn(docker0())),
		check: func(t *testing.T, s State) {
			wantSysctls(t, s, map[string]string{SysctlBridgeNFIp6tables: "1"})
			if c := s.Firewall.Chain(ChainForward); slices.Contains(comments(c), "bridge.docker0.icc") {
				t.Errorf("icc true bridge has an icc rule: %q", comments(c))
			}
		},
	}, {
		name: "no br_netfilter and no firewall when the firewall is off",
		cfg: func() *schema.Config {
			b := noFirewall(docker0())
			b.ICC = false // refused by the loader; Desired still writes nothing
			return withBridges(false, b)
		}(),
		check: func(t *testing.T, s State) {
			wantSysctls(t, s, map[string]string{})
			if s.Firewall != nil {
				t.Errorf("firewall = %+v, want nil", s.Firewall)
			}
			if len(s.Bridges) != 1 {
				t.Errorf("bridges = %v, want docker0", s.Bridges)
			}
		},
	}, {
		name: "bridges",
		cfg:  fullConfig(),
		check: func(t *testing.T, s State) {
			want := map[string]Bridge{
				"docker0":     {Name: "docker0", Kind: "bridge", Addresses: []netip.Prefix{pfx("172.17.0.1/16")}, MTU: 1500, Up: true, Owner: Owner},
				"br-internal": {Name: "br-internal", Kind: "bridge", Addresses: []netip.Prefix{pfx("10.10.0.1/24")}, MTU: 9000, Up: true, Owner: Owner},
			}
			if !reflect.DeepEqual(s.Bridges, want) {
				t.Errorf("bridges =\n%+v\nwant\n%+v", s.Bridges, want)
			}
		},
	}, {
		name: "the table: chains and sets by name",
		cfg:  fullConfig(),
		check: func(t *testing.T, s State) {
			var chains, sets []string
			for _, c := range s.Firewall.Chains {
				chains = append(chains, c.Name)
			}
			for _, st := range s.Firewall.Sets {
				sets = append(sets, st.Name)
			}
			wantStrings(t, "chains", chains, []string{ChainForward, ChainPostrouting, ChainUser})
			wantStrings(t, "sets", sets, []string{SetAllowedSources, SetLinks})
			fwd, post, user := s.Firewall.Chain(ChainForward), s.Firewall.Chain(ChainPostrouting), s.Firewall.Chain(ChainUser)
			if fwd.Type != "filter" || fwd.Hook != "forward" || fwd.Priority != 0 || fwd.Policy != "accept" {
				t.Errorf("forward chain = %+v", chainHeader(*fwd))
			}
			if post.Type != "nat" || post.Hook != "postrouting" || post.Priority != 100 || post.Policy != "accept" {
				t.Errorf("postrouting chain = %+v", chainHeader(*post))
			}
			if user.Type != "" || user.Hook != "" || len(user.Rules) != 0 {
				t.Errorf("user chain = %+v, want a regular empty chain", *user)
			}
			links, sources := s.Firewall.Set(SetLinks), s.Firewall.Set(SetAllowedSources)
			if links.Type != LinksKeyType || !links.Interval || sources.Type != AllowedSourcesKeyType || !sources.Interval {
				t.Errorf("sets = %+v, %+v", setHeader(*links), setHeader(*sources))
			}
		},
	}, {
		name: "forward rules: user first, established, isolation both ways, sources, links, icc",
		cfg:  fullConfig(),
		check: func(t *testing.T, s State) {
			wantRules(t, s.Firewall.Chain(ChainForward), []string{
				`jump user comment "firewall.user"`,
				`ct state established,related accept comment "firewall.established"`,
				`iifname "docker0" oifname "br-internal" drop comment "bridge.docker0.isolation.br-internal"`,
				`iifname "docker0" meta nfproto ipv6 drop comment "bridge.docker0.ipv4_only.in"`,
				`oifname "docker0" meta nfproto ipv6 drop comment "bridge.docker0.ipv4_only.out"`,
				`iifname != "docker0" oifname "docker0" oifname . ip saddr != @allowed_sources drop comment "bridge.docker0.allowed_sources"`,
				`iifname "docker0" oifname "docker0" ip saddr . ip daddr . meta l4proto . th dport @links accept comment "bridge.docker0.links"`,
				`iifname "docker0" oifname "docker0" drop comment "bridge.docker0.icc"`,
				`iifname "br-internal" oifname "docker0" drop comment "bridge.br-internal.isolation.docker0"`,
				`iifname "br-internal" meta nfproto ipv6 drop comment "bridge.br-internal.ipv4_only.in"`,
				`oifname "br-internal" meta nfproto ipv6 drop comment "bridge.br-internal.ipv4_only.out"`,
				`iifname "eth0" oifname "br-internal" oifname . ip saddr != @allowed_sources drop comment "bridge.br-internal.allowed_sources"`,
			})
		},
	}, {
		name: "isolation between three bridges",
		cfg: func() *schema.Config {
			third := internal()
			third.Name, third.Address, third.AllowedSources, third.ExternalInterface = "br3", pfx("10.20.0.1/24"), nil, ""
			return withBridges(true, iccOn(docker0()), internal(), third)
		}(),
		check: func(t *testing.T, s State) {
			var iso []string
			for _, r := range s.Firewall.Chain(ChainForward).Rules {
				if slices.ContainsFunc(r.Match, func(m Match) bool { return m.Key == KeyOIFName }) && r.Verdict == VerdictDrop && len(r.Match) == 2 && !strings.Contains(r.Comment, ".ipv4_only.") {
					iso = append(iso, r.String())
				}
			}
			wantStrings(t, "isolation rules", iso, []string{
				`iifname "docker0" oifname "br-internal" drop`,
				`iifname "docker0" oifname "br3" drop`,
				`iifname "br-internal" oifname "docker0" drop`,
				`iifname "br-internal" oifname "br3" drop`,
				`iifname "br3" oifname "docker0" drop`,
				`iifname "br3" oifname "br-internal" drop`,
			})
		},
	}, {
		name: "one bridge: no isolation rules",
		cfg:  withBridges(true, docker0()),
		check: func(t *testing.T, s State) {
			for _, c := range comments(s.Firewall.Chain(ChainForward)) {
				if strings.Contains(c, ".isolation.") {
					t.Errorf("isolation rule %q with one bridge", c)
				}
			}
		},
	}, {
		name: "masquerade only on bridges that ask for it",
		cfg:  fullConfig(),
		check: func(t *testing.T, s State) {
			wantRules(t, s.Firewall.Chain(ChainPostrouting), []string{
				`oifname != "docker0" ip saddr 172.17.0.0/16 masquerade comment "bridge.docker0.masquerade"`,
			})
		},
	}, {
		name: "no masquerade: an empty postrouting chain",
		cfg:  withBridges(true, internal()),
		check: func(t *testing.T, s State) {
			wantRules(t, s.Firewall.Chain(ChainPostrouting), nil)
		},
	}, {
		name: "link elements: default ports, ranges, all ports, merged",
		cfg:  withBridges(true, links()),
		check: func(t *testing.T, s State) {
			wantElements(t, s.Firewall.Set(SetLinks), []string{
				`172.17.0.2 . 172.17.0.3 . tcp . 5432 comment "bridge.docker0.link.web->db"`,
				`172.17.0.2 . 172.17.0.3 . tcp . 8000-8100 comment "bridge.docker0.link.web->db"`,
				`172.17.0.2 . 172.17.0.5 . udp . 53 comment "bridge.docker0.link.web->dns"`,
				`172.17.0.2 . 172.17.0.6 . tcp . 1-65535 comment "bridge.docker0.link.web->any"`,
				`172.17.0.2 . 172.17.0.6 . udp . 1-65535 comment "bridge.docker0.link.web->any"`,
				`172.17.0.5 . 172.17.0.3 . tcp . 443 comment "bridge.docker0.link.dns->db"`,
				`172.17.0.5 . 172.17.0.3 . tcp . 80-101 comment "bridge.docker0.link.dns->db"`,
				`172.17.0.5 . 172.17.0.3 . udp . 80 comment "bridge.docker0.link.dns->db"`,
			})
		},
	}, {
		name: "allowed sources: a host is a bare address, its address keeps /32",
		cfg:  fullConfig(),
		check: func(t *testing.T, s State) {
			wantElements(t, s.Firewall.Set(SetAllowedSources), []string{
				`"br-internal" . 192.0.2.0/24 comment "bridge.br-internal.allowed_source.192.0.2.0/24"`,
				`"docker0" . 198.51.100.0/24 comment "bridge.docker0.allowed_source.198.51.100.0/24"`,
				`"docker0" . 203.0.113.7 comment "bridge.docker0.allowed_source.203.0.113.7/32"`,
			})
		},
	}, {
		name: "no allowed sources: no restriction rule, an empty set",
		cfg: func() *schema.Config {
			b := docker0()
			b.AllowedSources = nil
			return withBridges(true, b)
		}(),
		check: func(t *testing.T, s State) {
			if slices.Contains(comments(s.Firewall.Chain(ChainForward)), "bridge.docker0.allowed_sources") {
				t.Error("a restriction rule without allowed sources")
			}
			wantElements(t, s.Firewall.Set(SetAllowedSources), nil)
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, Desired(tt.cfg))
		})
	}
}

// TestDesiredDiffsClean: a desired state diffed against itself (as read
// back, with handles and ports) is no change.
func TestDesiredDiffsClean(t *testing.T) {
	d := Desired(fullConfig())
	if p := Diff(d, liveOf(d)); !p.Empty() {
		t.Errorf("Diff(desired, desired) = %v", changeList(p))
	}
}

// TestDesiredNFT: the table as an nft script, for a representative config.
func TestDesiredNFT(t *testing.T) {
	golden(t, "desired.nft", []byte(Desired(fullConfig()).Firewall.NFT()))
}

func TestNFTNil(t *testing.T) {
	var f *Firewall
	if got := f.NFT(); got != "" {
		t.Errorf("nil firewall NFT() = %q, want empty", got)
	}
}

func wantSysctls(t *testing.T, s State, want map[string]string) {
	t.Helper()
	if !reflect.DeepEqual(s.Sysctls, want) {
		t.Errorf("sysctls = %v, want %v", s.Sysctls, want)
	}
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// wantRules compares a chain's rules as nft writes them, with comments.
func wantRules(t *testing.T, c *Chain, want []string) {
	t.Helper()
	var got []string
	for _, r := range c.Rules {
		got = append(got, r.String()+` comment "`+r.Comment+`"`)
	}
	wantStrings(t, "rules of "+c.Name, got, want)
}

func wantElements(t *testing.T, s *Set, want []string) {
	t.Helper()
	var got []string
	for _, e := range s.Elements {
		got = append(got, e.Key+` comment "`+e.Comment+`"`)
	}
	wantStrings(t, "elements of "+s.Name, got, want)
}
