package e2e

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
)

// Every test below shows connections that succeed and connections that are
// blocked, and every blocked connection is also shown succeeding under a
// config without the restriction (usually the phase before), so no blocked
// assertion can pass because of a broken topology. testnet.Expect adds its
// own guards: a blocked probe passes only if the listener is alive and never
// received the message, and only next to positive controls made since the
// last change (the client reaches another namespace, the destination is
// reached from one; env.withControls adds them through the host).
// TestBrokenFirewallFailsBlockedAssertions shows the blocked assertions fail
// when netctl's icc rule is missing.

// TestICCOnByDefault: on Docker's default bridge (icc left out, so on),
// containers reach each other on any port, both ways; icc: false closes
// exactly those paths; turning it back on opens them again.
func TestICCOnByDefault(t *testing.T) {
	e := setup(t)
	const on = `
ip_forward: true
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    containers:
      web: { address: 172.17.0.2, expose: [80/tcp] }
      db:  { address: 172.17.0.3, expose: [5432/tcp, 22/tcp] }
`
	off := strings.Replace(on, "address: 172.17.0.1/16", "address: 172.17.0.1/16\n    icc: false", 1)
	e.apply(on)
	web, db := e.C["web"], e.C["db"]
	web80, db5432, db22 := web.Listen(t, "tcp", 80), db.Listen(t, "tcp", 5432), db.Listen(t, "tcp", 22)
	testnet.Expect(t, web.Reaches(db5432), web.Reaches(db22), db.Reaches(web80))

	e.apply(off)
	testnet.Expect(t, e.withControls(web.CannotReach(db5432), web.CannotReach(db22), db.CannotReach(web80))...)

	e.apply(on)
	testnet.Expect(t, web.Reaches(db5432), web.Reaches(db22), db.Reaches(web80))
}

// TestICCOffNoLinks: with icc off and no links, containers cannot reach each
// other on any port, but both still reach the gateway and the outside.
func TestICCOffNoLinks(t *testing.T) {
	e := setup(t)
	cfg := func(icc bool) string {
		return fmt.Sprintf(`
ip_forward: true
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    icc: %v
    masquerade: true
    containers:
      web: { address: 172.17.0.2, expose: [80/tcp] }
      db:  { address: 172.17.0.3, expose: [5432/tcp, 22/tcp, 53/udp] }
`, icc)
	}
	e.apply(cfg(true))
	web, db := e.C["web"], e.C["db"]
	web80 := web.Listen(t, "tcp", 80)
	db5432, db22, db53 := db.Listen(t, "tcp", 5432), db.Listen(t, "tcp", 22), db.Listen(t, "udp", 53)
	gw := e.ListenHost(t, "tcp", gw0, 8080)
	out := e.ListenOutside(t, "tcp", outsideC, 443)
	between := func(reach bool) []testnet.Probe {
		ps := []testnet.Probe{web.Reaches(db5432), web.Reaches(db22), web.Reaches(db53), db.Reaches(web80)}
		for i := range ps {
			ps[i].Want = reach
		}
		return ps
	}
	testnet.Expect(t, between(true)...)

	e.apply(cfg(false))
	testnet.Expect(t, e.withControls(between(false)...)...)
	testnet.Expect(t, web.Reaches(gw), db.Reaches(gw), web.Reaches(out), db.Reaches(out))
}

// linksConfig: icc off; web may open db on 5432/tcp and 53/udp, and cache on
// every port cache exposes (ports left out).
func linksConfig(icc bool) string {
	return fmt.Sprintf(`
ip_forward: true
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    icc: %v
    containers:
      web:   { address: 172.17.0.2, expose: [80/tcp] }
      db:    { address: 172.17.0.3, expose: [5432/tcp, 22/tcp, 53/udp] }
      cache: { address: 172.17.0.4, expose: [6379/tcp] }
    links:
      - { from: web, to: db, ports: [5432/tcp, 53/udp] }
      - { from: web, to: cache }
`, icc)
}

