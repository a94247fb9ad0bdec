package e2e

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
)

// IPv6 addresses of the other network (forward_test.go's eth1 link).
var (
	hostOther6 = netip.MustParsePrefix("2001:db8:300::1/64")
	other6     = netip.MustParsePrefix("2001:db8:300::10/64")
)

const forward6File = `ip_forward: true
ip6_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    containers:
      web: {address: 172.17.0.2}
`

// TestForwardOthersIPv6: each family remembers its own switch. When netctl
// switches IPv6 forwarding on, IPv6 forwarded between the host's other
// interfaces is dropped as IPv4 is (the rule
// firewall.forward_others.ipv6.switched_by_netctl), and a later apply keeps
// the drop.
func TestForwardOthersIPv6(t *testing.T) {
	w := newFwdWorld(t)
	w.AddOutside6(t)
	nstest.Run(t, "ip", "-n", w.Host, "-6", "addr", "add", hostOther6.String(), "dev", testnet.OtherInterface, "nodad")
	nstest.Run(t, "ip", "-n", w.other.NS, "-6", "addr", "add", other6.String(), "dev", "eth0", "nodad")
	nstest.Run(t, "ip", "-n", w.other.NS, "-6", "route", "add", "default", "via", hostOther6.Addr().String())
	testnet.WaitLinkLocal(t, w.Host, testnet.OtherInterface)
	testnet.WaitLinkLocal(t, w.other.NS, "eth0")
	w.Changed("other network's IPv6 added")

	toOther := testnet.Listen(t, w.other.NS, "other", "tcp", other6.Addr(), 8080)
	toOutside := w.ListenOutside(t, "tcp", testnet.Outside6A.Addr(), 8080)
	fromOutside := testnet.Client{Name: "outside " + testnet.Outside6A.Addr().String(), NS: w.Outside, Src: testnet.Outside6A.Addr()}
	fromOther := testnet.Client{Name: "other " + other6.Addr().String(), NS: w.other.NS, Src: other6.Addr()}

	// Positive control: with IPv6 forwarding switched on by hand, the host
	// routes IPv6 between its two other interfaces, both ways.
	nstest.Exec(t, w.Host, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	w.Changed("ip6 forwarding on by hand")
	testnet.Expect(t, fromOutside.Reaches(toOther), fromOther.Reaches(toOutside))
	nstest.Exec(t, w.Host, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=0")
	w.Changed("ip6 forwarding off by hand")

	p := w.file(forward6File)
	w.applyFile(p)
	if got := w.sysctl("net.ipv6.conf.all.forwarding"); got != "1" {
		t.Fatalf("ip6 forwarding after apply: %q, want 1", got)
	}
	if rs := w.ruleset(); !strings.Contains(rs, "firewall.forward_others.ipv6.switched_by_netctl") {
		t.Errorf("netctl's table lacks the IPv6 memory rule:\n%s", rs)
	}
	blocked := func() []testnet.Probe {
		// Each end's own control over IPv6 first: a round trip to the
		// host's address on its link (input, not forwarded), and the host
		// reaches both listeners.
		host := w.FromHost()
		return []testnet.Probe{
			fromOutside.Reaches(w.hostListener(testnet.HostExt6A.Addr())),
			fromOther.Reaches(w.hostListener(hostOther6.Addr())),
			host.Reaches(toOther), host.Reaches(toOutside),
			fromOutside.CannotReach(toOther), fromOther.CannotReach(toOutside),
		}
	}
	testnet.Expect(t, blocked()...)

	// A second apply sees forwarding on and still knows it was netctl.
	w.wantPlanClean(p)
	w.applyFile(p)
	testnet.Expect(t, blocked()...)
}
