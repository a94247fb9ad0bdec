package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/testnet"
)

// Published ports over IPv6 (issue 14 on top of issue 13): the promises of
// ports_test.go, proven with real IPv6 connections from an outside host that
// routes through the netctl host (testnet.AddOutside6). Every blocked probe
// sits beside a connection that succeeds on the same path: the same client
// reaching a publication of the same container through the same host
// address, and withControls6's round trips through the host's input and
// output paths.
//
// The host reaching a publication at [::1] is not promised and not asserted
// either way: IPv6 has no route_localnet, so a packet from ::1 translated
// to a container's address cannot leave lo; it would take a userland proxy,
// which netctl does not run (README, plan/ports6.go).

// The host's global IPv6 addresses on its outside link.
var (
	hostExt6A = testnet.HostExt6A.Addr() // 2001:db8:100::1
	hostExt6B = testnet.HostExt6B.Addr() // 2001:db8:200::1
)

// publish6Config: web publishes in every form of -p over the two families;
// icc: false, so the client container reaches web only through the host's
// addresses (hairpin). Ports: 80 on both families, 81 IPv4 only, 82 IPv6
// only, 83 on one IPv6 host address, 53/udp, a range, 443 to IPv6 sources of
// 2001:db8:100::/48, 444 to an IPv4 source only; 22 is not published.
const publish6Config = `
ip_forward: true
ip6_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    address6: fd00:17::1/64
    icc: false
    containers:
      web:
        address: 172.17.0.2
        address6: "fd00:17::2"
        publish:
          - 8080:80
          - 0.0.0.0:8081:81
          - "[::]:8082:82"
          - "[2001:db8:100::1]:8083:83"
          - 5353:53/udp
          - 8000-8002:9000-9002
          - { port: 8443:443, allowed_sources: [2001:db8:100::/48] }
          - { port: 8444:444, allowed_sources: [198.51.100.20] }
      client: { address: 172.17.0.3, address6: "fd00:17::3" }
`

