package plan

import (
	"slices"
	"strings"
	"testing"

	"github.com/netctl/netctl/schema"
)

func publishConfig(t *testing.T, mode string, pubs ...string) *schema.Config {
	t.Helper()
	text := "bridges:\n  docker0:\n    address: 172.17.0.1/16\n    gateway_mode: " + mode +
		"\n    containers:\n      web:\n        address: 172.17.0.2\n        publish: [" + strings.Join(pubs, ", ") + "]\n"
	if len(pubs) == 0 {
		text = strings.Replace(text, "        publish: []\n", "", 1)
	}
	cfg, err := schema.Parse("t.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func ruleComments(c *Chain) []string {
	var out []string
	for _, r := range c.Rules {
		out = append(out, r.Comment+": "+r.String())
	}
	return out
}

func TestDesiredPublish(t *testing.T) {
	s := Desired(publishConfig(t, "nat", `"8080:80"`, `"127.0.0.1:5432:5432"`, `"198.51.100.1:53:53/udp"`,
		`"8000-8001:9000-9001"`, `{port: "8443:443", allowed_sources: [203.0.113.0/24, 198.51.100.7]}`))
	fw := s.Firewall
	if s.Sysctls[RouteLocalnetSysctl("docker0")] != "1" {
		t.Errorf("sysctls %v: want route_localnet on docker0", s.Sysctls)
	}
	pub := fw.Set(SetPublish)
	if pub == nil || pub.Type != PublishMapType || !pub.Interval {
		t.Fatalf("set publish: %+v", pub)
	}
	var got []string
	for _, e := range pub.Elements {
		got = append(got, elementText(e)+" # "+e.Comment)
	}
	var gotAny []string
	for _, e := range fw.Set(SetPublishAny).Elements {
		gotAny = append(gotAny, elementText(e)+" # "+e.Comment)
	}
	if s := fw.Set(SetPublishAny); s.Type != PublishAnyMapType || s.Interval {
		t.Errorf("set publish_any: %+v", s)
	}
	wantStrings(t, "publish_any elements", gotAny, []string{
		"tcp . 8000 : 172.17.0.2 . 9000 # bridge.docker0.container.web.publish.8000-8001:9000-9001/tcp",
		"tcp . 8001 : 172.17.0.2 . 9001 # bridge.docker0.container.web.publish.8000-8001:9000-9001/tcp",
		"tcp . 8080 : 172.17.0.2 . 80 # bridge.docker0.container.web.publish.8080:80/tcp",
	})
	wantStrings(t, "publish elements", got, []string{
		"0.0.0.0/0 . 127.0.0.1 . tcp . 5432 : 172.17.0.2 . 5432 # bridge.docker0.container.web.publish.127.0.0.1:5432:5432/tcp",
		"0.0.0.0/0 . 198.51.100.1 . udp . 53 : 172.17.0.2 . 53 # bridge.docker0.container.web.publish.198.51.100.1:53:53/udp",
		"198.51.100.7 . 0.0.0.0/0 . tcp . 8443 : 172.17.0.2 . 443 # bridge.docker0.container.web.publish.8443:443/tcp",
		"203.0.113.0/24 . 0.0.0.0/0 . tcp . 8443 : 172.17.0.2 . 443 # bridge.docker0.container.web.publish.8443:443/tcp",
	})
	wantStrings(t, "nat-prerouting", ruleComments(fw.Chain(ChainNATPrerouting)), []string{
		"firewall.publish.tcp: fib daddr type local meta l4proto tcp " + VerdictDNATPublish,
		"firewall.publish_any.tcp: fib daddr type local meta l4proto tcp " + VerdictDNATPublishAny,
		"firewall.publish.udp: fib daddr type local meta l4proto udp " + VerdictDNATPublish,
		"firewall.publish_any.udp: fib daddr type local meta l4proto udp " + VerdictDNATPublishAny,
	})
	if c := fw.Chain(ChainNATOutput); c == nil || c.Hook != "output" || len(c.Rules) != 4 {
		t.Errorf("nat-output: %+v", c)
	}
	wantStrings(t, "raw-prerouting", ruleComments(fw.Chain(ChainRawPrerouting)), []string{
		`firewall.loopback_guard: iifname != "lo" ip daddr 127.0.0.0/8 drop`,
	})
	wantStrings(t, "filter-forward", ruleComments(fw.Chain(ChainForward)), []string{
		"firewall.user: jump user",
		"firewall.established: ct state established,related accept",
		`bridge.docker0.published: oifname "docker0" ct status dnat accept`,
		`bridge.docker0.gateway_mode: iifname != "docker0" oifname "docker0" drop`,
	})
	wantStrings(t, "nat-postrouting", ruleComments(fw.Chain(ChainPostrouting)), []string{
		`bridge.docker0.hairpin: oifname "docker0" ct status dnat ip saddr 172.17.0.0/16 masquerade`,
		`bridge.docker0.localhost: oifname "docker0" ip saddr 127.0.0.0/8 masquerade`,
		`bridge.docker0.masquerade: oifname != "docker0" ip saddr 172.17.0.0/16 masquerade`,
	})
	if fw.Set(SetRoutedPorts) != nil {
		t.Errorf("nat mode has a routed_ports set")
	}
}

func TestDesiredGatewayModes(t *testing.T) {
	for _, tc := range []struct {
		mode    string
		forward []string
		routed  []string
	}{
		{"nat", []string{`bridge.docker0.gateway_mode: iifname != "docker0" oifname "docker0" drop`}, nil},
		{"nat-unprotected", nil, nil},
		{"routed", []string{
			`bridge.docker0.routed: iifname != "docker0" oifname "docker0" ip saddr . ip daddr . meta l4proto . th dport @routed_ports accept`,
			`bridge.docker0.gateway_mode: iifname != "docker0" oifname "docker0" drop`,
		}, []string{}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			fw := Desired(publishConfig(t, tc.mode)).Firewall
			got := ruleComments(fw.Chain(ChainForward))[2:]
			wantStrings(t, "forward", got, tc.forward)
			if (fw.Set(SetRoutedPorts) != nil) != (tc.routed != nil) {
				t.Errorf("routed_ports set: %v", fw.Set(SetRoutedPorts))
			}
			if fw.Chain(ChainNATPrerouting) != nil || fw.Set(SetPublish) != nil {
				t.Errorf("no publications, but DNAT objects")
			}
		})
	}
	// Routed: the container's ports, their sources merged.
	fw := Desired(publishConfig(t, "routed", `"8080:80"`, `{port: "8081:80", allowed_sources: [203.0.113.0/24]}`,
		`{port: "8443:443", allowed_sources: [203.0.113.0/24]}`, `{port: "8444:443", allowed_sources: [203.0.113.8/29, 198.51.100.0/24]}`)).Firewall
	var got []string
	for _, e := range fw.Set(SetRoutedPorts).Elements {
		got = append(got, e.Key)
	}
	wantStrings(t, "routed_ports", got, []string{
		"0.0.0.0/0 . 172.17.0.2 . tcp . 80",
		"198.51.100.0/24 . 172.17.0.2 . tcp . 443",
		"203.0.113.0/24 . 172.17.0.2 . tcp . 443",
	})
	if pr := fw.Chain(ChainPostrouting); slices.ContainsFunc(pr.Rules, func(r Rule) bool { return r.Comment == "bridge.docker0.masquerade" }) {
		t.Errorf("routed bridge masquerades")
	}
}

