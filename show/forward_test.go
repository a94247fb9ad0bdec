package show

import (
	"strings"
	"testing"

	"github.com/netctl/netctl/plan"
)

// TestForwardOthers: a live table with a forward_others rule is written
// back with the forward_others that plans it again as it is, and without
// notes about a rule or set "not from a netctl file".
func TestForwardOthers(t *testing.T) {
	const file = "ip_forward: true\nbridges:\n  docker0: {address: 172.17.0.1/16}\n"
	for _, tc := range []struct {
		name, others, before, line string
	}{
		{"switched by netctl: the default", "", "0", ""},
		{"switched by netctl, accept", "accept", "0", "forward_others: accept"},
		{"already on, drop", "drop", "1", "forward_others: drop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := file
			if tc.others != "" {
				src = "forward_others: " + tc.others + "\n" + file
			}
			// The live state after an apply from ip_forward = before.
			live, _ := plan.ResolveForward(desired(t, "in", []byte(src)), plan.State{Sysctls: map[string]string{plan.SysctlIPForward: tc.before}})
			live = asLive(live)
			if live.Firewall.Set(plan.SetBridges) == nil {
				t.Fatalf("no forward_others rule to show: %+v", live.Firewall)
			}
			r := Config(live)
			if len(r.Residual) > 0 || len(r.Notes) > 0 {
				t.Fatalf("not a faithful file:\nnotes: %q\nresidual: %v\n%s", r.Notes, r.Residual, r.YAML)
			}
			if has := strings.Contains(r.YAML, "forward_others"); has != (tc.line != "") || !strings.Contains(r.YAML, tc.line) {
				t.Errorf("want %q in:\n%s", tc.line, r.YAML)
			}
		})
	}
}
