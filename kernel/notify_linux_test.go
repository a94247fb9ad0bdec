package kernel

import (
	"testing"
	"time"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/plan"
)

// next is the subscription's next event, with a generous backstop.
func next(t *testing.T, n *Notifications) Event {
	t.Helper()
	select {
	case ev := <-n.C:
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no notification within 30s")
	}
	return Event{}
}

// The subscription reports other processes' batches on netctl's table (with
// the committer), links with their names, and leaves out the handle's own
// batches and other tables. Events come in order, so the first event after
// an unreported change is the next reported one.
func TestNotifications(t *testing.T) {
	requireNft(t)
	h, ns := openNS(t)
	n, err := h.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	// The handle's own batch: not reported.
	if err := h.SyncFirewall(nil, plan.Desired(driftConfig()).Firewall); err != nil {
		t.Fatal(err)
	}
	// Another table: not reported.
	nstest.Exec(t, ns, "nft", "add", "table", "ip", "other")
	// Another process on netctl's table: reported, naming it.
	nstest.Exec(t, ns, "nft", "flush", "set", "inet", "netctl", "links")
	ev := next(t, n)
	if ev.Kind != EventNftables || ev.Comm != "nft" || ev.PID == 0 {
		t.Fatalf("first event %+v, want the nft flush (the handle's own batch and another table's are not reported)", ev)
	}
	nstest.Run(t, "ip", "-n", ns, "link", "add", "br-watch", "type", "bridge")
	for {
		ev = next(t, n)
		if ev.Kind == EventLink && ev.Name == "br-watch" {
			break
		}
		if ev.Kind == EventNftables {
			t.Fatalf("unexpected nftables event %+v", ev)
		}
	}
	nstest.Run(t, "ip", "-n", ns, "addr", "add", "192.0.2.1/24", "dev", "br-watch")
	for {
		ev = next(t, n)
		if ev.Kind == EventAddr && ev.Name == "br-watch" {
			break
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-n.C; ok {
		t.Fatal("C not closed by Close")
	}
}
