package explain

import (
	"strings"
	"testing"

	"github.com/netctl/netctl/plan"
)

// TestForwardOthersRule: the forward_others rule netctl writes when it
// switched ip_forward on concerns only traffic that touches none of its
// bridges; explain walks it (meta nfproto, the @bridges lookups) and finds
// that flows to and from the bridges pass it, with no drift.
func TestForwardOthersRule(t *testing.T) {
	cfg := load(t, testFile)
	for _, tc := range []struct {
		name   string
		mutate func(r *plan.Rule)
	}{
		{"as netctl writes it", func(*plan.Rule) {}},
		// Without the family match the lookups alone decide.
		{"lookups only", func(r *plan.Rule) { r.Match = r.Match[1:] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live, _ := plan.ResolveForward(liveOf(cfg), plan.State{Sysctls: map[string]string{plan.SysctlIPForward: "0"}})
			fwd := live.Firewall.Chain(plan.ChainForward)
			last := &fwd.Rules[len(fwd.Rules)-1]
			if !plan.IsForwardOthersRule(*last) {
				t.Fatalf("no forward_others rule last: %+v", fwd.Rules)
			}
			last.Handle = 99
			tc.mutate(last)
			for _, f := range [][3]string{
				{"docker0/web", "203.0.113.10", "443"},
				{"198.51.100.20", "api", "8000"},
				{"192.0.2.77", "db", "5432"},
			} {
				from, err := Resolve(cfg, f[0])
				if err != nil {
					t.Fatal(err)
				}
				to, err := Resolve(cfg, f[1])
				if err != nil {
					t.Fatal(err)
				}
				proto, port, err := ParsePort(f[2])
				if err != nil {
					t.Fatal(err)
				}
				a := Explain(Input{Config: cfg, Live: live}, Flow{From: from, To: to, Proto: proto, Port: port})
				var texts []string
				for _, s := range a.Path {
					texts = append(texts, s.Text)
				}
				if a.Verdict != Allowed {
					t.Errorf("%s → %s: %s, want allowed; path:\n  %s", f[0], f[1], a.Verdict, strings.Join(texts, "\n  "))
				}
				if tc.name == "as netctl writes it" && len(a.Drift) > 0 {
					t.Errorf("%s → %s: drift %v, want none (the file's apply wrote this rule)", f[0], f[1], a.Drift)
				}
			}
		})
	}
}
