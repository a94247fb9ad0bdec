package e2e

import (
	"net/netip"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
)

// exampleChecks maps each examples/*.yaml file to the connections that prove
// what its header comment promises. The file has been applied (and its
// containers attached) when the check runs. A check returns the probes it
// asserted blocked; TestExamples then deletes netctl's table and requires
// every one of them to connect, proving that netctl's firewall was what
// blocked them. An example without an entry fails TestExamples: a new
// example is not done until its promises are checked here.
var exampleChecks = map[string]func(t *testing.T, e *env) (blocked []testnet.Probe){
	"default-bridge.yaml": func(t *testing.T, e *env) []testnet.Probe {
		e.wantBridge("docker0", "172.17.0.1/16", 1500)
		e.wantSysctl("net.ipv4.ip_forward", "1")
		web, db := e.C["web"], e.C["db"]
		// Every port, TCP and UDP, both ways: exposed or not.
		web80, web8080, web53 := web.Listen(t, "tcp", 80), web.Listen(t, "tcp", 8080), web.Listen(t, "udp", 53)
		db5432, db22, db53 := db.Listen(t, "tcp", 5432), db.Listen(t, "tcp", 22), db.Listen(t, "udp", 53)
		gw := e.ListenHost(t, "tcp", gw0, 8080)
		outC, outA := e.ListenOutside(t, "tcp", outsideC, 443), e.ListenOutside(t, "udp", outsideA, 53)
		testnet.Expect(t,
			web.Reaches(db5432), web.Reaches(db22), web.Reaches(db53),
			db.Reaches(web80), db.Reaches(web8080), db.Reaches(web53),
			web.Reaches(gw), db.Reaches(gw),
			web.Reaches(outC), db.Reaches(outC), web.Reaches(outA), db.Reaches(outA),
		)
		wantPeers(t, outC, hostExtB)
		wantPeers(t, outA, hostExtA)
		// Outside hosts (whose default route is this host) open connections
		// to any port of the containers, from any source.
		testnet.Expect(t,
			e.FromOutside(outsideA).Reaches(web80), e.FromOutside(outsideB).Reaches(web8080),
			e.FromOutside(outsideC).Reaches(db22), e.FromOutside(outsideC).Reaches(db53),
		)
		return nil
	},
	"icc-links.yaml": func(t *testing.T, e *env) []testnet.Probe {
		e.wantBridge("docker0", "172.17.0.1/16", 0)
		e.wantSysctl("net.ipv4.ip_forward", "1")
		web, db, dns, cache := e.C["web"], e.C["db"], e.C["dns"], e.C["cache"]
		web80 := web.Listen(t, "tcp", 80)
		db5432, db22 := db.Listen(t, "tcp", 5432), db.Listen(t, "tcp", 22)
		dns53u, dns53t := dns.Listen(t, "udp", 53), dns.Listen(t, "tcp", 53)
		cache6379, cache6380 := cache.Listen(t, "tcp", 6379), cache.Listen(t, "tcp", 6380)
		gw := e.ListenHost(t, "tcp", gw0, 8080)
		out := e.ListenOutside(t, "tcp", outsideC, 443)
		testnet.Expect(t, web.Reaches(db5432), web.Reaches(dns53u), web.Reaches(cache6379))
		blocked := []testnet.Probe{
			web.CannotReach(db22), web.CannotReach(dns53t), web.CannotReach(cache6380),
		}
		others := map[string]*testnet.Container{"db": db, "dns": dns, "cache": cache}
		targets := map[string][]*testnet.Listener{"db": {db5432, db22}, "dns": {dns53u, dns53t}, "cache": {cache6379}}
		for _, from := range []string{"db", "dns", "cache"} {
			blocked = append(blocked, others[from].CannotReach(web80))
			for _, to := range []string{"db", "dns", "cache"} {
				if to != from {
					for _, l := range targets[to] {
						blocked = append(blocked, others[from].CannotReach(l))
					}
				}
			}
		}
		testnet.Expect(t, e.withControls(blocked...)...)
		var up []testnet.Probe
		for _, c := range []*testnet.Container{web, db, dns, cache} {
			up = append(up, c.Reaches(gw), c.Reaches(out))
		}
		testnet.Expect(t, up...)
		wantPeers(t, out, hostExtB)
		return blocked
	},
	"source-restriction.yaml": func(t *testing.T, e *env) []testnet.Probe {
		e.wantSysctl("net.ipv4.ip_forward", "1")
		web := e.C["web"]
		web80, web53, web8081 := web.Listen(t, "tcp", 80), web.Listen(t, "udp", 53), web.Listen(t, "tcp", 8081)
		fromA, fromB, fromC := e.FromOutside(outsideA), e.FromOutside(outsideB), e.FromOutside(outsideC)
		testnet.Expect(t, fromA.Reaches(web80), fromA.Reaches(web53), fromA.Reaches(web8081))
		blocked := []testnet.Probe{
			fromB.CannotReach(web80), fromB.CannotReach(web53),
			fromC.CannotReach(web80), fromC.CannotReach(web53),
		}
		testnet.Expect(t, e.withControls(blocked...)...)
		outA, outB, outC := e.ListenOutside(t, "tcp", outsideA, 443), e.ListenOutside(t, "tcp", outsideB, 443), e.ListenOutside(t, "udp", outsideC, 53)
		testnet.Expect(t, web.Reaches(outA), web.Reaches(outB), web.Reaches(outC))
		wantPeers(t, outA, hostExtA)
		wantPeers(t, outB, hostExtA)
		wantPeers(t, outC, hostExtB)
		// Not restricted: the host itself.
		testnet.Expect(t, e.FromHost().Reaches(web80), e.FromHost().Reaches(web53))
		return blocked
	},
	"published-ports.yaml": func(t *testing.T, e *env) []testnet.Probe {
		e.wantSysctl("net.ipv4.ip_forward", "1")
		e.wantSysctl("net.ipv4.conf.docker0.route_localnet", "1")
		web, client := e.C["web"], e.C["client"]
		l80, l81, l5432, l53 := web.Listen(t, "tcp", 80), web.Listen(t, "tcp", 81), web.Listen(t, "tcp", 5432), web.Listen(t, "udp", 53)
		l8000, l8010, l443 := web.Listen(t, "tcp", 8000), web.Listen(t, "tcp", 8010), web.Listen(t, "tcp", 443)
		outA, outB, outC := e.FromOutside(outsideA), e.FromOutside(outsideB), e.FromOutside(outsideC)
		host := e.FromHost()
		testnet.Expect(t, via(outA, l80, hostExtA, 8080, true))
		wantPeer(t, l80, outsideA)
		testnet.Expect(t, via(outB, l80, hostExtB, 8080, true))
		wantPeer(t, l80, outsideB)
		e.RouteOutside(t, netip.MustParsePrefix("172.17.0.0/16"))
		direct := []testnet.Probe{outA.CannotReach(l80), outA.CannotReach(l81), client.CannotReach(l81), client.CannotReach(l80)}
		testnet.Expect(t, e.withControls(direct...)...)
		testnet.Expect(t,
			via(host, l80, loopback, 8080, true), via(host, l5432, loopback, 5432, true),
			via(outA, l5432, hostExtA, 5432, false), via(outA, l80, hostExtA, 8080, true),
			via(outA, l53, hostExtA, 53, true), via(outC, l53, hostExtB, 53, false), via(outC, l80, hostExtB, 8080, true),
			via(outA, l8000, hostExtA, 8000, true), via(outA, l8010, hostExtA, 8010, true),
			via(outB, l443, hostExtA, 8443, true), via(outA, l443, hostExtA, 8443, false),
			via(client.Client(), l80, hostExtA, 8080, true), via(client.Client(), l80, gw0, 8080, true),
			via(web.Client(), l80, hostExtA, 8080, true),
		)
		wantPeer(t, l443, outsideB)
		// Without netctl's table the direct connections work: the
		// firewall was what blocked them.
		return direct
	},
	"two-bridges.yaml": func(t *testing.T, e *env) []testnet.Probe {
		e.wantBridge("docker0", "172.17.0.1/16", 0)
		e.wantBridge("br-app", "172.18.0.1/16", 0)
		e.wantSysctl("net.ipv4.ip_forward", "1")
		web, api := e.C["web"], e.C["api"]
		web80, web22 := web.Listen(t, "tcp", 80), web.Listen(t, "tcp", 22)
		api8080, api53 := api.Listen(t, "tcp", 8080), api.Listen(t, "udp", 53)
		blocked := []testnet.Probe{
			web.CannotReach(api8080), web.CannotReach(api53),
			api.CannotReach(web80), api.CannotReach(web22),
		}
		testnet.Expect(t, e.withControls(blocked...)...)
		gwWeb := e.ListenHost(t, "tcp", gw0, 8080)
		gwAPI := e.ListenHost(t, "tcp", netip.MustParseAddr("172.18.0.1"), 8080)
		hostExt := e.ListenHost(t, "tcp", hostExtA, 8080)
		out := e.ListenOutside(t, "tcp", outsideC, 443)
		testnet.Expect(t,
			web.Reaches(gwWeb), api.Reaches(gwAPI),
			web.Reaches(out), api.Reaches(out),
			// The host itself, at any of its addresses.
			web.Reaches(gwAPI), api.Reaches(gwWeb), web.Reaches(hostExt), api.Reaches(hostExt),
		)
		wantPeers(t, out, hostExtB)
		return blocked
	},
}

