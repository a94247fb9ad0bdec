package kernel

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/kernel/nfwire"
	"github.com/netctl/netctl/plan"
)

// Tracing (netctl explain --trace): a base chain of netctl's table,
// plan.ChainTrace, on the forward hook before filter-forward, holds one
// rule that sets meta nftrace on exactly one flow; the kernel then reports
// every rule and policy that flow's packets meet, in every table, on the
// NFNLGRP_NFTRACE group. The rule's comment names the process that added
// it (pid and start time), so that any later netctl run removes a chain
// whose process is gone (killed), as a journal is recovered.

// tracePriority puts the trace chain before filter-forward (priority 0).
const tracePriority = -10

// traceCommentPrefix starts the trace rule's comment.
const traceCommentPrefix = "netctl.trace "

// TraceFlow is the flow to trace: its first packet as the forward hook sees
// it.
type TraceFlow struct {
	Src, Dst netip.Addr
	Proto    string // tcp, udp, sctp
	Port     uint16
}

// TraceEvent is one trace notification: a rule that matched with its
// verdict, a chain's policy, or a return from a chain.
type TraceEvent struct {
	Family  string `json:"family"`
	Table   string `json:"table"`
	Chain   string `json:"chain"`
	Type    string `json:"type"` // rule, policy, return
	Handle  uint64 `json:"handle,omitempty"`
	Verdict string `json:"verdict"`
	ID      uint32 `json:"-"`
}

// String names the kernel object and its verdict, as nft monitor trace
// does.
func (e TraceEvent) String() string {
	s := "table " + e.Family + " " + e.Table + " chain " + e.Chain
	switch e.Type {
	case "rule":
		if e.Handle == 0 { // the kernel's end-of-chain marker
			s += " end"
		} else {
			s += " rule handle " + strconv.FormatUint(e.Handle, 10)
		}
	case "policy":
		s += " policy"
	case "return":
		s += " return"
	}
	return s + ": " + e.Verdict
}

// ErrTraceTimeout: no packet of the flow passed before the timeout.
var ErrTraceTimeout = errors.New("no packet of the flow was seen")

// Trace is a running trace: Wait for the flow, then Stop (always).
type Trace struct {
	h *Handle
	c *netlink.Conn
}

// StartTrace subscribes to trace notifications, then adds the trace chain
// and rule for the flow. netctl's table must exist.
func (h *Handle) StartTrace(f TraceFlow) (*Trace, error) {
	proto, ok := map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "sctp": unix.IPPROTO_SCTP}[f.Proto]
	if !ok || !f.Src.IsValid() || f.Src.Is4() != f.Dst.Is4() || f.Src.Is4In6() || f.Dst.Is4In6() {
		return nil, fmt.Errorf("trace: unsupported flow %v → %v %d/%s", f.Src, f.Dst, f.Port, f.Proto)
	}
	if _, err := h.RemoveStaleTrace(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.open(); err != nil {
		return nil, err
	}
	nsfd := 0
	if h.nsfd >= 0 {
		nsfd = h.nsfd
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: nsfd})
	if err != nil {
		return nil, mapPermission(fmt.Errorf("trace socket: %w", err))
	}
	if err := c.JoinGroup(unix.NFNLGRP_NFTRACE); err != nil {
		c.Close()
		return nil, mapPermission(fmt.Errorf("joining the nftables trace group: %w", err))
	}
	_ = nfwire.SetBuffers(c, 4<<20) // a busy host traces other flows too

	b := &nfwire.Batch{}
	if err := addChain(b, &plan.Chain{Name: plan.ChainTrace, Type: "filter", Hook: "forward", Priority: tracePriority, Policy: plan.VerdictAccept}); err != nil {
		c.Close()
		return nil, err
	}
	// The flow's family: the addresses' offsets in the network header
	// (ip saddr/daddr at 12/16, ip6 saddr/daddr at 8/24).
	nfproto, srcOff, dstOff := byte(unix.NFPROTO_IPV4), uint32(12), uint32(16)
	if f.Src.Is6() {
		nfproto, srcOff, dstOff = unix.NFPROTO_IPV6, 8, 24
	}
	src, dst := f.Src.AsSlice(), f.Dst.AsSlice()
	es := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: srcOff, Len: uint32(len(src))},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: src},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: dstOff, Len: uint32(len(dst))},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: dst},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(f.Port >> 8), byte(f.Port)}},
		&expr.Immediate{Register: 1, Data: []byte{1}},
		&expr.Meta{Key: expr.MetaKeyNFTRACE, Register: 1, SourceRegister: true},
	}
	w := tableAttr(unix.NFTA_RULE_TABLE)
	w.Str(unix.NFTA_RULE_CHAIN, plan.ChainTrace)
	n := w.Begin(unix.NFTA_RULE_EXPRESSIONS)
	for _, e := range es {
		data, err := expr.Marshal(familyInet, e)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("trace rule: %w", err)
		}
		m := w.Begin(unix.NFTA_LIST_ELEM)
		w.B = append(w.B, data...)
		w.End(m)
	}
	w.End(n)
	w.Binary(unix.NFTA_RULE_USERDATA, commentUserdata(traceCommentPrefix+selfMark()))
	b.Add(unix.NFT_MSG_NEWRULE, netlink.Create|netlink.Append, familyInet, w, "add the trace rule")
	if err := h.nft.Send(b); err != nil {
		c.Close()
		if isNotFound(err) {
			return nil, fmt.Errorf("no table %s %s to trace in (firewall: false?): %w", plan.TableFamily, plan.TableName, err)
		}
		return nil, mapPermission(err)
	}
	return &Trace{h: h, c: c}, nil
}