// TestIPv6PublishedPorts: gateway mode nat (the default) with icc: false on
// a dual-stack bridge, the publications of publish6Config.
func TestIPv6PublishedPorts(t *testing.T) {
	e := setup(t)
	e.AddOutside6(t)
	path := e.file(publish6Config)
	e.applyFile(path)
	e.addr6(gw6, map[string]string{"web": "fd00:17::2", "client": "fd00:17::3"})
	web, client := e.C["web"], e.C["client"]
	l := map[int]*testnet.Listener{}  // web's IPv6 listeners, TCP, by port
	l4 := map[int]*testnet.Listener{} // web's IPv4 listeners, TCP, by port
	for _, port := range []int{80, 81, 82, 83, 22, 443, 444, 9000, 9002, 9003} {
		l[port] = web.Listen6(t, "tcp", port)
	}
	for _, port := range []int{80, 81, 82, 444} {
		l4[port] = web.Listen(t, "tcp", port)
	}
	l53, l53v4 := web.Listen6(t, "udp", 53), web.Listen(t, "udp", 53)
	outA, outB := e.FromOutside(outside6A), e.FromOutside(outside6B)
	outA4, outB4 := e.FromOutside(outsideA), e.FromOutside(outsideB)
	host := e.FromHost()

	t.Run("outside", func(t *testing.T) {
		testnet.Expect(t, via(outA, l[80], hostExt6A, 8080, true))
		wantPeer(t, l[80], outside6A) // no masquerade of inbound traffic
		testnet.Expect(t, e.withControls6(
			via(outB, l[80], hostExt6B, 8080, true), // every host address
			// Routed straight to the container's address6 (the outside's
			// default route is the host): dropped in nat mode, on a
			// published container port as on any other.
			outA.CannotReach(l[80]), outA.CannotReach(l[22]),
		)...)
	})

	t.Run("families", func(t *testing.T) {
		testnet.Expect(t, e.withControls(
			// No address: both families.
			via(outA4, l4[80], hostExtA, 8080, true),
			// 0.0.0.0: IPv4 only.
			via(outA4, l4[81], hostExtA, 8081, true),
			// [::]: IPv6 only.
			via(outA4, l4[82], hostExtA, 8082, false),
		)...)
		testnet.Expect(t, e.withControls6(
			via(outA, l[80], hostExt6A, 8080, true),
			via(outA, l[81], hostExt6A, 8081, false),
			via(outA, l[82], hostExt6A, 8082, true), via(outA, l[82], hostExt6B, 8082, true),
			// One IPv6 host address: on that one, not on the host's other.
			via(outA, l[83], hostExt6A, 8083, true),
			via(outA, l[80], hostExt6B, 8080, true), via(outA, l[83], hostExt6B, 8083, false),
		)...)
	})

	t.Run("allowed_sources per port", func(t *testing.T) {
		testnet.Expect(t, via(outA, l[443], hostExt6A, 8443, true))
		wantPeer(t, l[443], outside6A)
		testnet.Expect(t, e.withControls6(
			via(outB, l[80], hostExt6A, 8080, true), // B reaches web through the same address
			via(outB, l[443], hostExt6A, 8443, false),
			// Sources of IPv4 only: no IPv6 client at all.
			via(outA, l[80], hostExt6A, 8080, true),
			via(outA, l[444], hostExt6A, 8444, false), via(outB, l[444], hostExt6A, 8444, false),
		)...)
		// The IPv4 side of the same publication admits its IPv4 source.
		testnet.Expect(t, e.withControls(
			via(outB4, l4[444], hostExtA, 8444, true),
			via(outA4, l4[444], hostExtA, 8444, false),
		)...)
	})

	t.Run("udp and ranges", func(t *testing.T) {
		testnet.Expect(t, via(outA, l53, hostExt6A, 5353, true))
		wantPeer(t, l53, outside6A) // the datagram arrived from the client, and its echo came back
		testnet.Expect(t, e.withControls6(
			via(outA, l[9000], hostExt6A, 8000, true), via(outA, l[9002], hostExt6A, 8002, true),
			via(outB, l53, hostExt6B, 5353, true),
			// 8003 is past the range.
			via(outA, l[9003], hostExt6A, 8003, false),
		)...)
		testnet.Expect(t, via(outA4, l53v4, hostExtA, 5353, true))
	})

	t.Run("hairpin with icc false", func(t *testing.T) {
		cl := client.Client()
		testnet.Expect(t, e.withControls6(
			via(cl, l[80], hostExt6A, 8080, true), via(cl, l[80], gw6, 8080, true),
			via(cl, l[83], hostExt6A, 8083, true),
			client.CannotReach(l[80]), // icc: false still holds for direct connections
		)...)
	})

	t.Run("self hairpin", func(t *testing.T) {
		w := web.Client()
		l[80].Reset()
		testnet.Expect(t, via(w, l[80], hostExt6A, 8080, true), via(w, l[80], hostExt6B, 8080, true))
		// Masqueraded to the bridge's address6: the reply must come back
		// through the host, which undoes the translation.
		wantPeer(t, l[80], gw6)
	})

	t.Run("host", func(t *testing.T) {
		// The host itself, to its global addresses (nat-output).
		testnet.Expect(t, e.withControls6(
			via(host, l[80], hostExt6A, 8080, true), via(host, l[80], hostExt6B, 8080, true),
			via(host, l[80], gw6, 8080, true),
			via(host, l[83], hostExt6A, 8083, true), via(host, l[83], hostExt6B, 8083, false),
		)...)
	})

	t.Run("drift repaired", func(t *testing.T) {
		// [2001:db8:100::1]:8083:83 is one element of publish6 (a host
		// address of its own); deleted by hand, the publication is closed,
		// plan names it, apply puts it back.
		key := mapElementKey(t, e, "publish6", "fd00:17::2 . 83")
		e.nft("delete", "element", "inet", "netctl", "publish6", "{ "+key+" }")
		testnet.Expect(t, e.withControls6(via(outA, l[80], hostExt6A, 8080, true), via(outA, l[83], hostExt6A, 8083, false))...)
		out, code := e.plan(path)
		if item := "bridge.docker0.container.web.publish.[2001:db8:100::1]:8083:83/tcp"; code != 2 || !strings.Contains(out, item) {
			t.Errorf("plan after deleting the publish6 element exited %d, want 2 naming %s:\n%s", code, item, out)
		}
		e.applyFile(path)
		testnet.Expect(t, via(outA, l[83], hostExt6A, 8083, true), via(outA, l[80], hostExt6A, 8080, true))
		e.wantPlanClean(path)

		// 8080:80's IPv6 side is one element of publish_any6: deleted, it
		// closes 8080 over IPv6 only.
		e.nft("delete", "element", "inet", "netctl", "publish_any6", "{ tcp . 8080 }")
		testnet.Expect(t, e.withControls6(via(outA, l[83], hostExt6A, 8083, true), via(outA, l[80], hostExt6A, 8080, false))...)
		testnet.Expect(t, via(outA4, l4[80], hostExtA, 8080, true))
		out, code = e.plan(path)
		if item := "bridge.docker0.container.web.publish.8080:80/tcp"; code != 2 || !strings.Contains(out, item) {
			t.Errorf("plan after deleting the publish_any6 element exited %d, want 2 naming %s:\n%s", code, item, out)
		}
		e.applyFile(path)
		testnet.Expect(t, via(outA, l[80], hostExt6A, 8080, true), via(outA4, l4[80], hostExtA, 8080, true))
		e.wantPlanClean(path)
	})

	t.Run("removed", func(t *testing.T) {
		removed := strings.Replace(publish6Config, "          - 8080:80\n", "", 1)
		removed = strings.Replace(removed, "          - \"[::]:8082:82\"\n", "", 1)
		if strings.Contains(removed, "8080:80") || strings.Contains(removed, "8082:82") {
			t.Fatal("test bug: publications not removed")
		}
		p := e.file(removed)
		e.applyFile(p)
		testnet.Expect(t, e.withControls6(
			via(outA, l[80], hostExt6A, 8080, false), via(outA, l[82], hostExt6A, 8082, false),
			via(outA, l[9000], hostExt6A, 8000, true),
			via(host, l[80], hostExt6A, 8080, false), via(host, l[9000], hostExt6A, 8000, true),
			via(client.Client(), l[80], hostExt6A, 8080, false), via(client.Client(), l[9000], hostExt6A, 8000, true),
		)...)
		testnet.Expect(t, e.withControls(via(outA4, l4[80], hostExtA, 8080, false), via(outA4, l4[81], hostExtA, 8081, true))...)
		e.wantPlanClean(p)
	})
}

