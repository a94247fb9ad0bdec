package e2e

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
)

// explain6Config is a dual-stack docker0 (icc as given, links and allowed
// sources of both families when the firewall is on), a dual-stack br-app
// and an IPv4-only br-v4, all routed straight to the containers
// (nat-unprotected) from an outside host, the host forwarding both
// families.
func explain6Config(firewall, icc bool) string {
	extra := ""
	if firewall {
		extra = "\n    allowed_sources: [198.51.100.10, 2001:db8:100::/48]"
	}
	links := ""
	if firewall {
		links = `
    links:
      - { from: web, to: db, ports: [5432/tcp, 53/udp] }
      - { from: web, to: cache }`
	}
	return fmt.Sprintf(`
ip_forward: true
ip6_forward: true
firewall: %v
bridges:
  docker0:
    address: 172.17.0.1/16
    address6: fd00:17::1/64
    gateway_mode: nat-unprotected
    masquerade: false
    icc: %v
    external_interface: eth0%s
    containers:
      web:   { address: 172.17.0.2, address6: "fd00:17::2", expose: [80/tcp] }
      db:    { address: 172.17.0.3, address6: "fd00:17::3", expose: [5432/tcp, 22/tcp, 53/udp] }
      cache: { address: 172.17.0.4, address6: "fd00:17::4", expose: [6379/tcp] }%s
  br-app:
    address: 172.18.0.1/16
    address6: fd00:18::1/64
    gateway_mode: nat-unprotected
    masquerade: false
    containers:
      api: { address: 172.18.0.2, address6: "fd00:18::2", expose: [8000/tcp] }
  br-v4:
    address: 172.19.0.1/16
    gateway_mode: nat-unprotected
    masquerade: false
    containers:
      old:  { address: 172.19.0.2, expose: [80/tcp] }
      old2: { address: 172.19.0.3, expose: [80/tcp] }
`, firewall, icc, extra, links)
}

