// Package testnet builds real container-networking topologies in throwaway
// network namespaces and probes them with real TCP and UDP connections.
//
// A Net is a "host" namespace (the one netctl manages) joined by a veth pair
// to an "outside" namespace that stands for the rest of the world. Containers
// are namespaces of their own whose eth0 is a veth attached to a bridge in the
// host namespace. The harness never creates bridges, sets sysctls or writes
// firewall rules in the host namespace: that is the product's job.
//
// Everything is created inside namespaces made for the test and deleted when
// it ends, whether it passed or not; the machine's own namespace is never
// touched. Outside addresses come from the documentation ranges only.
package testnet

import (
	"fmt"
	"net/netip"
	"regexp"
	"sync"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
)

// ExternalInterface is the name of the host's external interface.
const ExternalInterface = "eth0"

// Addresses of the external link. The host has two addresses on its external
// interface; the outside namespace has three, so that tests can tell an
// allowed source from a refused one and a masqueraded source from a routed one.
var (
	HostExtA = netip.MustParsePrefix("198.51.100.1/24")
	HostExtB = netip.MustParsePrefix("203.0.113.1/24")

	OutsideA = netip.MustParsePrefix("198.51.100.10/24") // source of the default route
	OutsideB = netip.MustParsePrefix("198.51.100.20/24")
	OutsideC = netip.MustParsePrefix("203.0.113.10/24")
)

// Net is one test topology.
type Net struct {
	// Host is the network namespace netctl manages (pass it as --netns).
	Host string
	// Outside is the namespace standing for the world beyond eth0.
	Outside string

	mu         sync.Mutex
	containers map[string]*Container
	nveth      int

	// ledger holds the positive controls probes proved (control.go).
	ledger ledger
}

// Container is a namespace whose eth0 is attached to a bridge of the host.
type Container struct {
	Name string
	// NS is the container's network namespace.
	NS string
	// Addr is eth0's address; Prefix is the same with its prefix length.
	Addr   netip.Addr
	Prefix netip.Prefix
	// Addr6 is eth0's global IPv6 address, once AddAddr6 gave it one.
	Addr6 netip.Addr
	// Gateway is the default route's next hop.
	Gateway netip.Addr
	// Bridge is the host bridge the container is attached to; HostVeth is the
	// host end of its veth pair (a port of Bridge).
	Bridge   string
	HostVeth string
}

// New makes the host and outside namespaces and the external link between
// them:
//
//	host    eth0  198.51.100.1/24, 203.0.113.1/24
//	outside eth0  198.51.100.10/24, 198.51.100.20/24, 203.0.113.10/24,
//	              default via 198.51.100.1
//
// Nothing else is created in the host namespace: no bridge, no sysctl, no
// firewall. All of it is deleted when the test ends.
func New(t testing.TB) *Net {
	t.Helper()
	nstest.RequireRoot(t)
	n := &Net{
		Host:       nstest.New(t),
		Outside:    nstest.New(t),
		containers: map[string]*Container{},
	}
	n.join(t, n.Host)
	n.join(t, n.Outside)
	n.Changed("")
	nstest.Run(t, "ip", "-n", n.Host, "link", "add", ExternalInterface, "type", "veth",
		"peer", "name", "eth0", "netns", n.Outside)
	for _, a := range []netip.Prefix{HostExtA, HostExtB} {
		nstest.Run(t, "ip", "-n", n.Host, "addr", "add", a.String(), "dev", ExternalInterface)
	}
	nstest.Run(t, "ip", "-n", n.Host, "link", "set", ExternalInterface, "up")
	for _, a := range []netip.Prefix{OutsideA, OutsideB, OutsideC} {
		nstest.Run(t, "ip", "-n", n.Outside, "addr", "add", a.String(), "dev", "eth0")
	}
	nstest.Run(t, "ip", "-n", n.Outside, "link", "set", "eth0", "up")
	nstest.Run(t, "ip", "-n", n.Outside, "route", "add", "default", "via", HostExtA.Addr().String())
	if err := WaitReady(ReadyLimit, End{n.Host, ExternalInterface}, End{n.Outside, "eth0"}); err != nil {
		t.Fatalf("testnet: external link: %v", err)
	}
	return n
}

var ifname = regexp.MustCompile(`[^a-zA-Z0-9]`)