// mapElementKey is the key of the element of a map of netctl's table whose
// value is value ("fd00:17::2 . 83"), as nft lists it (KEY comment "…" :
// VALUE), without its comment: what nft delete element takes back.
func mapElementKey(t *testing.T, e *env, set, value string) string {
	t.Helper()
	listing := e.nft("list", "map", "inet", "netctl", set)
	i := strings.Index(listing, "elements = {")
	if i < 0 {
		t.Fatalf("map %s has no elements:\n%s", set, listing)
	}
	body := listing[i+len("elements = {"):]
	body = body[:strings.LastIndex(body, "}")]
	// Elements are separated by commas; a key never holds one.
	re := regexp.MustCompile(`^(.+?)(?: comment "[^"]*")? : ` + regexp.QuoteMeta(value) + `(\s|$)`)
	for _, el := range strings.Split(body, ",") {
		if m := re.FindStringSubmatch(strings.TrimSpace(el)); m != nil {
			return m[1]
		}
	}
	t.Fatalf("map %s has no element with value %s:\n%s", set, value, listing)
	return ""
}

// TestIPv6GatewayModes: what reaches a container's address6 by direct
// routing in each mode, next to what reaches it through its publication.
func TestIPv6GatewayModes(t *testing.T) {
	e := setup(t)
	e.AddOutside6(t)
	cfg := func(mode string) string {
		return fmt.Sprintf(`
ip_forward: true
ip6_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    address6: fd00:17::1/64
    gateway_mode: %s
    containers:
      web: { address: 172.17.0.2, address6: "fd00:17::2", publish: [8080:80] }
`, mode)
	}
	e.apply(cfg("nat"))
	e.addr6(gw6, map[string]string{"web": "fd00:17::2"})
	web := e.C["web"]
	l80, l81 := web.Listen6(t, "tcp", 80), web.Listen6(t, "tcp", 81)
	outA := e.FromOutside(outside6A)

	// The outside's default route is the host: it routes to fd00:17::2.
	testnet.Expect(t, e.withControls6(via(outA, l80, hostExt6A, 8080, true), outA.CannotReach(l80), outA.CannotReach(l81))...)

	l80.Reset()
	e.apply(cfg("routed"))
	// Routed: the container's address6, on its published port only.
	testnet.Expect(t, e.withControls6(outA.Reaches(l80), via(outA, l80, hostExt6A, 8080, true), outA.CannotReach(l81))...)
	wantPeer(t, l80, outside6A)
	out := e.ListenOutside(t, "tcp", outside6A, 7000)
	testnet.Expect(t, web.Reaches(out))
	wantPeer(t, out, web.Addr6) // no NAT66

	e.apply(cfg("nat-unprotected"))
	testnet.Expect(t, outA.Reaches(l80), outA.Reaches(l81), via(outA, l80, hostExt6A, 8080, true))
	// Only connections to the host's own addresses are translated (fib
	// daddr type local): one routed to the container's port 8080 reaches
	// that port, not the publication's container port 80.
	l8080 := web.Listen6(t, "tcp", 8080)
	testnet.Expect(t, outA.Reaches(l8080))
	wantPeer(t, l8080, outside6A)
}

