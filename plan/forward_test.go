package plan

import (
	"bytes"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netctl/netctl/schema"
)

// fwdState is a desired state of a file with one bridge, ip_forward as want
// ("" leaves it out), forward_others as others.
func fwdState(want, others string, firewall bool) State {
	cfg := &schema.Config{Firewall: firewall, ForwardOthers: others,
		Bridges: []schema.Bridge{{Name: "docker0", Address: pfx("172.17.0.1/16"), MTU: 1500, ICC: true, Masquerade: firewall}}}
	if want != "" {
		cfg.IPForward = ptr(want == "1")
	}
	return Desired(cfg)
}

// fwdLive is a live state with ip_forward at have ("" unread) and netctl's
// table holding the forward_others rule with comment memory ("" none).
func fwdLive(have, memory string) State {
	live := liveOf(fwdState("", "", true))
	live.Sysctls = map[string]string{}
	if have != "" {
		live.Sysctls[SysctlIPForward] = have
	}
	if memory != "" {
		fwd := live.Firewall.Chain(ChainForward)
		fwd.Rules = append(fwd.Rules, Rule{Comment: memory, Match: []Match{{Key: KeyNFProto, Value: "ipv4"}}, Verdict: VerdictDrop})
	}
	return live
}

const (
	memory = "firewall.forward_others.ipv4.switched_by_netctl"
	plain  = "firewall.forward_others.ipv4"
)

func TestDecideForward(t *testing.T) {
	for _, tc := range []struct {
		name             string
		desired          State
		live             State
		switched         bool
		verdict, comment string
		warning          string // a word of it; "" for none
	}{
		{"netctl switches forwarding on", fwdState("1", "", true), fwdLive("0", ""), true, VerdictDrop, memory, ""},
		{"a later apply remembers", fwdState("1", "", true), fwdLive("1", memory), true, VerdictDrop, memory, ""},
		{"forwarding was already on", fwdState("1", "", true), fwdLive("1", ""), false, "", "", "ip_forward was already 1"},
		{"accept: no drop, memory kept", fwdState("1", "accept", true), fwdLive("0", ""), true, VerdictAccept, memory, ""},
		{"accept, remembered", fwdState("1", "accept", true), fwdLive("1", memory), true, VerdictAccept, memory, ""},
		{"accept, already on: nothing", fwdState("1", "accept", true), fwdLive("1", ""), false, "", "", ""},
		{"drop, already on", fwdState("1", "drop", true), fwdLive("1", ""), false, VerdictDrop, plain, ""},
		{"drop, netctl switches", fwdState("1", "drop", true), fwdLive("0", ""), true, VerdictDrop, memory, ""},
		{"drop, ip_forward not in the file", fwdState("", "drop", true), fwdLive("1", ""), false, VerdictDrop, plain, ""},
		{"forwarding switched off: forgotten", fwdState("0", "", true), fwdLive("1", memory), false, "", "", ""},
		{"ip_forward left out of the file: still remembered", fwdState("", "", true), fwdLive("1", memory), true, VerdictDrop, memory, ""},
		{"someone switched it off: forgotten", fwdState("", "", true), fwdLive("0", memory), false, "", "", ""},
		{"destroy: the memory goes", State{}, fwdLive("1", memory), true, "", "", "netctl forgets that it switched forwarding on"},
		{"destroy, sysctl not read", State{}, fwdLive("", memory), false, "", "", "ip_forward is left as it is and the rule"},
		{"firewall false: no table, no drop", fwdState("1", "", false), fwdLive("0", ""), true, "", "", ""},
		{"not in the file, already on: no warning", fwdState("", "", true), fwdLive("1", ""), false, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := DecideForward(tc.desired, tc.live)
			i := slices.IndexFunc(ds, func(d ForwardDecision) bool { return d.Sysctl == SysctlIPForward })
			if len(ds) != 2 || i < 0 {
				t.Fatalf("decisions %+v, want one per family", ds)
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
		})
	}
}

// A table of someone else's with the memory's comment is not netctl's
// memory.
func TestDecideForwardForeignTable(t *testing.T) {
	live := fwdLive("1", memory)
	live.Firewall.Owner = "someone"
	if d := DecideForward(fwdState("1", "", true), live)[0]; d.Remembered || d.Switched {
		t.Errorf("a foreign table's rule taken as netctl's memory: %+v", d)
	}
}

