package e2e

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
)

// Published ports (issue 13), proven with real connections: every
// "blocked" next to a connection that succeeds on the same path.

var loopback = netip.MustParseAddr("127.0.0.1")

// via is a probe of a published port: from c to l, dialling dst:port.
func via(c testnet.Client, l *testnet.Listener, dst netip.Addr, port int, want bool) testnet.Probe {
	return testnet.Probe{From: c, To: l, Dst: dst, Port: port, Want: want}
}

// wantPeer fails unless every connection l saw came from src.
func wantPeer(t *testing.T, l *testnet.Listener, src netip.Addr) {
	t.Helper()
	peers := l.Peers()
	if len(peers) == 0 {
		t.Errorf("%s saw no connection", l)
	}
	for _, p := range peers {
		if p != src {
			t.Errorf("%s saw source %s, want %s (the client's own address)", l, p, src)
		}
	}
	l.Reset()
}

const publishConfig = `
ip_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    icc: false
    containers:
      web:
        address: 172.17.0.2
        publish:
          - 8080:80
          - 127.0.0.1:5432:5432
          - 198.51.100.1:5353:53/udp
          - 127.0.0.1:5354:53/udp
          - 8000-8002:9000-9002
          - { port: 8443:443, allowed_sources: [198.51.100.20] }
      client: { address: 172.17.0.3 }
`

