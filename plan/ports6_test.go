package plan

import (
	"net/netip"
	"testing"

	"github.com/netctl/netctl/schema"
)

// dualStackPublish is a dual-stack bridge in mode, its container web
// (with address6) publishing pubs, and db (no address6) publishing
// 8090:90 on every address.
func dualStackPublish(t *testing.T, mode string, pubs ...schema.Publish) *schema.Config {
	t.Helper()
	cfg, err := schema.Parse("t.yaml", []byte("bridges:\n  docker0:\n    address: 172.17.0.1/16\n    address6: fd00:17::1/64\n    gateway_mode: "+mode+
		"\n    containers:\n      web: {address: 172.17.0.2, address6: 'fd00:17::2'}\n      db: {address: 172.17.0.3, publish: ['8090:90']}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Bridges[0].Containers[0].Publish = pubs
	return cfg
}

func pub(host string, hp, cp uint16, proto string, sources ...string) schema.Publish {
	p := schema.Publish{Proto: proto, Host: [2]uint16{hp, hp}, Container: [2]uint16{cp, cp}}
	if host != "" {
		p.HostAddr = netip.MustParseAddr(host)
	}
	for _, s := range sources {
		p.AllowedSources = append(p.AllowedSources, netip.MustParsePrefix(s))
	}
	return p
}

func setTexts(fw *Firewall, name string) []string {
	s := fw.Set(name)
	if s == nil {
		return nil
	}
	var out []string
	for _, e := range s.Elements {
		out = append(out, elementText(e)+" # "+e.Comment)
	}
	return out
}

// TestDesiredPublish6: each publication's sides, by its host address,
// the container's address6 and the families of its sources.
func TestDesiredPublish6(t *testing.T) {
	s := Desired(dualStackPublish(t, "nat",
		pub("", 8080, 80, "tcp"),
		pub("0.0.0.0", 8081, 81, "tcp"),
		pub("::", 8082, 82, "tcp"),
		pub("2001:db8::1", 8083, 83, "udp"),
		pub("", 8443, 443, "tcp", "203.0.113.0/24", "2001:db8:100::/48"),
		pub("", 8444, 444, "tcp", "203.0.113.0/24"),
		pub("", 8445, 445, "tcp", "2001:db8:100::/48"),
	))
	fw := s.Firewall
	const web = " # bridge.docker0.container.web.publish."
	wantStrings(t, "publish_any", setTexts(fw, SetPublishAny), []string{
		"tcp . 8080 : 172.17.0.2 . 80" + web + "8080:80/tcp",
		"tcp . 8081 : 172.17.0.2 . 81" + web + "0.0.0.0:8081:81/tcp",
		"tcp . 8090 : 172.17.0.3 . 90 # bridge.docker0.container.db.publish.8090:90/tcp",
	})
	wantStrings(t, "publish", setTexts(fw, SetPublish), []string{
		"203.0.113.0/24 . 0.0.0.0/0 . tcp . 8443 : 172.17.0.2 . 443" + web + "8443:443/tcp",
		"203.0.113.0/24 . 0.0.0.0/0 . tcp . 8444 : 172.17.0.2 . 444" + web + "8444:444/tcp",
	})
	wantStrings(t, "publish_any6", setTexts(fw, SetPublishAny6), []string{
		"tcp . 8080 : fd00:17::2 . 80" + web + "8080:80/tcp",
		"tcp . 8082 : fd00:17::2 . 82" + web + "[::]:8082:82/tcp",
	})
	wantStrings(t, "publish6", setTexts(fw, SetPublish6), []string{
		"2001:db8:100::/48 . ::/0 . tcp . 8443 : fd00:17::2 . 443" + web + "8443:443/tcp",
		"2001:db8:100::/48 . ::/0 . tcp . 8445 : fd00:17::2 . 445" + web + "8445:445/tcp",
		"::/0 . 2001:db8::1 . udp . 8083 : fd00:17::2 . 83" + web + "[2001:db8::1]:8083:83/udp",
	})
	if m := fw.Set(SetPublish6); m.Type != PublishMap6Type || !m.Interval {
		t.Errorf("publish6: %+v", m)
	}
	if m := fw.Set(SetPublishAny6); m.Type != PublishAnyMap6Type || m.Interval {
		t.Errorf("publish_any6: %+v", m)
	}
	wantStrings(t, "nat-prerouting", ruleComments(fw.Chain(ChainNATPrerouting)), []string{
		"firewall.publish.tcp: fib daddr type local meta l4proto tcp " + VerdictDNATPublish,
		"firewall.publish_any.tcp: fib daddr type local meta l4proto tcp " + VerdictDNATPublishAny,
		"firewall.publish6.tcp: fib daddr type local meta l4proto tcp " + VerdictDNATPublish6,
		"firewall.publish_any6.tcp: fib daddr type local meta l4proto tcp " + VerdictDNATPublishAny6,
		"firewall.publish6.udp: fib daddr type local meta l4proto udp " + VerdictDNATPublish6,
		"firewall.publish_any6.udp: fib daddr type local meta l4proto udp " + VerdictDNATPublishAny6,
	})
	if c := fw.Chain(ChainNATOutput); c == nil || len(c.Rules) != 6 || c.Rules[2].Comment != "firewall.publish6.tcp.host" {
		t.Errorf("nat-output: %v", ruleComments(c))
	}
	wantStrings(t, "nat-postrouting", ruleComments(fw.Chain(ChainPostrouting)), []string{
		`bridge.docker0.hairpin: oifname "docker0" ct status dnat ip saddr 172.17.0.0/16 masquerade`,
		`bridge.docker0.localhost: oifname "docker0" ip saddr 127.0.0.0/8 masquerade`,
		`bridge.docker0.hairpin6: oifname "docker0" ct status dnat ip6 saddr fd00:17::/64 masquerade`,
		`bridge.docker0.masquerade: oifname != "docker0" ip saddr 172.17.0.0/16 masquerade`,
	})
	if s.Sysctls[RouteLocalnetSysctl("docker0")] != "1" || !s.Bridges["docker0"].Hairpin {
		t.Errorf("route_localnet %q, hairpin %v", s.Sysctls[RouteLocalnetSysctl("docker0")], s.Bridges["docker0"].Hairpin)
	}
}

// TestDesiredPublish6Only: publications with IPv6 sides only make no
// IPv4 DNAT, no IPv4 hairpin and no route_localnet, and the other way.
func TestDesiredPublish6Only(t *testing.T) {
	cfg := dualStackPublish(t, "nat", pub("::", 8082, 82, "tcp"))
	cfg.Bridges[0].Containers[1].Publish = nil
	s := Desired(cfg)
	fw := s.Firewall
	if _, ok := s.Sysctls[RouteLocalnetSysctl("docker0")]; ok {
		t.Errorf("route_localnet planned for an IPv6-only publication")
	}
	wantStrings(t, "nat-prerouting", ruleComments(fw.Chain(ChainNATPrerouting)), []string{
		"firewall.publish6.tcp: fib daddr type local meta l4proto tcp " + VerdictDNATPublish6,
		"firewall.publish_any6.tcp: fib daddr type local meta l4proto tcp " + VerdictDNATPublishAny6,
	})
	if fw.Set(SetPublish) != nil || fw.Set(SetPublishAny) != nil {
		t.Errorf("IPv4 maps without IPv4 publications")
	}
	wantStrings(t, "nat-postrouting", ruleComments(fw.Chain(ChainPostrouting)), []string{
		`bridge.docker0.hairpin6: oifname "docker0" ct status dnat ip6 saddr fd00:17::/64 masquerade`,
		`bridge.docker0.masquerade: oifname != "docker0" ip saddr 172.17.0.0/16 masquerade`,
	})

	cfg = dualStackPublish(t, "nat", pub("0.0.0.0", 8081, 81, "tcp"))
	if fw := Desired(cfg).Firewall; fw.Set(SetPublish6) != nil || fw.Set(SetPublishAny6) != nil {
		t.Errorf("IPv6 maps without IPv6 publications: %v", fw.Sets)
	}
}

// TestDesiredRouted6: a routed dual-stack bridge accepts the published
// container ports of each family, its sources merged per family.
func TestDesiredRouted6(t *testing.T) {
	fw := Desired(dualStackPublish(t, "routed",
		pub("", 8080, 80, "tcp"),
		pub("", 8443, 443, "tcp", "203.0.113.0/24", "2001:db8:100::/48"),
		pub("", 8444, 443, "tcp", "2001:db8::/32"),
	)).Firewall
	wantStrings(t, "forward", ruleComments(fw.Chain(ChainForward))[2:], []string{
		`bridge.docker0.published: oifname "docker0" ct status dnat accept`,
		`bridge.docker0.routed: iifname != "docker0" oifname "docker0" ip saddr . ip daddr . meta l4proto . th dport @routed_ports accept`,
		`bridge.docker0.routed6: iifname != "docker0" oifname "docker0" ip6 saddr . ip6 daddr . meta l4proto . th dport @routed_ports6 accept`,
		`bridge.docker0.gateway_mode: iifname != "docker0" oifname "docker0" drop`,
	})
	var got []string
	for _, e := range fw.Set(SetRoutedPorts6).Elements {
		got = append(got, e.Key)
	}
	wantStrings(t, "routed_ports6", got, []string{
		"2001:db8::/32 . fd00:17::2 . tcp . 443",
		"::/0 . fd00:17::2 . tcp . 80",
	})
	if s := fw.Set(SetRoutedPorts6); s.Type != RoutedPorts6KeyType || !s.Interval {
		t.Errorf("routed_ports6: %+v", s)
	}
}