// quiet is how long after a packet's last notification the trace waits for
// more of that packet (all of them come from one pass through the hooks).
const quiet = 300 * time.Millisecond

// Wait returns the notifications about the first packet of the flow: until
// a drop, or until the packet's notifications stop. It gives up with
// ErrTraceTimeout after timeout, and with ctx's error when ctx ends.
func (t *Trace) Wait(ctx context.Context, timeout time.Duration) ([]TraceEvent, error) {
	end := time.Now().Add(timeout)
	var (
		events []TraceEvent
		id     uint32
		last   time.Time
		// Chains that gave the packet its verdict: an event in one of them
		// again is the flow's next packet (its trace ID is the same).
		ended = map[[3]string]bool{}
	)
	for {
		if err := ctx.Err(); err != nil {
			return events, err
		}
		next := time.Now().Add(100 * time.Millisecond)
		if next.After(end) {
			next = end
		}
		_ = t.c.SetReadDeadline(next)
		msgs, err := t.c.Receive()
		if err != nil {
			var ne interface{ Timeout() bool }
			if !errors.As(err, &ne) || !ne.Timeout() {
				return events, fmt.Errorf("reading trace notifications: %w", err)
			}
		}
		for _, m := range msgs {
			ev, ok := parseTrace(m)
			if !ok || ev.Chain == plan.ChainTrace && ev.Table == plan.TableName && ev.Family == "inet" {
				continue // the trace chain itself
			}
			if id == 0 {
				id = ev.ID
			}
			if ev.ID != id {
				continue
			}
			chain := [3]string{ev.Family, ev.Table, ev.Chain}
			if ended[chain] {
				return events, nil
			}
			if ev.Type == "policy" || ev.Verdict == "accept" || ev.Verdict == "drop" {
				ended[chain] = true
			}
			events = append(events, ev)
			last = time.Now()
			if ev.Verdict == "drop" {
				return events, nil
			}
		}
		now := time.Now()
		if id != 0 && now.Sub(last) >= quiet {
			return events, nil
		}
		if !now.Before(end) {
			if id != 0 {
				return events, nil
			}
			return nil, ErrTraceTimeout
		}
	}
}

// Stop closes the subscription and removes the trace chain and its rule.
func (t *Trace) Stop() error {
	t.c.Close()
	t.h.mu.Lock()
	defer t.h.mu.Unlock()
	if err := t.h.open(); err != nil {
		return err
	}
	return t.h.deleteTraceChain()
}

// deleteTraceChain flushes and deletes the trace chain in one batch; a
// chain already gone (the table deleted meanwhile) is no error.
func (h *Handle) deleteTraceChain() error {
	b := &nfwire.Batch{}
	w := tableAttr(unix.NFTA_RULE_TABLE)
	w.Str(unix.NFTA_RULE_CHAIN, plan.ChainTrace)
	b.Add(unix.NFT_MSG_DELRULE, 0, familyInet, w, "flush chain "+plan.ChainTrace)
	w = tableAttr(unix.NFTA_CHAIN_TABLE)
	w.Str(unix.NFTA_CHAIN_NAME, plan.ChainTrace)
	b.Add(unix.NFT_MSG_DELCHAIN, 0, familyInet, w, "delete chain "+plan.ChainTrace)
	if err := h.nft.Send(b); err != nil && !isNotFound(err) {
		return mapPermission(err)
	}
	return nil
}