// TestLinks: a link opens exactly its ports, in its direction only; a link
// without ports opens every port the target exposes and nothing else.
func TestLinks(t *testing.T) {
	e := setup(t)
	e.apply(linksConfig(true))
	web, db, cache := e.C["web"], e.C["db"], e.C["cache"]
	web80 := web.Listen(t, "tcp", 80)
	db5432, db22 := db.Listen(t, "tcp", 5432), db.Listen(t, "tcp", 22)
	db53u, db53t := db.Listen(t, "udp", 53), db.Listen(t, "tcp", 53)
	cache6379, cache6380 := cache.Listen(t, "tcp", 6379), cache.Listen(t, "tcp", 6380)

	opened := []testnet.Probe{web.Reaches(db5432), web.Reaches(db53u), web.Reaches(cache6379)}
	closed := []testnet.Probe{
		web.CannotReach(db22),      // listening, not linked
		web.CannotReach(db53t),     // 53 linked for udp only
		db.CannotReach(web80),      // links are one way
		cache.CannotReach(web80),   // likewise
		web.CannotReach(cache6380), // listening, not exposed
		db.CannotReach(cache6379),  // only web is linked to cache
		cache.CannotReach(db5432),  // only web is linked to db
	}
	// With icc on, every one of those connections works.
	all := append([]testnet.Probe{}, opened...)
	for _, p := range closed {
		p.Want = true
		all = append(all, p)
	}
	testnet.Expect(t, all...)

	e.apply(linksConfig(false))
	testnet.Expect(t, e.withControls(append(opened, closed...)...)...)
}

// TestLinkRemovedAndRestored: removing a link closes it to new connections,
// adding it back opens it, and an established connection of another link
// keeps working throughout.
func TestLinkRemovedAndRestored(t *testing.T) {
	e := setup(t)
	const both = `
ip_forward: true
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    icc: false
    containers:
      web:   { address: 172.17.0.2 }
      db:    { address: 172.17.0.3, expose: [5432/tcp] }
      cache: { address: 172.17.0.4, expose: [6379/tcp] }
    links:
      - { from: web, to: db, ports: [5432/tcp] }
      - { from: web, to: cache, ports: [6379/tcp] }
`
	cacheOnly := strings.Replace(both, "      - { from: web, to: db, ports: [5432/tcp] }\n", "", 1)
	if cacheOnly == both {
		t.Fatal("test bug: link line not removed")
	}
	p1 := e.file(both)
	e.applyFile(p1)
	web, db, cache := e.C["web"], e.C["db"], e.C["cache"]
	db5432, cache6379 := db.Listen(t, "tcp", 5432), cache.Listen(t, "tcp", 6379)
	long, err := testnet.Open(t, web.NS, netip.Addr{}, "tcp", cache.Addr, 6379, testnet.DefaultTimeout)
	if err != nil {
		t.Fatalf("open web → cache:6379: %v", err)
	}
	ping := func(when string) {
		t.Helper()
		if err := long.Ping(testnet.DefaultTimeout); err != nil {
			t.Errorf("established web → cache:6379 %s: %v", when, err)
		}
	}
	testnet.Expect(t, web.Reaches(db5432), web.Reaches(cache6379))
	e.wantPlanClean(p1)

	p2 := e.file(cacheOnly)
	e.applyFile(p2)
	ping("after removing the web → db link")
	testnet.Expect(t, e.withControls(web.CannotReach(db5432), web.Reaches(cache6379))...)
	e.wantPlanClean(p2)

	e.applyFile(e.file(both))
	ping("after adding the web → db link back")
	testnet.Expect(t, web.Reaches(db5432), web.Reaches(cache6379))
	e.wantPlanClean(p1)
}