// wantPeers checks that the listener saw connections, all from want.
func wantPeers(t *testing.T, l *testnet.Listener, want netip.Addr) {
	t.Helper()
	got := l.Peers()
	if len(got) == 0 {
		t.Errorf("%s saw nothing", l)
	}
	for _, g := range got {
		if g != want {
			t.Errorf("%s saw source %s, want %s", l, g, want)
		}
	}
}

// wantBridge checks a bridge of the host: its address, up, and MTU (0: any).
func (e *env) wantBridge(name, addr string, mtu int) {
	e.t.Helper()
	out := nstest.Run(e.t, "ip", "-n", e.Host, "-d", "addr", "show", "dev", name)
	if !strings.Contains(out, "bridge") || !strings.Contains(out, "inet "+addr+" ") {
		e.t.Errorf("%s is not a bridge with %s:\n%s", name, addr, out)
	}
	flags := out[strings.Index(out, "<"):strings.Index(out, ">")]
	if !strings.Contains(flags+",", ",UP,") && !strings.Contains(flags, "<UP,") {
		e.t.Errorf("%s is not up:\n%s", name, out)
	}
	if mtu != 0 && !strings.Contains(out, " mtu "+strconv.Itoa(mtu)+" ") {
		e.t.Errorf("%s has not MTU %d:\n%s", name, mtu, out)
	}
}