// AddContainer makes a container namespace with eth0 = addr and a default
// route via gw, and attaches the host end of its veth to bridge, which must
// already exist in the host namespace (call it after netctl apply). It
// returns once both ends of the veth have carrier and the bridge port is
// forwarding (WaitReady), and fails the test if that takes over ReadyLimit.
func (n *Net) AddContainer(t testing.TB, name, bridge string, addr netip.Prefix, gw netip.Addr) *Container {
	t.Helper()
	n.mu.Lock()
	if _, dup := n.containers[name]; dup {
		n.mu.Unlock()
		t.Fatalf("testnet: container %q added twice", name)
	}
	n.nveth++
	veth := fmt.Sprintf("vc%d%s", n.nveth, ifname.ReplaceAllString(name, ""))
	if len(veth) > 15 {
		veth = veth[:15]
	}
	n.mu.Unlock()

	c := &Container{
		Name: name, NS: nstest.New(t),
		Addr: addr.Addr(), Prefix: addr, Gateway: gw,
		Bridge: bridge, HostVeth: veth,
	}
	n.join(t, c.NS)
	nstest.Run(t, "ip", "-n", n.Host, "link", "add", veth, "type", "veth",
		"peer", "name", "eth0", "netns", c.NS)
	nstest.Run(t, "ip", "-n", n.Host, "link", "set", veth, "master", bridge)
	nstest.Run(t, "ip", "-n", n.Host, "link", "set", veth, "up")
	nstest.Run(t, "ip", "-n", c.NS, "addr", "add", addr.String(), "dev", "eth0")
	nstest.Run(t, "ip", "-n", c.NS, "link", "set", "eth0", "up")
	nstest.Run(t, "ip", "-n", c.NS, "route", "add", "default", "via", gw.String())
	// Ready means ready to carry traffic: both ends have carrier and the
	// bridge port forwards. Until then a probe could time out and pass for
	// "blocked".
	if err := WaitReady(ReadyLimit, End{n.Host, veth}, End{c.NS, "eth0"}); err != nil {
		t.Fatalf("testnet: container %s: %v", name, err)
	}
	n.Changed("container " + name + " attached")

	n.mu.Lock()
	n.containers[name] = c
	n.mu.Unlock()
	return c
}

// Ready waits, as AddContainer does, until every container's veth has
// carrier at both ends and its bridge port forwards: after a change to the
// host (an apply that touched a bridge) nothing is probed through a port
// that is not forwarding again yet.
func (n *Net) Ready(t testing.TB) {
	t.Helper()
	n.mu.Lock()
	var ends []End
	for _, c := range n.containers {
		ends = append(ends, End{n.Host, c.HostVeth}, End{c.NS, "eth0"})
	}
	n.mu.Unlock()
	if err := WaitReady(ReadyLimit, ends...); err != nil {
		t.Fatalf("testnet: %v", err)
	}
}

// join makes ns part of the topology for the positive-control ledger, until
// the test ends.
func (n *Net) join(t testing.TB, ns string) {
	register(n, ns)
	t.Cleanup(func() { unregister(ns) })
}

// Container returns a container added before, or fails the test.
func (n *Net) Container(t testing.TB, name string) *Container {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.containers[name]
	if !ok {
		t.Fatalf("testnet: no container %q", name)
	}
	return c
}

// RouteOutside adds a route in the outside namespace, through the host's
// external address. The outside's default route already goes there; use it
// for anything more specific.
func (n *Net) RouteOutside(t testing.TB, dst netip.Prefix) {
	t.Helper()
	nstest.Run(t, "ip", "-n", n.Outside, "route", "replace", dst.String(), "via", HostExtA.Addr().String())
	n.Changed("outside route to " + dst.String() + " added")
}

// Listen starts an echo listener in the container, on its own address.
func (c *Container) Listen(t testing.TB, proto string, port int) *Listener {
	t.Helper()
	return Listen(t, c.NS, c.Name, proto, c.Addr, port)
}

// ListenHost starts an echo listener in the host namespace on addr (the
// bridge's gateway address, for instance), which must exist.
func (n *Net) ListenHost(t testing.TB, proto string, addr netip.Addr, port int) *Listener {
	t.Helper()
	return Listen(t, n.Host, "host", proto, addr, port)
}

// ListenOutside starts an echo listener in the outside namespace on one of
// its addresses (OutsideA, OutsideB, OutsideC).
func (n *Net) ListenOutside(t testing.TB, proto string, addr netip.Addr, port int) *Listener {
	t.Helper()
	return Listen(t, n.Outside, "outside", proto, addr, port)
}

// Client is where a probe starts: a namespace and, optionally, a source
// address to bind.
type Client struct {
	Name string
	NS   string
	Src  netip.Addr // zero: let the kernel choose
}

// Client is the container as the origin of probes.
func (c *Container) Client() Client { return Client{Name: c.Name, NS: c.NS} }

// FromOutside is the outside namespace as the origin of probes, with source
// address src (one of OutsideA, OutsideB, OutsideC).
func (n *Net) FromOutside(src netip.Addr) Client {
	return Client{Name: "outside " + src.String(), NS: n.Outside, Src: src}
}

// FromHost is the host namespace as the origin of probes.
func (n *Net) FromHost() Client { return Client{Name: "host", NS: n.Host} }

// DelOutsideDefaultRoute removes the outside namespace's default route, so
// that it reaches only the host's external subnets (and what RouteOutside
// adds): an outside world that cannot route replies to private addresses.
func (n *Net) DelOutsideDefaultRoute(t testing.TB) {
	t.Helper()
	nstest.Run(t, "ip", "-n", n.Outside, "route", "del", "default")
	n.Changed("outside default route deleted")
}