// TestAllowedSources: with allowed_sources on the external interface, only
// those sources reach the containers from outside, while the containers
// still reach any outside host (replies are not new connections).
func TestAllowedSources(t *testing.T) {
	e := setup(t)
	cfg := func(sources string) string {
		return fmt.Sprintf(`
ip_forward: true
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    gateway_mode: nat-unprotected
    masquerade: false
    external_interface: eth0
    allowed_sources: %s
    containers:
      web: { address: 172.17.0.2, expose: [80/tcp, 53/udp] }
`, sources)
	}
	e.apply(cfg("[]"))
	web := e.C["web"]
	web80, web53 := web.Listen(t, "tcp", 80), web.Listen(t, "udp", 53)
	fromA, fromB, fromC := e.FromOutside(outsideA), e.FromOutside(outsideB), e.FromOutside(outsideC)
	outC, outB := e.ListenOutside(t, "tcp", outsideC, 443), e.ListenOutside(t, "tcp", outsideB, 443)
	testnet.Expect(t,
		fromA.Reaches(web80), fromA.Reaches(web53),
		fromB.Reaches(web80), fromB.Reaches(web53),
		fromC.Reaches(web80),
		web.Reaches(outC), web.Reaches(outB),
	)

	e.apply(cfg("[198.51.100.10]"))
	testnet.Expect(t, e.withControls(
		fromA.Reaches(web80), fromA.Reaches(web53),
		fromB.CannotReach(web80), fromB.CannotReach(web53),
		fromC.CannotReach(web80),
		web.Reaches(outC), web.Reaches(outB), // B may not open, but may answer
	)...)

	e.apply(cfg("[198.51.100.0/24]"))
	testnet.Expect(t, e.withControls(
		fromA.Reaches(web80), fromB.Reaches(web80), fromB.Reaches(web53),
		fromC.CannotReach(web80),
		web.Reaches(outC),
	)...)
}

// TestMasquerade: with masquerade on, outside hosts see the host's external
// address, never the container's, and containers on the bridge still see
// each other's own addresses; with it off, outside sees the container's
// address, and without a route back the connection fails.
func TestMasquerade(t *testing.T) {
	e := setup(t)
	e.DelOutsideDefaultRoute(t) // the outside knows no way to 172.17.0.0/16
	cfg := func(masq bool) string {
		return fmt.Sprintf(`
ip_forward: true
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    masquerade: %v
    containers:
      web: { address: 172.17.0.2 }
      db:  { address: 172.17.0.3, expose: [5432/tcp] }
`, masq)
	}
	e.apply(cfg(true))
	web, db := e.C["web"], e.C["db"]
	db5432 := db.Listen(t, "tcp", 5432)
	outC, outCu, outA := e.ListenOutside(t, "tcp", outsideC, 443), e.ListenOutside(t, "udp", outsideC, 53), e.ListenOutside(t, "tcp", outsideA, 443)

	// seen checks that every listener saw exactly the given source.
	seen := func(want map[*testnet.Listener]netip.Addr) {
		t.Helper()
		for l, w := range want {
			got := l.Peers()
			if len(got) == 0 {
				t.Errorf("%s saw nothing", l)
			}
			for _, g := range got {
				if g != w {
					t.Errorf("%s saw source %s, want %s", l, g, w)
				}
			}
			l.Reset()
		}
	}

	testnet.Expect(t, web.Reaches(outC), web.Reaches(outCu), web.Reaches(outA), web.Reaches(db5432))
	seen(map[*testnet.Listener]netip.Addr{outC: hostExtB, outCu: hostExtB, outA: hostExtA, db5432: web.Addr})

	e.apply(cfg(false))
	// No masquerade and no route back: the replies are lost.
	testnet.Expect(t, e.withControls(web.CannotReach(outC), web.CannotReach(outA))...)
	e.RouteOutside(t, netip.MustParsePrefix("172.17.0.0/16"))
	for _, l := range []*testnet.Listener{outC, outCu, outA} {
		l.Reset()
	}
	testnet.Expect(t, web.Reaches(outC), web.Reaches(outCu), web.Reaches(outA))
	seen(map[*testnet.Listener]netip.Addr{outC: web.Addr, outCu: web.Addr, outA: web.Addr})

	e.apply(cfg(true))
	testnet.Expect(t, web.Reaches(outC), web.Reaches(outA), web.Reaches(db5432))
	seen(map[*testnet.Listener]netip.Addr{outC: hostExtB, outA: hostExtA, db5432: web.Addr})
}