// TestPublishedPorts: gateway mode nat (the default) with icc: false.
func TestPublishedPorts(t *testing.T) {
	e := setup(t)
	// Applied, then the containers attached: their ports lack the hairpin
	// flag until the next apply (the subtest self hairpin).
	first := e.file(publishConfig)
	if out, code := e.netctl("apply", "-f", first, "--auto-approve"); code != 0 {
		t.Fatalf("netctl apply exited %d:\n%s", code, out)
	}
	e.attach(first)
	e.wantSysctl("net.ipv4.conf.docker0.route_localnet", "1")
	web, client := e.C["web"], e.C["client"]
	l80, l81 := web.Listen(t, "tcp", 80), web.Listen(t, "tcp", 81)
	l5432, l53 := web.Listen(t, "tcp", 5432), web.Listen(t, "udp", 53)
	l9000, l9002, l9003 := web.Listen(t, "tcp", 9000), web.Listen(t, "tcp", 9002), web.Listen(t, "tcp", 9003)
	l443 := web.Listen(t, "tcp", 443)
	outA, outB, outC := e.FromOutside(outsideA), e.FromOutside(outsideB), e.FromOutside(outsideC)
	host := e.FromHost()
	e.RouteOutside(t, netip.MustParsePrefix("172.17.0.0/16")) // direct routing to the containers

	t.Run("outside", func(t *testing.T) {
		testnet.Expect(t, via(outA, l80, hostExtA, 8080, true))
		wantPeer(t, l80, outsideA) // no masquerade of inbound traffic
		testnet.Expect(t, e.withControls(
			via(outC, l80, hostExtB, 8080, true), // every host address
			// Direct routing to a container: dropped in nat mode, on a
			// published container port as on any other.
			outA.CannotReach(l81), outA.CannotReach(l80),
		)...)
	})

	t.Run("udp and ranges", func(t *testing.T) {
		testnet.Expect(t,
			via(outA, l53, hostExtA, 5353, true),
			via(outA, l9000, hostExtA, 8000, true), via(outA, l9002, hostExtA, 8002, true),
			// 8003 is past the range; 5353/udp is published on hostExtA only.
			via(outA, l9003, hostExtA, 8003, false),
			via(outC, l53, hostExtB, 5353, false), via(outC, l80, hostExtB, 8080, true),
		)
		wantPeer(t, l53, outsideA)
	})

	t.Run("host", func(t *testing.T) {
		testnet.Expect(t,
			via(host, l80, loopback, 8080, true), via(host, l80, hostExtA, 8080, true),
			via(host, l80, gw0, 8080, true),
			via(host, l5432, loopback, 5432, true),
			// Loopback only: not on the host's other addresses.
			via(outA, l5432, hostExtA, 5432, false), via(host, l5432, hostExtA, 5432, false),
			via(outA, l80, hostExtA, 8080, true),
		)
	})

	t.Run("allowed_sources per port", func(t *testing.T) {
		testnet.Expect(t, via(outB, l443, hostExtA, 8443, true), via(outA, l443, hostExtA, 8443, false),
			via(outA, l80, hostExtA, 8080, true))
		wantPeer(t, l443, outsideB)
	})

	t.Run("hairpin with icc false", func(t *testing.T) {
		cl := client.Client()
		testnet.Expect(t, e.withControls(
			via(cl, l80, hostExtA, 8080, true), via(cl, l80, gw0, 8080, true),
			client.CannotReach(l81), // icc: false still holds for direct connections
		)...)
	})

	t.Run("self hairpin", func(t *testing.T) {
		// The containers were attached after the apply: their ports lack
		// the hairpin flag, which the plan shows, and a container cannot
		// reach its own publication.
		path := e.file(publishConfig)
		if out, code := e.plan(path); code != 2 || !strings.Contains(out, "hairpin") {
			t.Errorf("plan after attaching ports exited %d, want 2 with the hairpin flag to set:\n%s", code, out)
		}
		w := web.Client()
		testnet.Expect(t, e.withControls(via(w, l80, hostExtA, 8080, false), via(outA, l80, hostExtA, 8080, true))...)
		e.applyFile(path)
		for _, port := range []string{web.HostVeth, client.HostVeth} {
			if out := nstest.Exec(t, e.Host, "ip", "-d", "link", "show", port); !strings.Contains(out, "hairpin on") {
				t.Errorf("port %s: hairpin not on:\n%s", port, out)
			}
		}
		l80.Reset()
		testnet.Expect(t, via(w, l80, hostExtA, 8080, true), via(w, l80, gw0, 8080, true))
		wantPeer(t, l80, gw0) // masqueraded: the reply must come back through the host
		e.wantPlanClean(path)
	})

	t.Run("loopback guard", func(t *testing.T) {
		// The client routes 127.0.0.1 to the host, as a hostile neighbour
		// on the bridge can (route_localnet is on there, for the host's own
		// 127.0.0.1:PORT).
		neighbourRoutesLoopback(t, client.NS, gw0)
		// Another firewall's table, which someone will flush below.
		e.nft("add", "table", "ip", "firewalld")
		e.nft("add", "chain", "ip", "firewalld", "raw_PREROUTING", "{ type filter hook prerouting priority -290; policy accept; }")
		e.Changed("client routes 127.0.0.1 via the host")
		cl := client.Client()
		probes := []testnet.Probe{
			via(cl, l5432, loopback, 5432, false), via(cl, l80, loopback, 8080, false), via(cl, l53, loopback, 5354, false),
			via(host, l53, loopback, 5354, true),
			via(host, l5432, loopback, 5432, true), via(host, l80, loopback, 8080, true),
			via(cl, l80, gw0, 8080, true),
		}
		testnet.Expect(t, probes...)
		// Someone flushes every other table (a firewalld reload, the
		// CVE-2025-54388 case): the guard is in netctl's own table.
		for _, line := range strings.Split(e.nft("list", "tables"), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "table" && !(f[1] == "inet" && f[2] == "netctl") {
				e.nft("delete", "table", f[1], f[2])
			}
		}
		nstest.Exec(t, e.Host, "iptables", "-t", "raw", "-F")
		e.Changed("other tables flushed")
		testnet.Expect(t, probes...)
		// Without the guard, the neighbour's packets for 127.0.0.1 reach
		// the loopback-only publication: the guard is what blocks them.
		// (The reply, from 127.0.0.1, is then dropped by the neighbour's
		// own stack, so this is shown with what the listener received.)
		handle := ruleHandle(t, e, "raw-prerouting", "firewall.loopback_guard")
		e.nft("delete", "rule", "inet", "netctl", "raw-prerouting", "handle", handle)
		if r := testnet.Check(via(cl, l53, loopback, 5354, true))[0]; !r.Received {
			t.Errorf("without the loopback guard, %s did not arrive either (%v): the test proves nothing about the guard", r.Probe, r.Err)
		} else {
			t.Logf("ok   without the guard, %s arrived from %s", r.Probe, r.Peer)
		}
		e.applyFile(e.file(publishConfig))
	})

	t.Run("removed", func(t *testing.T) {
		e.apply(strings.Replace(publishConfig, "          - 8080:80\n", "", 1))
		testnet.Expect(t, via(outA, l80, hostExtA, 8080, false), via(outA, l9000, hostExtA, 8000, true),
			via(host, l80, loopback, 8080, false), via(host, l9000, loopback, 8000, true))
		e.wantPlanClean(e.file(strings.Replace(publishConfig, "          - 8080:80\n", "", 1)))
	})
}

