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

// IPv6 (issue 14): on a dual-stack bridge (address6) every promise holds for
// IPv6 as for IPv4, proven with the same scenarios as semantics_test.go over
// IPv6; on an IPv4-only bridge no IPv6 crosses the firewall at all. Every
// blocked probe has its positive control (withControls6: through the host's
// input and output paths, which netctl's forward chain does not see) and is
// also shown connecting where the restriction is absent.

// Fixed IPv6 addresses.
var (
	gw6       = netip.MustParseAddr("fd00:17::1")
	outside6A = testnet.Outside6A.Addr() // 2001:db8:100::10
	outside6B = testnet.Outside6B.Addr() // 2001:db8:200::20
)

// addr6 gives each named container its IPv6 address, /64 with a default
// route through gw (the bridge's address6; zero: no route).
func (e *env) addr6(gw netip.Addr, addrs map[string]string) {
	e.t.Helper()
	for name, a := range addrs {
		c, ok := e.C[name]
		if !ok {
			e.t.Fatalf("no container %s", name)
		}
		if c.Addr6.IsValid() {
			continue
		}
		c.AddAddr6(e.t, netip.PrefixFrom(netip.MustParseAddr(a), 64), gw)
		e.bridgeLinkLocal(c.Bridge)
	}
}

// bridgeLinkLocal is the kernel's link-local address of a host bridge, once
// duplicate address detection has let go of it: the host solicits
// neighbours for forwarded packets from it.
func (e *env) bridgeLinkLocal(bridge string) netip.Addr {
	e.t.Helper()
	return testnet.WaitLinkLocal(e.t, e.Host, bridge)
}