// RemoveStaleTrace removes a trace chain whose process is gone (killed
// before it could remove it). It reports whether it removed one.
func (h *Handle) RemoveStaleTrace() (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.open(); err != nil {
		return false, err
	}
	w := tableAttr(unix.NFTA_RULE_TABLE)
	w.Str(unix.NFTA_RULE_CHAIN, plan.ChainTrace)
	found, alive := false, false
	err := h.nft.Dump(unix.NFT_MSG_GETRULE, familyInet, w, func(p []byte) error {
		chain, r, err := parseRule(p)
		if err != nil || chain != plan.ChainTrace {
			return err
		}
		found = true
		if mark, ok := strings.CutPrefix(r.Comment, traceCommentPrefix); ok && processAlive(mark) {
			alive = true
		}
		return nil
	})
	if isNotFound(err) {
		return false, nil // no table or no trace chain
	}
	if err != nil {
		return false, mapPermission(fmt.Errorf("reading the trace chain: %w", err))
	}
	if alive {
		return false, nil
	}
	// A chain without a rule cannot be a running trace (both are added in
	// one batch); a chain whose process is gone is a leftover.
	if !found {
		chains, err := h.lib.ListChainsOfTableFamily(nftables.TableFamilyINet)
		if err != nil {
			return false, mapPermission(err)
		}
		for _, c := range chains {
			if c.Table != nil && c.Table.Name == plan.TableName && c.Name == plan.ChainTrace {
				found = true
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, h.deleteTraceChain()
}

// selfMark identifies this process: its pid and its start time (clock
// ticks since boot, /proc/PID/stat field 22), so a reused pid is not taken
// for it.
func selfMark() string {
	pid := os.Getpid()
	return "pid " + strconv.Itoa(pid) + " start " + startTime(pid)
}

func processAlive(mark string) bool {
	var pid int
	var start string
	if _, err := fmt.Sscanf(mark, "pid %d start %s", &pid, &start); err != nil {
		return false
	}
	st := startTime(pid)
	return st != "" && st == start
}

func startTime(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The command name (field 2) may hold spaces: fields count from its ")".
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19] // field 22
}

// parseTrace decodes an NFT_MSG_TRACE notification.
func parseTrace(m netlink.Message) (TraceEvent, bool) {
	var ev TraceEvent
	if m.Header.Type != netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_TRACE) || len(m.Data) < 4 {
		return ev, false
	}
	ev.Family = map[byte]string{unix.NFPROTO_INET: "inet", unix.NFPROTO_IPV4: "ip", unix.NFPROTO_IPV6: "ip6",
		unix.NFPROTO_BRIDGE: "bridge", unix.NFPROTO_NETDEV: "netdev", unix.NFPROTO_ARP: "arp"}[m.Data[0]]
	a := nfwire.Attrs{B: m.Data[4:]}
	var policy uint32
	hasPolicy := false
	for {
		typ, d, ok := a.Next()
		if !ok {
			break
		}
		switch typ {
		case unix.NFTA_TRACE_TABLE:
			ev.Table = nfwire.CStr(d)
		case unix.NFTA_TRACE_CHAIN:
			ev.Chain = nfwire.CStr(d)
		case unix.NFTA_TRACE_RULE_HANDLE:
			ev.Handle = nfwire.BeU64(d)
		case unix.NFTA_TRACE_ID:
			ev.ID = nfwire.BeU32(d)
		case unix.NFTA_TRACE_TYPE:
			ev.Type = map[uint32]string{unix.NFT_TRACETYPE_RULE: "rule", unix.NFT_TRACETYPE_POLICY: "policy", unix.NFT_TRACETYPE_RETURN: "return"}[nfwire.BeU32(d)]
		case unix.NFTA_TRACE_POLICY:
			policy, hasPolicy = nfwire.BeU32(d), true
		case unix.NFTA_TRACE_VERDICT:
			ev.Verdict = traceVerdict(d)
		}
	}
	if ev.Type == "policy" && hasPolicy {
		ev.Verdict = policyName(policy)
	}
	return ev, ev.Type != ""
}

// traceVerdict reads a nested NFTA_VERDICT_CODE (and chain).
func traceVerdict(d []byte) string {
	a := nfwire.Attrs{B: d}
	code, chain := int32(0), ""
	for {
		typ, v, ok := a.Next()
		if !ok {
			break
		}
		switch typ {
		case unix.NFTA_VERDICT_CODE:
			code = int32(nfwire.BeU32(v))
		case unix.NFTA_VERDICT_CHAIN:
			chain = nfwire.CStr(v)
		}
	}
	switch code {
	case nfDrop:
		return "drop"
	case nfAccept:
		return "accept"
	case unix.NFT_CONTINUE:
		return "continue"
	case unix.NFT_BREAK:
		return "break"
	case unix.NFT_JUMP:
		return "jump " + chain
	case unix.NFT_GOTO:
		return "goto " + chain
	case unix.NFT_RETURN:
		return "return"
	}
	return "verdict " + strconv.Itoa(int(code))
}