func TestResolveForward(t *testing.T) {
	desired := fwdState("1", "", true)
	desired.Bridges["released"] = Bridge{Name: "released", Kind: "bridge"} // Resolve's release: not netctl's any more
	before := cloneState(desired)
	got, ws := ResolveForward(desired, fwdLive("0", ""))
	if len(ws) != 0 {
		t.Errorf("warnings %q, want none", ws)
	}
	if !reflect.DeepEqual(before, desired) {
		t.Errorf("ResolveForward changed its argument:\n%+v\n%+v", before, desired)
	}
	fwd := got.Firewall.Chain(ChainForward)
	last := fwd.Rules[len(fwd.Rules)-1]
	if want := `meta nfproto ipv4 iifname != @bridges oifname != @bridges drop`; last.String() != want || last.Comment != memory {
		t.Errorf("last rule of the forward chain: %s comment %q, want %s comment %q", last, last.Comment, want, memory)
	}
	set := got.Firewall.Set(SetBridges)
	if set == nil {
		t.Fatalf("no set %s", SetBridges)
	}
	if want := []Element{{Key: `"docker0"`, Comment: "bridge.docker0.forward_others"}}; !cmp.Equal(set.Elements, want) {
		t.Errorf("set %s: %v, want %v", SetBridges, set.Elements, want)
	}
	var names []string
	for _, s := range got.Firewall.Sets {
		names = append(names, s.Name)
	}
	if want := []string{SetAllowedSources, SetBridges, SetLinks}; !cmp.Equal(names, want) {
		t.Errorf("sets %v, want sorted %v", names, want)
	}
	// Again on its result (a saved plan's desired state): the same.
	again, _ := ResolveForward(got, fwdLive("0", ""))
	if !reflect.DeepEqual(got, again) {
		t.Errorf("ResolveForward twice differs from once:\n%+v\n%+v", got.Firewall, again.Firewall)
	}
	// And against the live state after the apply: nothing to do.
	if p := Diff(got, liveOf(got)); !p.Empty() {
		t.Errorf("not idempotent: %v", p.Changes)
	}
	after := liveOf(got)
	after.Sysctls = maps.Clone(after.Sysctls) // with the IPv4-only bridge's bridge-nf-call-ip6tables (issue 14)
	after.Sysctls[SysctlIPForward] = "1"
	if again, _ := ResolveForward(desired, after); !Diff(again, after).Empty() {
		t.Errorf("the apply after the first would change %v", Diff(again, after).Changes)
	}
}

// TestForwardPlanText: the plan says what is dropped and why, the JSON
// carries the rule and the warning.
func TestForwardPlanText(t *testing.T) {
	for _, tc := range []struct {
		name    string
		desired State
		live    State
		text    []string
	}{
		{"switched on", fwdState("1", "", true), fwdLive("0", ""), []string{
			"# firewall.forward_others.ipv4.switched_by_netctl will be created: forwarding between interfaces that are not netctl's bridges will be dropped, because netctl switches forwarding on",
			`nft     = "meta nfproto ipv4 iifname != @bridges oifname != @bridges drop"`,
		}},
		{"already on", fwdState("1", "", true), fwdLive("1", ""), []string{
			"Warning: ip_forward was already 1: netctl leaves forwarding between other interfaces alone; set forward_others: drop to close it.",
		}},
		{"destroy", State{}, fwdLive("1", memory), []string{
			"# firewall.forward_others.ipv4.switched_by_netctl will be destroyed: forwarding between interfaces that are not netctl's bridges is no longer dropped, and netctl forgets that it switched forwarding on",
			"Warning: net.ipv4.ip_forward stays 1 and the rule firewall.forward_others.ipv4.switched_by_netctl goes with netctl's table",
		}},
		{"accept", fwdState("1", "accept", true), fwdLive("0", ""), []string{
			"will be created: forwarding between interfaces that are not netctl's bridges stays open (forward_others: accept)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			desired, ws := ResolveForward(tc.desired, tc.live)
			p := Diff(desired, tc.live)
			p.Warnings = ws
			var text, js bytes.Buffer
			if err := p.WriteText(&text, TextOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.text {
				if !strings.Contains(text.String(), want) {
					t.Errorf("plan lacks %q:\n%s", want, text.String())
				}
			}
			if err := p.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			for _, w := range ws {
				if !strings.Contains(js.String(), w[:20]) {
					t.Errorf("JSON plan lacks the warning %q:\n%s", w, js.String())
				}
			}
			if tc.name == "switched on" && !strings.Contains(js.String(), `"address":"`+memory+`"`) {
				t.Errorf("JSON plan lacks the rule %s:\n%s", memory, js.String())
			}
		})
	}
}

func TestForwardOthersOf(t *testing.T) {
	for _, tc := range []struct {
		comment, verdict, want string
	}{
		{memory, VerdictDrop, ""},
		{memory, VerdictAccept, ForwardOthersAccept},
		{plain, VerdictDrop, ForwardOthersDrop},
		{"", "", ""},
	} {
		live := fwdLive("1", "")
		if tc.comment != "" {
			fwd := live.Firewall.Chain(ChainForward)
			fwd.Rules = append(fwd.Rules, Rule{Comment: tc.comment, Verdict: tc.verdict})
		}
		if got := ForwardOthersOf(live.Firewall); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.comment, tc.verdict, got, tc.want)
		}
	}
}

