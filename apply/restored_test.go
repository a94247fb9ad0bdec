package apply

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/netctl/netctl/plan"
)

// TestDifferences: what a rollback's re-read is compared on. What a
// rollback cannot or must not write back is not a difference; everything
// netctl writes is, named by its address.
func TestDifferences(t *testing.T) {
	base := func() plan.State {
		fw := &plan.Firewall{
			Owner: plan.Owner,
			Chains: []plan.Chain{
				{Name: plan.ChainForward, Type: "filter", Hook: "forward", Policy: "accept", Rules: []plan.Rule{
					{Comment: "bridge.docker0.icc", Match: []plan.Match{{Key: plan.KeyIIFName, Value: "docker0"}}, Verdict: "drop", Handle: 4},
				}},
				{Name: plan.ChainUser},
			},
			Sets: []plan.Set{{Name: plan.SetLinks, Type: plan.LinksKeyType, Interval: true, Elements: []plan.Element{{Key: "a"}, {Key: "b"}}}},
		}
		return plan.State{
			Sysctls: map[string]string{plan.SysctlIPForward: "0"},
			Bridges: map[string]plan.Bridge{"docker0": {Name: "docker0", Kind: "bridge", MTU: 1500, Up: true, Owner: plan.Owner,
				Addresses: []netip.Prefix{netip.MustParsePrefix("172.17.0.1/16")}, Ports: []string{"veth0"}}},
			Firewall: fw,
		}
	}
	for _, tc := range []struct {
		name string
		edit func(s *plan.State)
		want []string
	}{
		{name: "the same", edit: func(*plan.State) {}},
		{name: "rule handles, rules netctl cannot decode, the person's objects and ports are not compared", edit: func(s *plan.State) {
			fwd := &s.Firewall.Chains[0]
			fwd.Rules[0].Handle = 40
			fwd.Rules = append(fwd.Rules, plan.Rule{Unknown: "meta mark 0x1", Handle: 41})
			s.Firewall.Chains[1].Rules = []plan.Rule{{Verdict: "accept"}}
			s.Firewall.Chains = append(s.Firewall.Chains, plan.Chain{Name: "user_ssh"})
			s.Firewall.Sets = append(s.Firewall.Sets, plan.Set{Name: "user_allow"})
			b := s.Bridges["docker0"]
			b.Ports = nil
			s.Bridges["docker0"] = b
		}},
		{name: "everything netctl writes", edit: func(s *plan.State) {
			s.Sysctls[plan.SysctlIPForward] = "1"
			b := s.Bridges["docker0"]
			b.Addresses, b.MTU, b.Owner = nil, 1400, ""
			s.Bridges["docker0"] = b
			s.Bridges["br-new"] = plan.Bridge{Name: "br-new", Kind: "bridge"}
			s.Firewall.Chains[0].Rules[0].Verdict = "accept"
			s.Firewall.Sets[0].Elements = s.Firewall.Sets[0].Elements[:1]
		}, want: []string{
			`sysctl.net.ipv4.ip_forward is "1", was "0"`,
			"bridge.br-new exists (a bridge), was absent",
			`bridge.docker0 differs: addresses [], were [172.17.0.1/16], mtu 1400, was 1500, alias "", was "netctl"`,
			"firewall.chain.filter-forward differs",
			"firewall.set.links differs",
		}},
		{name: "a bridge gone", edit: func(s *plan.State) { delete(s.Bridges, "docker0") }, want: []string{"bridge.docker0 is gone"}},
		{name: "the table gone", edit: func(s *plan.State) { s.Firewall = nil }, want: []string{"firewall: table inet netctl is gone"}},
		{name: "a table that is not netctl's is not netctl's business", edit: func(s *plan.State) { s.Firewall.Owner = "someone" }, want: []string{"firewall: table inet netctl is gone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := base()
			tc.edit(&now)
			if got := differences(base(), now); !slices.Equal(got, tc.want) {
				t.Errorf("differences:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