// TestExplainIPv6Scenarios: for IPv6 flows (container ↔ container with
// icc off and on and links, another bridge, outside → container with
// allowed_sources6, an IPv4-only bridge carrying no IPv6, a person's rule
// on ip6 saddr in the user chain), netctl explain's verdict (asked with
// -6 or IPv6 addresses; exit 0 or 2 as the verdict) is the outcome of the
// real IPv6 connection, its path says why, and every blocked connection
// has its controls (withControls6). The last phase (firewall off) is the
// positive control on the same paths: every connection blocked before
// connects, and explain says so.
func TestExplainIPv6Scenarios(t *testing.T) {
	e := setup(t)
	e.AddOutside6(t)
	p := e.file(explain6Config(true, false))
	e.applyFile(p)
	e.addr6(gw6, map[string]string{"web": "fd00:17::2", "db": "fd00:17::3", "cache": "fd00:17::4"})
	e.addr6(netip.MustParseAddr("fd00:18::1"), map[string]string{"api": "fd00:18::2"})
	web, db, cache, api, old, old2 := e.C["web"], e.C["db"], e.C["cache"], e.C["api"], e.C["old"], e.C["old2"]
	// br-v4's containers get global IPv6 addresses by hand, routed by the
	// host, as a runtime configuring IPv6 behind netctl's back would.
	nstest.Run(t, "ip", "-n", e.Host, "-6", "route", "add", "2001:db8:1::/64", "dev", "br-v4")
	ll := e.bridgeLinkLocal("br-v4").WithZone("")
	old.AddAddr6(t, netip.MustParsePrefix("2001:db8:1::2/64"), ll)
	old2.AddAddr6(t, netip.MustParsePrefix("2001:db8:1::3/64"), ll)

	web80, db5432, db22, db53u := web.Listen6(t, "tcp", 80), db.Listen6(t, "tcp", 5432), db.Listen6(t, "tcp", 22), db.Listen6(t, "udp", 53)
	cache6379, api8000 := cache.Listen6(t, "tcp", 6379), api.Listen6(t, "tcp", 8000)
	old2v6, old2v4 := old2.Listen6(t, "tcp", 80), old2.Listen(t, "tcp", 80)
	db5432v4 := db.Listen(t, "tcp", 5432)
	outB := e.ListenOutside(t, "tcp", outside6B, 443)
	fromA, fromB := e.FromOutside(outside6A), e.FromOutside(outside6B)

	all := func(says map[int]string) []question {
		qs := []question{
			{from: "web", to: "db", port: "5432", ipv6: true, probe: web.Reaches(db5432)},                    // 0
			{from: "web", to: "db", port: "53/udp", ipv6: true, probe: web.Reaches(db53u)},                   // 1
			{from: "fd00:17::2", to: "fd00:17::3", port: "22", probe: web.Reaches(db22)},                     // 2
			{from: "db", to: "web", port: "80", ipv6: true, probe: db.Reaches(web80)},                        // 3
			{from: "web", to: "cache", port: "6379", ipv6: true, probe: web.Reaches(cache6379)},              // 4
			{from: "web", to: "fd00:18::2", port: "8000", probe: web.Reaches(api8000)},                       // 5
			{from: "2001:db8:100::10", to: "web", port: "80", probe: fromA.Reaches(web80)},                   // 6
			{from: "2001:db8:200::20", to: "web", port: "80", probe: fromB.Reaches(web80)},                   // 7
			{from: "2001:db8:200::20", to: "api", port: "8000", probe: fromB.Reaches(api8000)},               // 8
			{from: "web", to: "2001:db8:200::20", port: "443", probe: web.Reaches(outB)},                     // 9
			{from: "2001:db8:1::2%br-v4", to: "2001:db8:1::3%br-v4", port: "80", probe: old.Reaches(old2v6)}, // 10
			{from: "2001:db8:200::20", to: "2001:db8:1::3%br-v4", port: "80", probe: fromB.Reaches(old2v6)},  // 11
			{from: "db", to: "2001:db8:1::3%br-v4", port: "80", probe: db.Reaches(old2v6)},                   // 12
		}
		for i, s := range says {
			qs[i].says = s
		}
		return qs
	}
	expect := func(phase string, got []string, blocked ...int) {
		t.Helper()
		want := make([]string, len(got))
		for i := range want {
			want[i] = "allowed"
		}
		for _, i := range blocked {
			want[i] = "blocked"
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: verdicts\n  %v\nwant\n  %v", phase, got, want)
		}
	}

	// icc off: links6, neighbour discovery (the links work), isolation,
	// allowed_sources6, the IPv4-only bridge.
	v := e.agreeWith(p, all(map[int]string{
		0:  "bridge.docker0.link.web->db accepts 5432/tcp",
		1:  "bridge.docker0.link.web->db accepts 53/udp",
		2:  "bridge.docker0.icc drops",
		3:  "bridge.docker0.icc drops",
		5:  "different bridges: isolation",
		6:  "bridge.docker0.allowed_source.2001:db8:100::/48 admits 2001:db8:100::10",
		7:  "bridge.docker0.allowed_sources6 drops 2001:db8:200::20",
		10: "bridge.br-v4.ipv4_only.in drops IPv6 (br-v4 has no address6)",
		11: "bridge.br-v4.ipv4_only.out drops IPv6 (br-v4 has no address6)",
		12: "different bridges: isolation",
	}), e.withControls6)
	expect("icc off", v, 2, 3, 5, 7, 10, 11, 12)
	// IPv4 across the IPv4-only bridge passes its IPv6 drop (meta nfproto ipv6).
	v = e.agree(p, []question{{from: "old", to: "old2", port: "80", probe: old.Reaches(old2v4)}})
	expect("IPv4 on br-v4", v)

	// A person's rule on ip6 saddr in the user chain: it drops web's new
	// IPv6 connections, not web's IPv4 nor another source's IPv6. (ct state
	// new: the user chain comes before the established accept, and explain
	// walks a connection's first packet, not its replies.)
	e.nft("add", "rule", "inet", "netctl", "user", "ip6", "saddr", "fd00:17::2", "ct", "state", "new", "drop")
	m := regexp.MustCompile(`ip6 saddr fd00:17::2 ct state new drop # handle (\d+)`).FindStringSubmatch(e.nft("-a", "list", "chain", "inet", "netctl", "user"))
	if m == nil {
		t.Fatal("user rule not found")
	}
	v = e.agreeWith(p, []question{
		{from: "web", to: "db", port: "5432", ipv6: true, probe: web.Reaches(db5432), says: "user chain rule handle " + m[1] + " drops"},
		{from: "web", to: "2001:db8:200::20", port: "443", probe: web.Reaches(outB), says: "user chain rule handle " + m[1] + " drops"},
		{from: "2001:db8:100::10", to: "web", port: "80", probe: fromA.Reaches(web80)},
	}, e.withControls6)
	expect("user rule", v, 0, 1)
	v = e.agree(p, []question{{from: "web", to: "db", port: "5432", probe: web.Reaches(db5432v4), says: "bridge.docker0.link.web->db accepts 5432/tcp"}})
	expect("user rule, IPv4", v)
	e.nft("delete", "rule", "inet", "netctl", "user", "handle", m[1])

	// icc on: docker0 open over IPv6; the IPv4-only bridge still carries none.
	p = e.file(explain6Config(true, true))
	e.applyFile(p)
	v = e.agreeWith(p, all(map[int]string{3: "chain filter-forward policy accept", 10: "bridge.br-v4.ipv4_only.in drops IPv6 (br-v4 has no address6)"}), e.withControls6)
	expect("icc on", v, 5, 7, 10, 11, 12)

	// Firewall off: every connection connects (the positive control of
	// each blocked above), and explain says so.
	p = e.file(explain6Config(false, true))
	e.applyFile(p)
	v = e.agreeWith(p, all(map[int]string{5: "no table inet netctl (firewall off): nothing of netctl's filters it"}), e.withControls6)
	expect("firewall off", v)
}