// TestTwoBridges: containers on different bridges cannot reach each other
// although the host forwards (they can once the firewall is off); each
// reaches its own gateway and the outside.
func TestTwoBridges(t *testing.T) {
	e := setup(t)
	// masquerade: true needs the firewall, so it is written only with it.
	cfg := func(firewall bool) string {
		masq := ""
		if firewall {
			masq = "\n    masquerade: true"
		}
		return fmt.Sprintf(`
ip_forward: true
firewall: %v
bridges:
  docker0:
    address: 172.17.0.1/16%[2]s
    containers:
      web: { address: 172.17.0.2, expose: [80/tcp] }
  br-app:
    address: 172.18.0.1/16%[2]s
    containers:
      api: { address: 172.18.0.2, expose: [8000/tcp, 53/udp] }
`, firewall, masq)
	}
	e.apply(cfg(false))
	web, api := e.C["web"], e.C["api"]
	web80, api8000, api53 := web.Listen(t, "tcp", 80), api.Listen(t, "tcp", 8000), api.Listen(t, "udp", 53)
	testnet.Expect(t, web.Reaches(api8000), web.Reaches(api53), api.Reaches(web80))

	e.apply(cfg(true))
	gwWeb := e.ListenHost(t, "tcp", gw0, 8080)
	gwAPI := e.ListenHost(t, "tcp", netip.MustParseAddr("172.18.0.1"), 8080)
	out := e.ListenOutside(t, "tcp", outsideC, 443)
	testnet.Expect(t, e.withControls(
		web.CannotReach(api8000), web.CannotReach(api53), api.CannotReach(web80),
		web.Reaches(gwWeb), api.Reaches(gwAPI),
		web.Reaches(out), api.Reaches(out),
	)...)
}

// TestFirewallOff: firewall: false writes no firewall at all: netctl's table
// is gone and containers reach each other on every port. (icc: false with
// firewall: false is refused by the loader, as Docker refuses --icc=false
// with --iptables=false; so the blocked phase is firewall: true, icc: false.)
func TestFirewallOff(t *testing.T) {
	e := setup(t)
	const containers = `
      web: { address: 172.17.0.2, expose: [80/tcp] }
      db:  { address: 172.17.0.3, expose: [5432/tcp, 22/tcp, 53/udp] }
`
	e.apply(`
ip_forward: true
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    icc: false
    containers:` + containers)
	if !e.hasTable() {
		t.Errorf("firewall: true but no inet netctl table:\n%s", e.nft("list", "tables"))
	}
	web, db := e.C["web"], e.C["db"]
	web80 := web.Listen(t, "tcp", 80)
	db5432, db22, db53 := db.Listen(t, "tcp", 5432), db.Listen(t, "tcp", 22), db.Listen(t, "udp", 53)
	testnet.Expect(t, e.withControls(web.CannotReach(db5432), web.CannotReach(db22), web.CannotReach(db53), db.CannotReach(web80))...)

	e.apply(`
ip_forward: true
firewall: false
bridges:
  docker0:
    address: 172.17.0.1/16
    containers:` + containers)
	if e.hasTable() {
		t.Errorf("firewall: false but the inet netctl table is still there:\n%s", e.nft("list", "tables"))
	}
	testnet.Expect(t, web.Reaches(db5432), web.Reaches(db22), web.Reaches(db53), db.Reaches(web80))
}

// TestIPForward: ip_forward decides whether anything crosses the host:
// off, a container cannot reach the outside nor the outside a container.
func TestIPForward(t *testing.T) {
	e := setup(t)
	cfg := func(fwd bool) string {
		return fmt.Sprintf(`
ip_forward: %v
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    gateway_mode: nat-unprotected
    masquerade: true
    containers:
      web: { address: 172.17.0.2, expose: [80/tcp] }
`, fwd)
	}
	e.apply(cfg(false))
	if got := e.sysctl("net.ipv4.ip_forward"); got != "0" {
		t.Errorf("ip_forward: false, sysctl reads %s", got)
	}
	web := e.C["web"]
	web80 := web.Listen(t, "tcp", 80)
	out := e.ListenOutside(t, "tcp", outsideC, 443)
	gw := e.ListenHost(t, "tcp", gw0, 8080)
	testnet.Expect(t, e.withControls(web.CannotReach(out), e.FromOutside(outsideA).CannotReach(web80), web.Reaches(gw))...)

	e.apply(cfg(true))
	if got := e.sysctl("net.ipv4.ip_forward"); got != "1" {
		t.Errorf("ip_forward: true, sysctl reads %s", got)
	}
	testnet.Expect(t, web.Reaches(out), e.FromOutside(outsideA).Reaches(web80), web.Reaches(gw))
}