// withControls6 is withControls for IPv6 probes: each blocked probe's client
// completes a round trip to the host (a container to its bridge's address6,
// or to the bridge's link-local address on an IPv4-only bridge; the outside
// to the host's external address in its subnet), and the host completes one
// to the destination (a link-local one through the bridge).
func (e *env) withControls6(probes ...testnet.Probe) []testnet.Probe {
	e.t.Helper()
	out := append([]testnet.Probe{}, probes...)
	seen := map[string]bool{}
	add := func(p testnet.Probe) {
		if k := p.String(); !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	container := func(ns string) *testnet.Container {
		for _, c := range e.C {
			if c.NS == ns {
				return c
			}
		}
		return nil
	}
	for _, p := range probes {
		if p.Want {
			continue
		}
		switch c := container(p.From.NS); {
		case p.From.NS == e.Outside:
			ext := testnet.HostExt6A.Addr()
			if testnet.HostExt6B.Contains(p.From.Src) {
				ext = testnet.HostExt6B.Addr()
			}
			add(p.From.Reaches(e.hostListener(ext)))
		case c != nil:
			gw := e.gateway6(c)
			ctl := p.From.Reaches(e.hostListener(gw))
			if gw.Zone() != "" {
				ctl.Dst = gw.WithZone("eth0")
			}
			add(ctl)
		}
		if c := container(p.To.NS); c != nil {
			ctl := e.FromHost().Reaches(p.To)
			if p.To.Addr.Zone() != "" {
				ctl.Dst = p.To.Addr.WithZone(c.Bridge)
			}
			add(ctl)
		} else if p.To.NS == e.Outside {
			add(e.FromHost().Reaches(p.To))
		}
	}
	return out
}

// gateway6 is where a container reaches the host over IPv6: its bridge's
// address6, or the bridge's link-local address.
func (e *env) gateway6(c *testnet.Container) netip.Addr {
	e.t.Helper()
	out := nstest.Exec(e.t, e.Host, "ip", "-6", "-o", "addr", "show", "dev", c.Bridge, "scope", "global")
	if m := regexp.MustCompile(`inet6 ([0-9a-f:]+)/`).FindStringSubmatch(out); m != nil {
		return netip.MustParseAddr(m[1])
	}
	return e.bridgeLinkLocal(c.Bridge)
}

// reach sets Want on copies of the probes.
func reach(want bool, ps ...testnet.Probe) []testnet.Probe {
	out := make([]testnet.Probe, len(ps))
	for i, p := range ps {
		p.Want = want
		out[i] = p
	}
	return out
}

// dualStack is docker0 dual-stack with web, db and cache (cache without
// links of its own), icc and the links given.
func dualStack(icc bool, links string) string {
	return fmt.Sprintf(`
ip_forward: true
ip6_forward: true
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    address6: fd00:17::1/64
    icc: %v
    containers:
      web:   { address: 172.17.0.2, address6: "fd00:17::2", expose: [80/tcp] }
      db:    { address: 172.17.0.3, address6: "fd00:17::3", expose: [5432/tcp, 22/tcp, 53/udp] }
      cache: { address: 172.17.0.4, address6: "fd00:17::4", expose: [6379/tcp] }
    links:%s
`, icc, links)
}

const linksWebDBCache = `
      - { from: web, to: db, ports: [5432/tcp, 53/udp] }
      - { from: web, to: cache }`

var dualAddrs = map[string]string{"web": "fd00:17::2", "db": "fd00:17::3", "cache": "fd00:17::4"}

// TestIPv6ICC: on a dual-stack bridge icc: true lets containers talk over
// IPv6 on any port, both ways; icc: false closes exactly those paths, TCP
// and UDP; icc: true opens them again.
func TestIPv6ICC(t *testing.T) {
	e := setup(t)
	e.apply(dualStack(true, " []"))
	e.addr6(gw6, dualAddrs)
	web, db := e.C["web"], e.C["db"]
	web80, db5432, db22, db53 := web.Listen6(t, "tcp", 80), db.Listen6(t, "tcp", 5432), db.Listen6(t, "tcp", 22), db.Listen6(t, "udp", 53)
	between := []testnet.Probe{web.Reaches(db5432), web.Reaches(db22), web.Reaches(db53), db.Reaches(web80)}
	testnet.Expect(t, between...)

	e.apply(dualStack(false, " []"))
	testnet.Expect(t, e.withControls6(reach(false, between...)...)...)
	// IPv4 is closed too, and the gateway answers over both families.
	web80v4, db5432v4 := web.Listen(t, "tcp", 80), db.Listen(t, "tcp", 5432)
	testnet.Expect(t, e.withControls(web.CannotReach(db5432v4), db.CannotReach(web80v4))...)

	e.apply(dualStack(true, " []"))
	testnet.Expect(t, between...)
	testnet.Expect(t, web.Reaches(db5432v4), db.Reaches(web80v4))
}

// TestIPv6Links: one link opens the same ports over IPv6 as over IPv4,
// exactly those, in its direction only; a link without ports opens every
// port its target exposes. With icc: true first, every one of those
// connections works.
func TestIPv6Links(t *testing.T) {
	e := setup(t)
	e.apply(dualStack(true, linksWebDBCache))
	e.addr6(gw6, dualAddrs)
	web, db, cache := e.C["web"], e.C["db"], e.C["cache"]
	web80 := web.Listen6(t, "tcp", 80)
	db5432, db22 := db.Listen6(t, "tcp", 5432), db.Listen6(t, "tcp", 22)
	db53u, db53t := db.Listen6(t, "udp", 53), db.Listen6(t, "tcp", 53)
	cache6379, cache6380 := cache.Listen6(t, "tcp", 6379), cache.Listen6(t, "tcp", 6380)
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
	testnet.Expect(t, append(append([]testnet.Probe{}, opened...), reach(true, closed...)...)...)

	e.apply(dualStack(false, linksWebDBCache))
	testnet.Expect(t, e.withControls6(append(opened, closed...)...)...)
	// The same link over IPv4, for comparison: the same ports open.
	db5432v4, db22v4 := db.Listen(t, "tcp", 5432), db.Listen(t, "tcp", 22)
	testnet.Expect(t, e.withControls(web.Reaches(db5432v4), web.CannotReach(db22v4))...)
}

// TestIPv6LinksWithFreshNeighbourCache: with icc: false, neighbour
// discovery between the containers passes (netctl accepts neighbour
// solicitation and advertisement before the icc drop), so a link over IPv6
// works with an empty neighbour cache, as after the cache expires. Bridged
// NS/NA do meet the inet forward hook through br_netfilter: without the two
// accepts (deleted by hand) the same link dies once the cache is empty,
// which is the positive control of the rules' effect.
func TestIPv6LinksWithFreshNeighbourCache(t *testing.T) {
	e := setup(t)
	e.apply(dualStack(false, linksWebDBCache))
	e.addr6(gw6, dualAddrs)
	web, db := e.C["web"], e.C["db"]
	db5432, db53u, db22 := db.Listen6(t, "tcp", 5432), db.Listen6(t, "udp", 53), db.Listen6(t, "tcp", 22)
	flush := func() {
		testnet.FlushNeighbours(t, web.NS, db.NS, e.Host)
		e.Changed("neighbour caches flushed")
	}
	for i := 0; i < 2; i++ {
		flush()
		testnet.Expect(t, e.withControls6(web.Reaches(db5432), web.Reaches(db53u), web.CannotReach(db22))...)
	}
	neigh := nstest.Exec(t, web.NS, "ip", "-6", "neigh", "show", "fd00:17::3")
	if !strings.Contains(neigh, "lladdr") {
		t.Errorf("web has no neighbour entry for db after the link worked: %q", neigh)
	}

	// Without the neighbour discovery accepts, a fresh cache kills the link.
	for _, typ := range []string{"nd-neighbor-solicit", "nd-neighbor-advert"} {
		h := regexp.MustCompile(`comment "bridge\.docker0\.icc\.` + typ + `" # handle (\d+)`).FindStringSubmatch(e.nft("-a", "list", "chain", "inet", "netctl", "filter-forward"))
		if h == nil {
			t.Fatalf("no %s rule", typ)
		}
		e.nft("delete", "rule", "inet", "netctl", "filter-forward", "handle", h[1])
	}
	flush()
	testnet.Expect(t, e.withControls6(web.CannotReach(db5432), web.CannotReach(db53u))...)
	p := e.file(dualStack(false, linksWebDBCache))
	e.applyFile(p)
	flush()
	testnet.Expect(t, web.Reaches(db5432), web.Reaches(db53u))
	e.wantPlanClean(p)
}

// TestIPv6LinkRemovedAndRestored: removing a link closes it over IPv6 to new
// connections, adding it back opens it; an established IPv6 connection of
// another link keeps working throughout.
func TestIPv6LinkRemovedAndRestored(t *testing.T) {
	e := setup(t)
	both := dualStack(false, `
      - { from: web, to: db, ports: [5432/tcp] }
      - { from: web, to: cache }`)
	cacheOnly := strings.Replace(both, "      - { from: web, to: db, ports: [5432/tcp] }\n", "", 1)
	if cacheOnly == both {
		t.Fatal("test bug: link line not removed")
	}
	p1 := e.file(both)
	e.applyFile(p1)
	e.addr6(gw6, dualAddrs)
	web, db, cache := e.C["web"], e.C["db"], e.C["cache"]
	db5432, cache6379 := db.Listen6(t, "tcp", 5432), cache.Listen6(t, "tcp", 6379)
	long, err := testnet.Open(t, web.NS, netip.Addr{}, "tcp", cache.Addr6, 6379, testnet.DefaultTimeout)
	if err != nil {
		t.Fatalf("open web → cache [%s]:6379: %v", cache.Addr6, err)
	}
	ping := func(when string) {
		t.Helper()
		if err := long.Ping(testnet.DefaultTimeout); err != nil {
			t.Errorf("established web → cache:6379 over IPv6 %s: %v", when, err)
		}
	}
	testnet.Expect(t, web.Reaches(db5432), web.Reaches(cache6379))
	e.wantPlanClean(p1)

	p2 := e.file(cacheOnly)
	e.applyFile(p2)
	ping("after removing the web → db link")
	testnet.Expect(t, e.withControls6(web.CannotReach(db5432), web.Reaches(cache6379))...)
	e.wantPlanClean(p2)

	e.applyFile(e.file(both))
	ping("after adding the web → db link back")
	testnet.Expect(t, web.Reaches(db5432), web.Reaches(cache6379))
	e.wantPlanClean(p1)
}

// outsideConfig is the one place the outside → container tests' file is
// written: they route straight to the containers' addresses, which
// gateway_mode nat (the default) drops, so nat-unprotected.
func outsideConfig(sources string, dualStack bool) string {
	a6, c6 := "", ""
	if dualStack {
		a6, c6 = "\n    address6: fd00:17::1/64", `, address6: "fd00:17::2"`
	}
	return fmt.Sprintf(`
ip_forward: true
ip6_forward: true
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16%s
    masquerade: false
    gateway_mode: nat-unprotected
    external_interface: eth0
    allowed_sources: %s
    containers:
      web: { address: 172.17.0.2%s, expose: [80/tcp, 53/udp] }
`, a6, sources, c6)
}

// TestIPv6AllowedSources: allowed_sources restricts IPv6 sources as it
// restricts IPv4 ones, each family by its own entries; a list of one family
// admits no source of the other. The host forwards IPv6 (ip6_forward).
func TestIPv6AllowedSources(t *testing.T) {
	e := setup(t)
	e.AddOutside6(t)
	e.apply(outsideConfig("[]", true))
	if got := e.sysctl("net.ipv6.conf.all.forwarding"); got != "1" {
		t.Errorf("ip6_forward: true, sysctl reads %s", got)
	}
	e.addr6(gw6, map[string]string{"web": "fd00:17::2"})
	web := e.C["web"]
	web80, web53 := web.Listen6(t, "tcp", 80), web.Listen6(t, "udp", 53)
	web80v4 := web.Listen(t, "tcp", 80)
	fromA, fromB := e.FromOutside(outside6A), e.FromOutside(outside6B)
	outB := e.ListenOutside(t, "tcp", outside6B, 443)
	testnet.Expect(t, fromA.Reaches(web80), fromA.Reaches(web53), fromB.Reaches(web80), fromB.Reaches(web53), web.Reaches(outB),
		e.FromOutside(outsideB).Reaches(web80v4))

	e.apply(outsideConfig("[198.51.100.10, 2001:db8:100::/48]", true))
	testnet.Expect(t, e.withControls6(
		fromA.Reaches(web80), fromA.Reaches(web53),
		fromB.CannotReach(web80), fromB.CannotReach(web53),
		web.Reaches(outB), // B may not open, but may answer
	)...)
	testnet.Expect(t, e.withControls(e.FromOutside(outsideA).Reaches(web80v4), e.FromOutside(outsideB).CannotReach(web80v4))...)

	// IPv4 entries only: no IPv6 source is admitted.
	e.apply(outsideConfig("[198.51.100.10]", true))
	testnet.Expect(t, e.withControls6(fromA.CannotReach(web80), fromB.CannotReach(web80))...)
	testnet.Expect(t, e.FromOutside(outsideA).Reaches(web80v4))

	// IPv6 entries only: the IPv6 source is admitted, no IPv4 one.
	e.apply(outsideConfig("[2001:db8:200::/48]", true))
	testnet.Expect(t, e.withControls6(fromB.Reaches(web80), fromA.CannotReach(web80))...)
	testnet.Expect(t, e.withControls(e.FromOutside(outsideA).CannotReach(web80v4))...)
}

// TestIPv6TwoBridgesIsolated: containers on two dual-stack bridges cannot
// reach each other over IPv6 although the host forwards it (they can with
// the firewall off); each reaches its own gateway over IPv6.
func TestIPv6TwoBridgesIsolated(t *testing.T) {
	e := setup(t)
	cfg := func(firewall bool) string {
		return fmt.Sprintf(`
ip_forward: true
ip6_forward: true
firewall: %v
bridges:
  docker0:
    address: 172.17.0.1/16
    address6: fd00:17::1/64
    containers:
      web: { address: 172.17.0.2, address6: "fd00:17::2", expose: [80/tcp] }
  br-app:
    address: 172.18.0.1/16
    address6: fd00:18::1/64
    containers:
      api: { address: 172.18.0.2, address6: "fd00:18::2", expose: [8000/tcp, 53/udp] }
`, firewall)
	}
	e.apply(cfg(false))
	e.addr6(gw6, map[string]string{"web": "fd00:17::2"})
	e.addr6(netip.MustParseAddr("fd00:18::1"), map[string]string{"api": "fd00:18::2"})
	web, api := e.C["web"], e.C["api"]
	web80, api8000, api53 := web.Listen6(t, "tcp", 80), api.Listen6(t, "tcp", 8000), api.Listen6(t, "udp", 53)
	between := []testnet.Probe{web.Reaches(api8000), web.Reaches(api53), api.Reaches(web80)}
	testnet.Expect(t, between...)

	e.apply(cfg(true))
	gwWeb, gwAPI := e.ListenHost(t, "tcp", gw6, 8080), e.ListenHost(t, "tcp", netip.MustParseAddr("fd00:18::1"), 8080)
	testnet.Expect(t, e.withControls6(append(reach(false, between...), web.Reaches(gwWeb), api.Reaches(gwAPI))...)...)
}

// TestIPv6FirewallOff: firewall: false writes no firewall, and containers
// reach each other over IPv6 on every port; firewall: true with icc: false
// blocks the same connections.
func TestIPv6FirewallOff(t *testing.T) {
	e := setup(t)
	cfg := func(firewall bool) string {
		icc := "\n    icc: false"
		if !firewall {
			icc = ""
		}
		return fmt.Sprintf(`
ip_forward: true
firewall: %v
bridges:
  docker0:
    address: 172.17.0.1/16
    address6: fd00:17::1/64%s
    containers:
      web: { address: 172.17.0.2, address6: "fd00:17::2", expose: [80/tcp] }
      db:  { address: 172.17.0.3, address6: "fd00:17::3", expose: [5432/tcp, 53/udp] }
`, firewall, icc)
	}
	e.apply(cfg(true))
	e.addr6(gw6, map[string]string{"web": "fd00:17::2", "db": "fd00:17::3"})
	web, db := e.C["web"], e.C["db"]
	web80, db5432, db53 := web.Listen6(t, "tcp", 80), db.Listen6(t, "tcp", 5432), db.Listen6(t, "udp", 53)
	between := []testnet.Probe{web.Reaches(db5432), web.Reaches(db53), db.Reaches(web80)}
	testnet.Expect(t, e.withControls6(reach(false, between...)...)...)

	e.apply(cfg(false))
	if e.hasTable() {
		t.Errorf("firewall: false but the inet netctl table is still there")
	}
	if got := strings.TrimSpace(nstest.Exec(t, e.Host, "ip", "-6", "-o", "addr", "show", "dev", "docker0", "scope", "global")); !strings.Contains(got, "fd00:17::1/64") {
		t.Errorf("firewall: false: docker0 lost its address6: %q", got)
	}
	testnet.Expect(t, between...)
}

// TestIPv6UserChainRule: a person's IPv6 drop rule in the user chain blocks
// a linked IPv6 connection, survives apply, and is what blocks.
func TestIPv6UserChainRule(t *testing.T) {
	e := setup(t)
	cfg := dualStack(false, `
      - { from: web, to: db, ports: [5432/tcp] }
      - { from: web, to: cache }`)
	p := e.file(cfg)
	e.applyFile(p)
	e.addr6(gw6, dualAddrs)
	web, db, cache := e.C["web"], e.C["db"], e.C["cache"]
	db5432, cache6379 := db.Listen6(t, "tcp", 5432), cache.Listen6(t, "tcp", 6379)
	testnet.Expect(t, web.Reaches(db5432), web.Reaches(cache6379))

	e.nft("add", "rule", "inet", "netctl", "user", "ip6", "daddr", "fd00:17::3", "tcp", "dport", "5432", "drop")
	testnet.Expect(t, e.withControls6(web.CannotReach(db5432), web.Reaches(cache6379))...)
	e.wantPlanClean(p)
	e.applyFile(e.file(cfg))
	rule := regexp.MustCompile(`ip6 daddr fd00:17::3 tcp dport 5432 drop # handle (\d+)`)
	m := rule.FindStringSubmatch(e.nft("-a", "list", "chain", "inet", "netctl", "user"))
	if m == nil {
		t.Fatalf("the user rule is gone after a second apply:\n%s", e.nft("-a", "list", "chain", "inet", "netctl", "user"))
	}
	testnet.Expect(t, e.withControls6(web.CannotReach(db5432), web.Reaches(cache6379))...)
	e.nft("delete", "rule", "inet", "netctl", "user", "handle", m[1])
	testnet.Expect(t, web.Reaches(db5432), web.Reaches(cache6379))
}

// TestIPv6DriftRepaired: an IPv6 link element deleted by hand closes the
// link over IPv6 (not over IPv4); plan shows it, apply puts it back and the
// link works again. The bridge's address6 deleted by hand is drift too.
func TestIPv6DriftRepaired(t *testing.T) {
	e := setup(t)
	p := e.file(dualStack(false, linksWebDBCache))
	e.applyFile(p)
	e.addr6(gw6, dualAddrs)
	web, db := e.C["web"], e.C["db"]
	db5432, db5432v4 := db.Listen6(t, "tcp", 5432), db.Listen(t, "tcp", 5432)
	testnet.Expect(t, web.Reaches(db5432), web.Reaches(db5432v4))

	e.nft("delete", "element", "inet", "netctl", "links6", "{ fd00:17::2 . fd00:17::3 . tcp . 5432 }")
	testnet.Expect(t, e.withControls6(web.CannotReach(db5432))...)
	testnet.Expect(t, web.Reaches(db5432v4))
	out, code := e.plan(p)
	if code != 2 || !strings.Contains(out, "bridge.docker0.link.web->db") {
		t.Errorf("plan after deleting the IPv6 link element exited %d, want 2 naming the link:\n%s", code, out)
	}
	e.applyFile(p)
	testnet.Expect(t, web.Reaches(db5432))
	e.wantPlanClean(p)

	nstest.Run(t, "ip", "-n", e.Host, "-6", "addr", "del", "fd00:17::1/64", "dev", "docker0")
	e.Changed("address6 deleted")
	out, code = e.plan(p)
	if code != 2 || !strings.Contains(out, "bridge.docker0 will be updated") || !strings.Contains(out, "fd00:17::1/64") {
		t.Errorf("plan after deleting address6 exited %d, want 2 naming it:\n%s", code, out)
	}
	e.applyFile(p)
	e.wantPlanClean(p)
	gw := e.ListenHost(t, "tcp", gw6, 8080)
	testnet.Expect(t, web.Reaches(gw), web.Reaches(db5432))
}

// v4OnlyConfig is an IPv4-only bridge: docker0 without address6.
func v4OnlyConfig(firewall, icc bool) string {
	iccLine := ""
	if !icc {
		iccLine = "\n    icc: false"
	}
	return fmt.Sprintf(`
ip_forward: true
ip6_forward: true
firewall: %v
bridges:
  docker0:
    address: 172.17.0.1/16%s
    containers:
      web: { address: 172.17.0.2, expose: [80/tcp] }
      db:  { address: 172.17.0.3, expose: [5432/tcp] }
`, firewall, iccLine)
}

// TestIPv4OnlyBridgeCarriesNoIPv6: the leak is closed. Containers of an
// IPv4-only bridge given link-local and global IPv6 addresses by hand talk
// over IPv6 while netctl writes no firewall (the positive control: same
// containers, addresses, listeners and path); with the firewall, icc: false
// or true, they cannot, TCP or UDP, while IPv4 follows icc.
func TestIPv4OnlyBridgeCarriesNoIPv6(t *testing.T) {
	e := setup(t)
	// A route by hand so that the host reaches the hand-made addresses
	// (through its output path) for the positive controls.
	e.apply(v4OnlyConfig(false, true))
	nstest.Run(t, "ip", "-n", e.Host, "-6", "route", "add", "2001:db8:1::/64", "dev", "docker0")
	web, db := e.C["web"], e.C["db"]
	web.AddAddr6(t, netip.MustParsePrefix("2001:db8:1::2/64"), netip.Addr{})
	db.AddAddr6(t, netip.MustParsePrefix("2001:db8:1::3/64"), netip.Addr{})
	for c, host := range map[*testnet.Container]string{web: "2", db: "3"} {
		c.AddAddr6(t, netip.MustParsePrefix("fe80::"+host+"/64"), netip.Addr{})
	}
	local := netip.MustParseAddr("fe80::3").WithZone("eth0")
	var ipv6 []testnet.Probe
	for _, proto := range []string{"tcp", "udp"} {
		ipv6 = append(ipv6,
			web.Reaches(db.ListenAt(t, proto, db.Addr6, 5432)),
			web.Reaches(db.ListenAt(t, proto, local, 5433)))
	}
	web80v4, db5432v4 := web.Listen(t, "tcp", 80), db.Listen(t, "tcp", 5432)
	testnet.Expect(t, append(ipv6, web.Reaches(db5432v4), db.Reaches(web80v4))...)

	for _, icc := range []bool{false, true} {
		p := e.file(v4OnlyConfig(true, icc))
		// The plan says that IPv6 will be dropped when it brings the drop
		// in (the first time), and not once it is there.
		out, code := e.plan(p)
		said := strings.Contains(out, "bridge.docker0 has no address6: netctl's table will drop all IPv6")
		if code != 2 || said != !icc {
			t.Errorf("icc %v: plan exited %d (want 2), says IPv6 will be dropped: %v (want %v):\n%s", icc, code, said, !icc, out)
		}
		e.applyFile(p)
		if got := e.sysctl("net.bridge.bridge-nf-call-ip6tables"); got != "1" {
			t.Errorf("icc %v: net.bridge.bridge-nf-call-ip6tables = %s, want 1", icc, got)
		}
		testnet.Expect(t, e.withControls6(reach(false, ipv6...)...)...)
		v4 := reach(icc, web.Reaches(db5432v4), db.Reaches(web80v4))
		if icc {
			testnet.Expect(t, v4...)
		} else {
			testnet.Expect(t, e.withControls(v4...)...)
		}
		e.wantPlanClean(p)
	}

	// Paired: the same IPv6 connections with netctl's table gone.
	e.nft("delete", "table", "inet", "netctl")
	testnet.Expect(t, ipv6...)
}

// TestIPv4OnlyBridgeOutsideIPv6: when the host forwards IPv6, an outside
// host cannot reach a container of an IPv4-only bridge over IPv6 (it can
// with the firewall off: the positive control), nor the container the
// outside; the same outside host reaches the container over IPv4 when it is
// an allowed source.
func TestIPv4OnlyBridgeOutsideIPv6(t *testing.T) {
	e := setup(t)
	e.AddOutside6(t)
	cfg := func(firewall bool) string {
		// Routed straight to the container: gateway_mode nat-unprotected.
		sources := "\n    allowed_sources: [198.51.100.10]\n    gateway_mode: nat-unprotected"
		if !firewall {
			sources = "\n    masquerade: false"
		}
		return fmt.Sprintf(`
ip_forward: true
ip6_forward: true
firewall: %v
bridges:
  docker0:
    address: 172.17.0.1/16%s
    containers:
      web: { address: 172.17.0.2, expose: [80/tcp] }
`, firewall, sources)
	}
	e.apply(cfg(false))
	if got := e.sysctl("net.ipv6.conf.all.forwarding"); got != "1" {
		t.Fatalf("ip6_forward: true, sysctl reads %s", got)
	}
	web := e.C["web"]
	// A global address by hand, routed by the host (as a runtime that
	// configures IPv6 behind netctl's back would).
	nstest.Run(t, "ip", "-n", e.Host, "-6", "route", "add", "2001:db8:1::/64", "dev", "docker0")
	gwLL := e.bridgeLinkLocal("docker0")
	web.AddAddr6(t, netip.MustParsePrefix("2001:db8:1::2/64"), gwLL.WithZone(""))
	web80, web53 := web.Listen6(t, "tcp", 80), web.Listen6(t, "udp", 53)
	web80v4 := web.Listen(t, "tcp", 80)
	out := e.ListenOutside(t, "tcp", outside6A, 443)
	fromA := e.FromOutside(outside6A)
	probes := []testnet.Probe{fromA.Reaches(web80), fromA.Reaches(web53), web.Reaches(out)}
	testnet.Expect(t, probes...)

	e.apply(cfg(true))
	testnet.Expect(t, e.withControls6(reach(false, probes...)...)...)
	testnet.Expect(t, e.withControls(e.FromOutside(outsideA).Reaches(web80v4), e.FromOutside(outsideB).CannotReach(web80v4))...)
}

func init() { exampleChecks["dual-stack.yaml"] = checkDualStackExample }

// checkDualStackExample proves the header of examples/dual-stack.yaml.
func checkDualStackExample(t *testing.T, e *env) []testnet.Probe {
	e.wantBridge("docker0", "172.17.0.1/16", 0)
	e.wantBridge("br-v4", "10.10.0.1/24", 0)
	e.wantSysctl("net.ipv4.ip_forward", "1")
	e.wantSysctl("net.ipv6.conf.all.forwarding", "1")
	if out := nstest.Run(t, "ip", "-n", e.Host, "-6", "addr", "show", "dev", "docker0"); !strings.Contains(out, "inet6 fd00:17::1/64 scope global") {
		t.Errorf("docker0 lacks fd00:17::1/64:\n%s", out)
	}
	e.AddOutside6(t)
	e.addr6(gw6, map[string]string{"web": "fd00:17::2", "db": "fd00:17::3"})
	web, db, app, worker := e.C["web"], e.C["db"], e.C["app"], e.C["worker"]
	// br-v4's containers with IPv6 by hand: link-local, and a global
	// address the host routes (a runtime configuring IPv6 behind netctl).
	nstest.Run(t, "ip", "-n", e.Host, "-6", "route", "add", "2001:db8:1::/64", "dev", "br-v4")
	app.AddAddr6(t, netip.MustParsePrefix("2001:db8:1::a/64"), e.bridgeLinkLocal("br-v4").WithZone(""))
	app.AddAddr6(t, netip.MustParsePrefix("fe80::a/64"), netip.Addr{})
	worker.AddAddr6(t, netip.MustParsePrefix("fe80::b/64"), netip.Addr{})

	var blocked []testnet.Probe
	// The link, over both families; nothing else between web and db.
	db5432v4, db22v4, web80v4 := db.Listen(t, "tcp", 5432), db.Listen(t, "tcp", 22), web.Listen(t, "tcp", 80)
	db5432, db22, web80 := db.Listen6(t, "tcp", 5432), db.Listen6(t, "tcp", 22), web.Listen6(t, "tcp", 80)
	inBridge := []testnet.Probe{web.CannotReach(db22v4), db.CannotReach(web80v4), web.CannotReach(db22), db.CannotReach(web80)}
	testnet.Expect(t, web.Reaches(db5432v4), web.Reaches(db5432))
	testnet.Expect(t, e.withControls(inBridge[:2]...)...)
	testnet.Expect(t, e.withControls6(inBridge[2:]...)...)
	blocked = append(blocked, inBridge...)
	// Neighbour discovery passes: the link works with fresh caches.
	testnet.FlushNeighbours(t, web.NS, db.NS)
	e.Changed("neighbour caches flushed")
	testnet.Expect(t, web.Reaches(db5432))

	// Sources, per family.
	web80o := web.Listen6(t, "udp", 53)
	src := []testnet.Probe{e.FromOutside(outsideB).CannotReach(web80v4), e.FromOutside(outside6B).CannotReach(web80), e.FromOutside(outside6B).CannotReach(web80o)}
	testnet.Expect(t, e.FromOutside(outsideA).Reaches(web80v4), e.FromOutside(outside6A).Reaches(web80), e.FromOutside(outside6A).Reaches(web80o))
	testnet.Expect(t, e.withControls(src[0])...)
	testnet.Expect(t, e.withControls6(src[1:]...)...)
	blocked = append(blocked, src...)
	checkDualStackPublication(t, e, web80v4, web80)

	// No NAT66; IPv4 masqueraded.
	out6, out4 := e.ListenOutside(t, "tcp", outside6A, 443), e.ListenOutside(t, "tcp", outsideC, 443)
	testnet.Expect(t, web.Reaches(out6), web.Reaches(out4))
	wantPeers(t, out6, web.Addr6)
	wantPeers(t, out4, hostExtB)

	// br-v4: IPv4 between its containers, no IPv6 at all; nothing between
	// the bridges.
	worker80v4 := worker.Listen(t, "tcp", 80)
	testnet.Expect(t, app.Reaches(worker80v4))
	ll := netip.MustParseAddr("fe80::b").WithZone("eth0")
	app6 := app.Listen6(t, "tcp", 8080)
	v6 := []testnet.Probe{
		app.CannotReach(worker.ListenAt(t, "tcp", ll, 81)), app.CannotReach(worker.ListenAt(t, "udp", ll, 53)),
		app.CannotReach(web80), web.CannotReach(app6), e.FromOutside(outside6A).CannotReach(app6),
	}
	testnet.Expect(t, e.withControls6(v6...)...)
	app8080v4 := app.Listen(t, "tcp", 8080)
	across := []testnet.Probe{web.CannotReach(app8080v4), app.CannotReach(web80v4)}
	testnet.Expect(t, e.withControls(across...)...)
	blocked = append(append(blocked, v6...), across...)
	return blocked
}