// neighbourRoutesLoopback makes ns send packets for 127.0.0.1 to gw.
func neighbourRoutesLoopback(t *testing.T, ns string, gw netip.Addr) {
	t.Helper()
	nstest.Run(t, "ip", "-n", ns, "route", "del", "local", "127.0.0.0/8", "dev", "lo", "table", "local")
	nstest.Run(t, "ip", "-n", ns, "route", "del", "local", "127.0.0.1", "dev", "lo", "table", "local")
	nstest.Run(t, "ip", "-n", ns, "route", "add", "127.0.0.1/32", "via", gw.String(), "dev", "eth0")
	nstest.Exec(t, ns, "sysctl", "-w", "net.ipv4.conf.eth0.route_localnet=1", "net.ipv4.conf.all.route_localnet=1")
}

// ruleHandle is the handle of the rule with the comment in a chain of
// netctl's table.
func ruleHandle(t *testing.T, e *env, chain, comment string) string {
	t.Helper()
	for _, line := range strings.Split(e.nft("-a", "list", "chain", "inet", "netctl", chain), "\n") {
		if strings.Contains(line, `comment "`+comment+`"`) {
			if i := strings.LastIndex(line, "# handle "); i >= 0 {
				return strings.TrimSpace(line[i+len("# handle "):])
			}
		}
	}
	t.Fatalf("no rule %q in chain %s", comment, chain)
	return ""
}

// TestGatewayModes: what reaches a container by direct routing in each
// mode, next to what reaches it through its publication.
func TestGatewayModes(t *testing.T) {
	e := setup(t)
	cfg := func(mode string) string {
		return fmt.Sprintf(`
ip_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    gateway_mode: %s
    containers:
      web: { address: 172.17.0.2, publish: [8080:80] }
`, mode)
	}
	e.apply(cfg("nat"))
	web := e.C["web"]
	l80, l81 := web.Listen(t, "tcp", 80), web.Listen(t, "tcp", 81)
	outA := e.FromOutside(outsideA)
	e.RouteOutside(t, netip.MustParsePrefix("172.17.0.0/16"))

	testnet.Expect(t, e.withControls(via(outA, l80, hostExtA, 8080, true), outA.CannotReach(l80), outA.CannotReach(l81))...)

	l80.Reset()
	e.apply(cfg("routed"))
	// Routed: the container's address, on its published port only; its
	// own connections leave unmasqueraded.
	testnet.Expect(t, e.withControls(outA.Reaches(l80), via(outA, l80, hostExtA, 8080, true), outA.CannotReach(l81))...)
	wantPeer(t, l80, outsideA)
	out := e.ListenOutside(t, "tcp", outsideA, 7000)
	testnet.Expect(t, web.Reaches(out))
	wantPeer(t, out, web.Addr)

	e.apply(cfg("nat-unprotected"))
	testnet.Expect(t, outA.Reaches(l80), outA.Reaches(l81), via(outA, l80, hostExtA, 8080, true))
	testnet.Expect(t, web.Reaches(out))
	wantPeer(t, out, hostExtA) // masqueraded again
}

// TestPublishedPortsBridgeSources: the bridge's allowed_sources restrict
// who reaches its published ports.
func TestPublishedPortsBridgeSources(t *testing.T) {
	e := setup(t)
	e.apply(`
ip_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    allowed_sources: [198.51.100.10]
    containers:
      web: { address: 172.17.0.2, publish: [8080:80] }
`)
	l80 := e.C["web"].Listen(t, "tcp", 80)
	outA, outC := e.FromOutside(outsideA), e.FromOutside(outsideC)
	testnet.Expect(t, via(outA, l80, hostExtB, 8080, true), via(outA, l80, hostExtA, 8080, true))
	wantPeer(t, l80, outsideA)
	testnet.Expect(t, e.withControls(via(outA, l80, hostExtB, 8080, true), via(outC, l80, hostExtB, 8080, false))...)
}