// TestPublishOneElement: adding a port writes its element and nothing
// else; removing it deletes it; the plan names the publication.
func TestPublishOneElement(t *testing.T) {
	before := Desired(publishConfig(t, "nat", `"8080:80"`, `"8081:81"`)).Firewall
	after := Desired(publishConfig(t, "nat", `"8080:80"`, `"8081:81"`, `"8082:82/tcp"`)).Firewall
	ops := FirewallOps(before, after)
	if len(ops) != 1 || ops[0].Kind != OpAddElements || len(ops[0].Elements) != 1 ||
		ops[0].Elements[0].Comment != "bridge.docker0.container.web.publish.8082:82/tcp" {
		t.Fatalf("ops %v", ops)
	}
	ops = FirewallOps(after, before)
	if len(ops) != 1 || ops[0].Kind != OpDeleteElements || len(ops[0].Elements) != 1 {
		t.Fatalf("ops %v", ops)
	}
	p := Diff(State{Firewall: after}, State{Firewall: before})
	if len(p.Changes) != 1 || p.Changes[0].Type != TypePublish || p.Changes[0].Name != "8082:82/tcp" ||
		!slices.Equal(p.Changes[0].After.([]string), []string{"tcp . 8082 : 172.17.0.2 . 82"}) {
		t.Fatalf("changes %+v", p.Changes)
	}
	// A container that moves: the same key, another value, is an update.
	moved := Desired(publishConfig(t, "nat", `"8080:80"`, `"8081:81"`, `"8082:83/tcp"`)).Firewall
	ops = FirewallOps(after, moved)
	if len(ops) != 2 || ops[0].Kind != OpDeleteElements || ops[1].Kind != OpAddElements {
		t.Fatalf("ops %v", ops)
	}
	// Only the value differs: still a change.
	other := *after
	other.Sets = slices.Clone(after.Sets)
	for i := range other.Sets {
		if other.Sets[i].Name == SetPublishAny {
			other.Sets[i].Elements = slices.Clone(other.Sets[i].Elements)
			other.Sets[i].Elements[0].Value = "172.17.0.9 . 9000"
		}
	}
	if FirewallsEqual(&other, after) || len(FirewallOps(after, &other)) != 2 || len(Diff(State{Firewall: &other}, State{Firewall: after}).Changes) != 1 {
		t.Errorf("a changed map value is not a change")
	}
}
