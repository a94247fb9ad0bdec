package testnet

import (
	"net/netip"
	"strings"
	"testing"
)

// TestBlockedNeedsPositiveControl: a blocked probe is refused as unproven
// until, since the last change, the same client has reached another
// namespace and the same destination has been reached from one; a change
// makes the old controls void; a probe that cannot leave its client proves
// nothing.
func TestBlockedNeedsPositiveControl(t *testing.T) {
	n := New(t)
	handBridge(t, n)
	sysctl(t, n, "net.bridge.bridge-nf-call-iptables", "1")
	a := n.AddContainer(t, "a", "br0", addrA, gw)
	b := n.AddContainer(t, "b", "br0", addrB, gw)
	c := n.AddContainer(t, "c", "br0", netip.MustParsePrefix("172.17.0.4/16"), gw)
	b80, b22 := b.Listen(t, "tcp", 80), b.Listen(t, "tcp", 22)
	c80 := c.Listen(t, "tcp", 80)
	nft(t, n, `table inet selftest {
		chain forward { type filter hook forward priority 0; policy accept;
			ip daddr 172.17.0.3 tcp dport 22 drop
		}
	}`)

	unproven := func(want string) {
		t.Helper()
		msg := a.CannotReach(b22).Run().Problem()
		if !strings.Contains(msg, "positive control") || !strings.Contains(msg, want) {
			t.Errorf("blocked a → b:22 without controls: Problem() = %q, want it refused, naming %q", msg, want)
		}
	}
	// Nothing yet: neither control.
	unproven("no probe from a")
	// The destination reached, from another client: the client's control
	// is still missing.
	Expect(t, c.Reaches(b80))
	unproven("no probe from a")
	// The client reaches elsewhere: now both hold, and it is judged.
	Expect(t, a.Reaches(c80))
	if msg := a.CannotReach(b22).Run().Problem(); msg != "" {
		t.Errorf("blocked a → b:22 with both controls: %s", msg)
	}
	// A change voids them.
	n.Changed("test: something changed")
	unproven("something changed")
	// In one batch, the controls count for the blocked probe.
	Expect(t, a.Reaches(b80), a.CannotReach(b22))

	// The destination's control is missing alone.
	n.Changed("test: again")
	Expect(t, a.Reaches(c80))
	unproven("no probe from another namespace has completed a round trip to b")

	// A source address the client does not have fails before the network.
	bogus := Client{Name: "a with a foreign source", NS: a.NS, Src: netip.MustParseAddr("172.17.9.9")}
	Expect(t, a.Reaches(b80))
	if msg := bogus.CannotReach(b22).Run().Problem(); !strings.Contains(msg, "before reaching the network") {
		t.Errorf("blocked from a source the client lacks: Problem() = %q, want it refused", msg)
	}
}