const userChainConfig = `
ip_forward: true
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    icc: false
    containers:
      web:   { address: 172.17.0.2 }
      db:    { address: 172.17.0.3, expose: [5432/tcp] }
      cache: { address: 172.17.0.4, expose: [6379/tcp] }
    links:
      - { from: web, to: db }
      - { from: web, to: cache }
`

// TestUserChainRule: a person's drop rule in the user chain blocks a linked
// connection, is neither reported nor removed by plan and apply, and is what
// blocks (deleting it opens the connection again).
func TestUserChainRule(t *testing.T) {
	e := setup(t)
	p := e.file(userChainConfig)
	e.applyFile(p)
	web, db, cache := e.C["web"], e.C["db"], e.C["cache"]
	db5432, cache6379 := db.Listen(t, "tcp", 5432), cache.Listen(t, "tcp", 6379)
	testnet.Expect(t, web.Reaches(db5432), web.Reaches(cache6379))

	e.nft("add", "rule", "inet", "netctl", "user", "ip", "daddr", "172.17.0.3", "tcp", "dport", "5432", "drop")
	testnet.Expect(t, e.withControls(web.CannotReach(db5432), web.Reaches(cache6379))...)
	e.wantPlanClean(p)

	e.applyFile(e.file(userChainConfig))
	rule := regexp.MustCompile(`ip daddr 172\.17\.0\.3 tcp dport 5432 drop # handle (\d+)`)
	m := rule.FindStringSubmatch(e.nft("-a", "list", "chain", "inet", "netctl", "user"))
	if m == nil {
		t.Fatalf("the user rule is gone after a second apply:\n%s", e.nft("-a", "list", "chain", "inet", "netctl", "user"))
	}
	testnet.Expect(t, e.withControls(web.CannotReach(db5432), web.Reaches(cache6379))...)

	e.nft("delete", "rule", "inet", "netctl", "user", "handle", m[1])
	testnet.Expect(t, web.Reaches(db5432), web.Reaches(cache6379))
}

// TestBridgeNetfilterTurnedOn: filtering traffic between containers on one
// bridge needs br_netfilter (net.bridge.bridge-nf-call-iptables=1 in the
// namespace), and netctl must turn it on itself. A fresh namespace already
// has it on, which would hide a netctl that forgets it; so this test turns it
// off in its own host namespace first (the only sysctl the suite writes, and
// only ever to 0, so it cannot mask a bug).
func TestBridgeNetfilterTurnedOn(t *testing.T) {
	e := setup(t)
	nstest.Exec(t, e.Host, "sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=0")
	e.apply(`
ip_forward: true
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    icc: false
    containers:
      web: { address: 172.17.0.2, expose: [80/tcp] }
      db:  { address: 172.17.0.3, expose: [5432/tcp] }
`)
	if got := e.sysctl("net.bridge.bridge-nf-call-iptables"); got != "1" {
		t.Errorf("after apply with icc: false, net.bridge.bridge-nf-call-iptables = %s, want 1", got)
	}
	web, db := e.C["web"], e.C["db"]
	web80, db5432 := web.Listen(t, "tcp", 80), db.Listen(t, "tcp", 5432)
	testnet.Expect(t, e.withControls(web.CannotReach(db5432), db.CannotReach(web80))...)
	// Paired: the same connections with netctl's table gone.
	e.nft("delete", "table", "inet", "netctl")
	testnet.Expect(t, web.Reaches(db5432), db.Reaches(web80))
}
