package plan

import (
	"slices"
	"strings"
	"testing"
)

// TestDecideForwardMemoryOutsideTable: the memory kept outside the table
// (live ForwardMemory) remembers that netctl switched forwarding on when the
// table's rule is gone — the ruleset flushed, the table deleted, the rule
// deleted — so the drop comes back without the "already on" warning; the
// resolved desired state says what the memory must be after the apply.
func TestDecideForwardMemoryOutsideTable(t *testing.T) {
	v4, v6 := []string{SysctlIPForward}, []string{SysctlIP6Forward}
	flushed := func(have string, mem []string) State {
		return State{Sysctls: map[string]string{SysctlIPForward: have}, ForwardMemory: mem}
	}
	ruleGone := fwdLive("1", "")
	ruleGone.ForwardMemory = v4
	for _, tc := range []struct {
		name             string
		desired, live    State
		switched         bool
		verdict, comment string
		warning          string   // a word of it; "" for none
		kept             []string // the desired state's ForwardMemory
	}{
		{"ruleset flushed: remembered", fwdState("1", "", true), flushed("1", v4), true, VerdictDrop, memory, "", v4},
		{"rule deleted from the table: remembered", fwdState("1", "", true), ruleGone, true, VerdictDrop, memory, "", v4},
		{"both memories", fwdState("1", "", true), func() State { l := fwdLive("1", memory); l.ForwardMemory = v4; return l }(), true, VerdictDrop, memory, "", v4},
		{"table's rule only (written before the memory file): kept in both again", fwdState("1", "", true), fwdLive("1", memory), true, VerdictDrop, memory, "", v4},
		{"flushed, accept: the accept and the memory stay", fwdState("1", "accept", true), flushed("1", v4), true, VerdictAccept, memory, "", v4},
		{"flushed, drop: the memory stays", fwdState("1", "drop", true), flushed("1", v4), true, VerdictDrop, memory, "", v4},
		{"flushed, ip_forward left out of the file: remembered", fwdState("", "", true), flushed("1", v4), true, VerdictDrop, memory, "", v4},
		{"no memory: already on, warned, nothing to keep", fwdState("1", "", true), flushed("1", nil), false, "", "", "ip_forward was already 1", nil},
		{"the other family's memory only", fwdState("1", "", true), flushed("1", v6), false, "", "", "ip_forward was already 1", nil},
		{"forwarding switched off in the file: forgotten", fwdState("0", "", true), flushed("1", v4), false, "", "", "", nil},
		{"someone switched it off: forgotten", fwdState("", "", true), flushed("0", v4), false, "", "", "", nil},
		{"switched on again: remembered anew", fwdState("1", "", true), flushed("0", nil), true, VerdictDrop, memory, "", v4},
		{"destroy: forgotten, and said", State{}, flushed("1", v4), true, "", "", "netctl forgets that it switched forwarding on (its memory outside the table goes too)", nil},
		{"firewall false: no table, no memory", fwdState("1", "", false), flushed("1", v4), true, "", "", "netctl forgets", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := DecideForward(tc.desired, tc.live)
			i := slices.IndexFunc(ds, func(d ForwardDecision) bool { return d.Sysctl == SysctlIPForward })
			if i < 0 {
				t.Fatalf("no IPv4 decision in %+v", ds)
			}
			d := ds[i]
			if d.Switched != tc.switched || d.Verdict != tc.verdict {
				t.Errorf("switched %v verdict %q, want %v %q", d.Switched, d.Verdict, tc.switched, tc.verdict)
			}
			r, ok := d.Rule()
			if ok != (tc.comment != "") || r.Comment != tc.comment {
				t.Errorf("rule %q (%v), want comment %q", r.Comment, ok, tc.comment)
			}
			if (tc.warning == "") != (d.Warning == "") || !strings.Contains(d.Warning, tc.warning) {
				t.Errorf("warning %q, want one with %q", d.Warning, tc.warning)
			}
			got, ws := ResolveForward(tc.desired, tc.live)
			if !slices.Equal(got.ForwardMemory, tc.kept) {
				t.Errorf("desired ForwardMemory %q, want %q", got.ForwardMemory, tc.kept)
			}
			if tc.warning == "" && len(ws) > 0 {
				t.Errorf("warnings %q, want none", ws)
			}
			// Idempotent: a saved plan's desired state resolves the same.
			if again, _ := ResolveForward(got, tc.live); !slices.Equal(again.ForwardMemory, got.ForwardMemory) {
				t.Errorf("ResolveForward twice: memory %q, once %q", again.ForwardMemory, got.ForwardMemory)
			}
		})
	}
}

// TestForwardMemoryPerFamily: each family's memory brings back its own
// rule; both are kept, sorted.
func TestForwardMemoryPerFamily(t *testing.T) {
	desired := fwdState("1", "", true)
	desired.Sysctls[SysctlIP6Forward] = "1"
	live := State{Sysctls: map[string]string{SysctlIPForward: "1", SysctlIP6Forward: "1"},
		ForwardMemory: []string{SysctlIP6Forward, SysctlIPForward}}
	got, ws := ResolveForward(desired, live)
	if len(ws) != 0 {
		t.Errorf("warnings %q, want none", ws)
	}
	fwd := got.Firewall.Chain(ChainForward)
	want := []string{"firewall.forward_others.ipv4.switched_by_netctl", "firewall.forward_others.ipv6.switched_by_netctl"}
	if cs := comments(fwd); !slices.Equal(cs[len(cs)-2:], want) {
		t.Errorf("forward chain ends with %q, want %q", cs, want)
	}
	if w := []string{SysctlIPForward, SysctlIP6Forward}; !slices.Equal(got.ForwardMemory, w) {
		t.Errorf("ForwardMemory %q, want %q (sorted)", got.ForwardMemory, w)
	}
}