// wantSysctl checks a sysctl of the host namespace.
func (e *env) wantSysctl(key, want string) {
	e.t.Helper()
	if got := e.sysctl(key); got != want {
		e.t.Errorf("%s = %s, want %s", key, got, want)
	}
}

// TestExamples applies every example in its own namespaces and checks its
// promises with connections; afterwards plan must report no changes.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Errorf("no examples/*.yaml found under %s", repoRoot)
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			check, ok := exampleChecks[name]
			if !ok {
				t.Errorf("examples/%s has no checks: add an entry to exampleChecks in e2e/examples_test.go proving its header comment", name)
				return
			}
			e := setup(t)
			e.applyFile(f)
			e.wantPlanClean(f)
			blocked := check(t, e)
			if len(blocked) == 0 || t.Failed() {
				return
			}
			// The paired assertion: without netctl's table, every blocked
			// connection works.
			e.nft("delete", "table", "inet", "netctl")
			for i := range blocked {
				blocked[i].Want = true
			}
			t.Logf("without the inet netctl table, every blocked connection must work:")
			testnet.Expect(t, blocked...)
		})
	}
	var stale []string
	for name := range exampleChecks {
		if !seen[name] {
			stale = append(stale, name)
		}
	}
	sort.Strings(stale)
	for _, name := range stale {
		t.Errorf("exampleChecks has an entry for examples/%s, which does not exist", name)
	}
}
