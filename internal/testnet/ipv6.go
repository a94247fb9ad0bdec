package testnet

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/nstest"
)

// IPv6. Probes and listeners take IPv6 addresses as they take IPv4 ones
// (link-local ones with their zone, fe80::3%eth0), and the positive-control
// ledger keeps the families apart. Addresses are added without duplicate
// address detection (nodad): usable at once, so that no probe meets a
// tentative address.

// IPv6 addresses of the external link (AddOutside6), from 2001:db8::/32:
// like the IPv4 ones, two host addresses in two subnets, and an outside
// host in each.
var (
	HostExt6A = netip.MustParsePrefix("2001:db8:100::1/64")
	HostExt6B = netip.MustParsePrefix("2001:db8:200::1/64")

	Outside6A = netip.MustParsePrefix("2001:db8:100::10/64") // source of the default route
	Outside6B = netip.MustParsePrefix("2001:db8:200::20/64")
)

// network is the Go network name for proto and the address family of a.
func network(proto string, a netip.Addr) string {
	if is6(a) {
		return proto + "6"
	}
	return proto + "4"
}

func is6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }

// AddOutside6 gives the external link IPv6:
//
//	host    eth0  2001:db8:100::1/64, 2001:db8:200::1/64
//	outside eth0  2001:db8:100::10/64, 2001:db8:200::20/64,
//	              default via 2001:db8:100::1
//
// The host forwards IPv6 only if its sysctl says so (the product's job).
func (n *Net) AddOutside6(t testing.TB) {
	t.Helper()
	for _, a := range []netip.Prefix{HostExt6A, HostExt6B} {
		nstest.Run(t, "ip", "-n", n.Host, "-6", "addr", "add", a.String(), "dev", ExternalInterface, "nodad")
	}
	for _, a := range []netip.Prefix{Outside6A, Outside6B} {
		nstest.Run(t, "ip", "-n", n.Outside, "-6", "addr", "add", a.String(), "dev", "eth0", "nodad")
	}
	nstest.Run(t, "ip", "-n", n.Outside, "-6", "route", "add", "default", "via", HostExt6A.Addr().String())
	// A router solicits a neighbour for a forwarded packet from its
	// link-local address, and sends nothing while that is tentative.
	WaitLinkLocal(t, n.Host, ExternalInterface)
	WaitLinkLocal(t, n.Outside, "eth0")
	n.Changed("external IPv6 added")
}

var linkLocal = regexp.MustCompile(`inet6 (fe80::[0-9a-f:]+)/64 scope link`)

// WaitLinkLocal waits until dev in ns has a link-local address that
// duplicate address detection has let go of, and returns it with dev as its
// zone. The kernel sends no neighbour solicitation for a forwarded packet
// before that. It fails the test after ReadyLimit.
func WaitLinkLocal(t testing.TB, ns, dev string) netip.Addr {
	t.Helper()
	for deadline := time.Now().Add(ReadyLimit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out := nstest.Exec(t, ns, "ip", "-6", "-o", "addr", "show", "dev", dev, "scope", "link")
		if m := linkLocal.FindStringSubmatch(out); m != nil && !strings.Contains(out, "tentative") {
			return netip.MustParseAddr(m[1]).WithZone(dev)
		}
	}
	t.Fatalf("testnet: %s in %s has no usable link-local address after %v", dev, ns, ReadyLimit)
	return netip.Addr{}
}

// AddAddr6 gives the container's eth0 an IPv6 address and, when gw is
// valid, a default IPv6 route through it (the bridge's address6). A
// container on an IPv4-only bridge gets an address by hand this way, as a
// hostile or careless runtime would.
func (c *Container) AddAddr6(t testing.TB, addr netip.Prefix, gw netip.Addr) {
	t.Helper()
	nstest.Run(t, "ip", "-n", c.NS, "-6", "addr", "add", addr.String(), "dev", "eth0", "nodad")
	if gw.IsValid() {
		nstest.Run(t, "ip", "-n", c.NS, "-6", "route", "replace", "default", "via", gw.String(), "dev", "eth0")
	}
	if !addr.Addr().IsLinkLocalUnicast() {
		c.Addr6 = addr.Addr()
	}
	if n := netOf(c.NS); n != nil {
		n.Changed("container " + c.Name + " got " + addr.String())
	}
}

// Listen6 starts an echo listener in the container on its IPv6 address.
func (c *Container) Listen6(t testing.TB, proto string, port int) *Listener {
	t.Helper()
	if !c.Addr6.IsValid() {
		t.Fatalf("testnet: container %s has no IPv6 address (AddAddr6)", c.Name)
	}
	return Listen(t, c.NS, c.Name, proto, c.Addr6, port)
}

// ListenAt starts an echo listener in the container on any of its
// addresses: a link-local one carries its zone (fe80::3%eth0).
func (c *Container) ListenAt(t testing.TB, proto string, addr netip.Addr, port int) *Listener {
	t.Helper()
	return Listen(t, c.NS, c.Name, proto, addr, port)
}

// FlushNeighbours empties the IPv6 neighbour cache of the namespaces, so
// that the next packet needs neighbour discovery again.
func FlushNeighbours(t testing.TB, namespaces ...string) {
	t.Helper()
	for _, ns := range namespaces {
		nstest.Run(t, "ip", "-n", ns, "-6", "neigh", "flush", "all")
	}
}
