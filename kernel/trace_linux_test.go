package kernel

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/kernel/nfwire"
	"github.com/netctl/netctl/plan"
)

func hasTraceChain(t *testing.T, ns string) bool {
	t.Helper()
	return strings.Contains(nstest.Exec(t, ns, "nft", "list", "table", "inet", "netctl"), "chain trace")
}

// TestTraceChainLifecycle: a running trace's chain is the process's own
// (RemoveStaleTrace leaves it), is not drift, and Stop removes it after a
// timeout; a chain marked by a process that is gone is removed.
func TestTraceChainLifecycle(t *testing.T) {
	requireNft(t)
	h, ns := openNS(t)
	fw := linksFirewall(10)
	if err := h.SyncFirewall(nil, fw); err != nil {
		t.Fatal(err)
	}
	before := read(t, h, plan.Scope{})
	tr, err := h.StartTrace(TraceFlow{Src: netip.MustParseAddr("172.17.0.2"), Dst: netip.MustParseAddr("172.17.0.3"), Proto: "tcp", Port: 5432})
	if err != nil {
		t.Fatal(err)
	}
	if !hasTraceChain(t, ns) {
		t.Fatal("no trace chain after StartTrace")
	}
	if removed, err := h.RemoveStaleTrace(); err != nil || removed {
		t.Errorf("RemoveStaleTrace of a running trace: removed %v, %v", removed, err)
	}
	live := read(t, h, plan.Scope{})
	if live.Firewall.Chain(plan.ChainTrace) == nil {
		t.Error("Read does not see the trace chain")
	}
	if p := plan.Diff(plan.State{Firewall: before.Firewall}, plan.State{Firewall: live.Firewall}); !p.Empty() {
		t.Errorf("the trace chain is drift: %v", p.Changes)
	}
	if _, err := tr.Wait(context.Background(), 200*time.Millisecond); !errors.Is(err, ErrTraceTimeout) {
		t.Errorf("Wait with no traffic: %v, want ErrTraceTimeout", err)
	}
	if err := tr.Stop(); err != nil {
		t.Fatal(err)
	}
	if hasTraceChain(t, ns) {
		t.Error("the trace chain remains after Stop")
	}

	// A leftover: marked by a process that is not running.
	nstest.Exec(t, ns, "nft", "add", "chain", "inet", "netctl", "trace", "{ type filter hook forward priority -10; policy accept; }")
	nstest.Exec(t, ns, "nft", "add", "rule", "inet", "netctl", "trace", "meta", "nftrace", "set", "1", "comment", `"netctl.trace pid 1 start 0"`)
	if removed, err := h.RemoveStaleTrace(); err != nil || !removed {
		t.Errorf("RemoveStaleTrace of a leftover: removed %v, %v", removed, err)
	}
	if hasTraceChain(t, ns) {
		t.Error("the leftover trace chain remains")
	}
	// Nothing to remove: no error, nothing removed; also without a table.
	if removed, err := h.RemoveStaleTrace(); err != nil || removed {
		t.Errorf("RemoveStaleTrace with no trace chain: %v, %v", removed, err)
	}
	if err := h.SyncFirewall(fw, nil); err != nil {
		t.Fatal(err)
	}
	if removed, err := h.RemoveStaleTrace(); err != nil || removed {
		t.Errorf("RemoveStaleTrace with no table: %v, %v", removed, err)
	}

}

// TestParseTrace: trace notifications as the kernel writes them.
func TestParseTrace(t *testing.T) {
	msg := func(family byte, typ uint32, handle uint64, verdict int32, policy uint32) netlink.Message {
		w := &nfwire.Writer{}
		w.Str(unix.NFTA_TRACE_TABLE, "netctl")
		w.Str(unix.NFTA_TRACE_CHAIN, "filter-forward")
		w.U32(unix.NFTA_TRACE_TYPE, typ)
		w.U32(unix.NFTA_TRACE_ID, 0xabc)
		if handle != 0 {
			w.Binary(unix.NFTA_TRACE_RULE_HANDLE, binary.BigEndian.AppendUint64(nil, handle))
		}
		if typ == unix.NFT_TRACETYPE_POLICY {
			w.U32(unix.NFTA_TRACE_POLICY, policy)
		} else {
			n := w.Begin(unix.NFTA_TRACE_VERDICT)
			w.U32(unix.NFTA_VERDICT_CODE, uint32(verdict))
			w.End(n)
		}
		return netlink.Message{
			Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_TRACE)},
			Data:   append([]byte{family, 0, 0, 0}, w.B...),
		}
	}
	cases := []struct {
		m    netlink.Message
		want string
	}{
		{msg(unix.NFPROTO_INET, unix.NFT_TRACETYPE_RULE, 9, 0, 0), "table inet netctl chain filter-forward rule handle 9: drop"},
		{msg(unix.NFPROTO_INET, unix.NFT_TRACETYPE_RULE, 8, 1, 0), "table inet netctl chain filter-forward rule handle 8: accept"},
		{msg(unix.NFPROTO_IPV4, unix.NFT_TRACETYPE_POLICY, 0, 0, 0), "table ip netctl chain filter-forward policy: drop"},
		{msg(unix.NFPROTO_INET, unix.NFT_TRACETYPE_RULE, 0, unix.NFT_CONTINUE, 0), "table inet netctl chain filter-forward end: continue"},
	}
	for _, c := range cases {
		ev, ok := parseTrace(c.m)
		if !ok || ev.String() != c.want || ev.ID != 0xabc {
			t.Errorf("parseTrace = %q (id %#x, ok %v), want %q", ev, ev.ID, ok, c.want)
		}
	}
	if _, ok := parseTrace(netlink.Message{Data: []byte{1}}); ok {
		t.Error("a short message parsed")
	}
}