// Resolve settles the forward_others rule too, so every caller that
// resolves (apply.Plan, show, show PLANFILE) plans it alike; and Resolve of
// its own result is unchanged.
func TestResolveSettlesForward(t *testing.T) {
	live := fwdLive("0", "")
	got, err := Resolve(fwdState("1", "", true), live)
	if err != nil {
		t.Fatal(err)
	}
	if fwd := got.Firewall.Chain(ChainForward); !slices.ContainsFunc(fwd.Rules, func(r Rule) bool { return r.Comment == memory }) {
		t.Errorf("Resolve left out the forward_others rule: %v", comments(fwd))
	}
	again, err := Resolve(got, live)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, again) {
		t.Errorf("Resolve of its own result differs:\n%+v\n%+v", got.Firewall, again.Firewall)
	}
}

// TestDecideForwardIPv6: each family remembers its own switch; ip6_forward
// switched on by netctl gets its own drop, and IPv4's decision is untouched.
func TestDecideForwardIPv6(t *testing.T) {
	desired := fwdState("", "", true)
	desired.Sysctls[SysctlIP6Forward] = "1"
	for _, tc := range []struct {
		name     string
		have     string // live ip6_forward
		memory   bool   // the IPv6 rule remembers
		switched bool
		verdict  string
		warning  string
	}{
		{"netctl switches ip6_forward on", "0", false, true, VerdictDrop, ""},
		{"a later apply remembers", "1", true, true, VerdictDrop, ""},
		{"already on", "1", false, false, "", "ip6_forward was already 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live := fwdLive("", "")
			live.Sysctls[SysctlIP6Forward] = tc.have
			if tc.memory {
				fwd := live.Firewall.Chain(ChainForward)
				fwd.Rules = append(fwd.Rules, Rule{Comment: "firewall.forward_others.ipv6.switched_by_netctl", Match: []Match{{Key: KeyNFProto, Value: "ipv6"}}, Verdict: VerdictDrop})
			}
			var v4, v6 ForwardDecision
			for _, d := range DecideForward(desired, live) {
				switch d.Sysctl {
				case SysctlIPForward:
					v4 = d
				case SysctlIP6Forward:
					v6 = d
				}
			}
			if v4.Switched || v4.Verdict != "" {
				t.Errorf("IPv4 decision %+v, want none (ip_forward not in the file)", v4)
			}
			if v6.Switched != tc.switched || v6.Verdict != tc.verdict {
				t.Errorf("IPv6: switched %v verdict %q, want %v %q", v6.Switched, v6.Verdict, tc.switched, tc.verdict)
			}
			if (tc.warning == "") != (v6.Warning == "") || !strings.Contains(v6.Warning, tc.warning) {
				t.Errorf("IPv6 warning %q, want one with %q", v6.Warning, tc.warning)
			}
			r, ok := v6.Rule()
			if want := tc.verdict != ""; ok != want {
				t.Fatalf("IPv6 rule %v, want %v", ok, want)
			}
			if ok && (r.Match[0] != Match{Key: KeyNFProto, Value: "ipv6"}) {
				t.Errorf("IPv6 rule matches %+v, want meta nfproto ipv6 first", r.Match)
			}
		})
	}
}
