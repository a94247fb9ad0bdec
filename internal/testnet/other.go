package testnet

import (
	"net/netip"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
)

// OtherInterface is the host's second external interface, a plain veth
// (not a bridge): with eth0, two interfaces a router could forward between.
const OtherInterface = "eth1"

// Addresses of the second external link.
var (
	HostOther = netip.MustParsePrefix("192.0.2.1/24")
	OtherAddr = netip.MustParsePrefix("192.0.2.10/24")
)

// Other is a second outside network, behind the host's eth1: the world
// netctl's forward_others is about (forwarding that touches none of its
// bridges).
type Other struct {
	NS   string
	Addr netip.Addr
}

// AddOther makes the other outside namespace and its link to the host:
//
//	host  eth1  192.0.2.1/24
//	other eth0  192.0.2.10/24, default via 192.0.2.1
//
// It returns once both ends have carrier.
func (n *Net) AddOther(t testing.TB) *Other {
	t.Helper()
	o := &Other{NS: nstest.New(t), Addr: OtherAddr.Addr()}
	n.join(t, o.NS)
	nstest.Run(t, "ip", "-n", n.Host, "link", "add", OtherInterface, "type", "veth", "peer", "name", "eth0", "netns", o.NS)
	nstest.Run(t, "ip", "-n", n.Host, "addr", "add", HostOther.String(), "dev", OtherInterface)
	nstest.Run(t, "ip", "-n", n.Host, "link", "set", OtherInterface, "up")
	nstest.Run(t, "ip", "-n", o.NS, "addr", "add", OtherAddr.String(), "dev", "eth0")
	nstest.Run(t, "ip", "-n", o.NS, "link", "set", "eth0", "up")
	nstest.Run(t, "ip", "-n", o.NS, "route", "add", "default", "via", HostOther.Addr().String())
	if err := WaitReady(ReadyLimit, End{n.Host, OtherInterface}, End{o.NS, "eth0"}); err != nil {
		t.Fatalf("testnet: other link: %v", err)
	}
	n.Changed("other outside network attached")
	return o
}

// Listen starts an echo listener in the other namespace, on its address.
func (o *Other) Listen(t testing.TB, proto string, port int) *Listener {
	t.Helper()
	return Listen(t, o.NS, "other", proto, o.Addr, port)
}

// Client is the other namespace as the origin of probes.
func (o *Other) Client() Client {
	return Client{Name: "other " + o.Addr.String(), NS: o.NS, Src: o.Addr}
}