// TestIPv6PublishedPortsBridgeSources: the bridge's allowed_sources restrict
// who reaches its published ports over IPv6, each family by its own entries.
func TestIPv6PublishedPortsBridgeSources(t *testing.T) {
	e := setup(t)
	e.AddOutside6(t)
	cfg := func(sources string) string {
		return fmt.Sprintf(`
ip_forward: true
ip6_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    address6: fd00:17::1/64
    allowed_sources: %s
    containers:
      web: { address: 172.17.0.2, address6: "fd00:17::2", publish: [8080:80] }
`, sources)
	}
	e.apply(cfg("[198.51.100.10, 2001:db8:100::/48]"))
	e.addr6(gw6, map[string]string{"web": "fd00:17::2"})
	web := e.C["web"]
	l80, l80v4 := web.Listen6(t, "tcp", 80), web.Listen(t, "tcp", 80)
	outA, outB := e.FromOutside(outside6A), e.FromOutside(outside6B)
	testnet.Expect(t, via(outA, l80, hostExt6B, 8080, true), via(outA, l80, hostExt6A, 8080, true))
	wantPeer(t, l80, outside6A)
	testnet.Expect(t, e.withControls6(via(outA, l80, hostExt6B, 8080, true), via(outB, l80, hostExt6B, 8080, false))...)
	testnet.Expect(t, e.withControls(
		via(e.FromOutside(outsideA), l80v4, hostExtB, 8080, true),
		via(e.FromOutside(outsideC), l80v4, hostExtB, 8080, false),
	)...)

	// IPv4 entries only: no IPv6 client reaches the publication.
	e.apply(cfg("[198.51.100.10]"))
	testnet.Expect(t, e.withControls6(
		// The host reaches the publication (its own connections are not
		// forwarded, so not subject to the bridge's sources): the
		// control that the container answers through hostExt6A.
		via(e.FromHost(), l80, hostExt6A, 8080, true),
		via(outA, l80, hostExt6A, 8080, false), via(outB, l80, hostExt6A, 8080, false),
	)...)
	testnet.Expect(t, via(e.FromOutside(outsideA), l80v4, hostExtA, 8080, true))
}

// checkDualStackPublication proves web's publication in
// examples/dual-stack.yaml (8080:80, no host address): over IPv4 and IPv6,
// the client's own address seen, the bridge's allowed_sources enforced on
// each family. Its blocked probes are not for TestExamples' paired run:
// without netctl's table nothing is published at all.
func checkDualStackPublication(t *testing.T, e *env, l4, l6 *testnet.Listener) {
	t.Helper()
	outA4, outB4 := e.FromOutside(outsideA), e.FromOutside(outsideB)
	outA, outB := e.FromOutside(outside6A), e.FromOutside(outside6B)
	l4.Reset()
	l6.Reset()
	testnet.Expect(t, via(outA4, l4, hostExtA, 8080, true), via(outA, l6, hostExt6A, 8080, true))
	wantPeer(t, l4, outsideA)
	wantPeer(t, l6, outside6A)
	testnet.Expect(t, e.withControls(via(outA4, l4, hostExtA, 8080, true), via(outB4, l4, hostExtA, 8080, false))...)
	testnet.Expect(t, e.withControls6(
		via(outA, l6, hostExt6A, 8080, true), via(outA, l6, hostExt6B, 8080, true),
		via(outB, l6, hostExt6A, 8080, false), via(outB, l6, hostExt6B, 8080, false),
	)...)
}
