package testnet

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/nstest"
)

// portState reads a bridge port's state with the bridge tool, an observer
// independent of ReadLinkState.
func portState(t *testing.T, ns, port string) string {
	t.Helper()
	var links []struct {
		IfName string `json:"ifname"`
		State  string `json:"state"`
	}
	out := nstest.Run(t, "bridge", "-n", ns, "-j", "link", "show", "dev", port)
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("bridge -j link show dev %s: %v\n%s", port, err, out)
	}
	return links[0].State
}

// TestAddContainerWaitsForForwarding: on a bridge with STP on, a new port
// spends twice the forward delay listening and learning before it forwards.
// AddContainer returns only once it forwards, so the first probe after it
// connects (without the wait, the port is still listening when it returns).
func TestAddContainerWaitsForForwarding(t *testing.T) {
	n := New(t)
	// forward_delay is in hundredths of a second: 2 s, the kernel's minimum
	// with STP on.
	nstest.Run(t, "ip", "-n", n.Host, "link", "add", "br0", "type", "bridge", "stp_state", "1", "forward_delay", "200")
	nstest.Run(t, "ip", "-n", n.Host, "addr", "add", "172.17.0.1/16", "dev", "br0")
	nstest.Run(t, "ip", "-n", n.Host, "link", "set", "br0", "up")
	a := n.AddContainer(t, "a", "br0", addrA, gw)
	if got := portState(t, n.Host, a.HostVeth); got != "forwarding" {
		t.Fatalf("AddContainer returned with the bridge port %s, want forwarding", got)
	}
	gw80 := n.ListenHost(t, "tcp", gw, 8080)
	Expect(t, a.Reaches(gw80))
}

// TestWaitReadyWaitsForForwarding: a port held learning makes WaitReady
// wait, however long, and it returns as soon as the port forwards; with the
// port held, it gives up at its limit naming the port's state. Carrier is
// waited for the same way.
func TestWaitReadyWaitsForForwarding(t *testing.T) {
	n := New(t)
	handBridge(t, n)
	a := n.AddContainer(t, "a", "br0", addrA, gw)
	host, peer := End{n.Host, a.HostVeth}, End{a.NS, "eth0"}

	// STP is off: the port's state is ours to set. Learning (2) sticks;
	// blocking would be made forwarding again by the kernel's port state
	// selection at once.
	nstest.Run(t, "bridge", "-n", n.Host, "link", "set", "dev", a.HostVeth, "state", "2")
	if got := portState(t, n.Host, a.HostVeth); got != "learning" {
		t.Fatalf("port state %s after setting it learning", got)
	}
	err := WaitReady(time.Millisecond, host, peer)
	if err == nil || !strings.Contains(err.Error(), a.HostVeth+": bridge port learning") {
		t.Errorf("WaitReady on a learning port with a short limit: %v; want an error naming the port and its state", err)
	}

	// Wait with the generous limit; let the port forward only once the
	// wait has seen it learning, then it must return without error.
	sawLearning := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- waitReady(ReadyLimit, func(e End, st LinkState) {
			if e == host && st.PortState == brStateLearning {
				once.Do(func() { close(sawLearning) })
			}
		}, host, peer)
	}()
	select {
	case <-sawLearning:
	case err := <-done:
		t.Fatalf("WaitReady returned (%v) before seeing the port learning", err)
	}
	select {
	case err := <-done:
		t.Fatalf("WaitReady returned (%v) while the port is learning", err)
	default:
	}
	nstest.Run(t, "bridge", "-n", n.Host, "link", "set", "dev", a.HostVeth, "state", "3")
	if err := <-done; err != nil {
		t.Fatalf("WaitReady after the port forwards: %v", err)
	}

	// No carrier: the container's end down takes the host end's carrier too.
	nstest.Run(t, "ip", "-n", a.NS, "link", "set", "eth0", "down")
	err = WaitReady(time.Millisecond, host, peer)
	if err == nil || !strings.Contains(err.Error(), "no carrier") {
		t.Errorf("WaitReady with eth0 down: %v; want no carrier", err)
	}
	nstest.Run(t, "ip", "-n", a.NS, "link", "set", "eth0", "up")
	if err := WaitReady(ReadyLimit, host, peer); err != nil {
		t.Errorf("WaitReady after eth0 is up again: %v", err)
	}
}
