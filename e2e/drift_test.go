package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/testnet"
)

const driftConfig = `
ip_forward: true
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    icc: false
    containers:
      web: { address: 172.17.0.2, expose: [80/tcp] }
      db:  { address: 172.17.0.3, expose: [5432/tcp, 22/tcp] }
    links:
      - { from: web, to: db, ports: [5432/tcp] }
`

// planAddresses runs plan --json and returns every "address" string found
// in its resource_changes (the addresses of the changes; planned_values
// names every object, changed or not, so it is left out).
func (e *env) planAddresses(path string) []string {
	e.t.Helper()
	out, code := e.netctl("plan", "-f", path, "--json")
	if code != 0 {
		e.t.Errorf("netctl plan --json exited %d:\n%s", code, out)
		return nil
	}
	var doc struct {
		ResourceChanges any `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		e.t.Errorf("netctl plan --json is not JSON: %v\n%s", err, out)
		return nil
	}
	v := doc.ResourceChanges
	var addrs []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "address" {
					addrs = append(addrs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	return addrs
}

// wantDrift checks that plan sees changes (exit 2), and that the JSON plan
// names a change whose address contains every one of parts.
func (e *env) wantDrift(path string, parts ...string) {
	e.t.Helper()
	out, code := e.plan(path)
	if code != 2 {
		e.t.Errorf("netctl plan --detailed-exitcode after drift exited %d, want 2:\n%s", code, out)
		return
	}
	e.t.Logf("plan after drift:\n%s", out)
	addrs := e.planAddresses(path)
	for _, a := range addrs {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(a, p)
		}
		if ok {
			return
		}
	}
	e.t.Errorf("plan --json names no change with %q in its address; addresses: %q", parts, addrs)
}

// TestDriftRepaired: changes made behind netctl's back to what it owns are
// shown by plan (exit 2, naming the object) and undone by apply, and the
// connections show both the drift and the repair.
func TestDriftRepaired(t *testing.T) {
	cases := []struct {
		name  string
		drift func(e *env)
		// parts of the address of a change the plan must name
		names []string
		// during the drift: does web reach db:22 (unlinked) and db:5432
		// (linked)? nil: the test does not know (it depends on chain
		// policies); it then requires that something changed.
		reach22, reach5432 *bool
	}{
		{
			name:    "table deleted",
			drift:   func(e *env) { e.nft("delete", "table", "inet", "netctl") },
			names:   []string{"firewall"},
			reach22: ptr(true), reach5432: ptr(true),
		},
		{
			name:  "forward chain flushed",
			drift: func(e *env) { e.nft("flush", "chain", "inet", "netctl", "filter-forward") },
			names: []string{"bridge.docker0.icc"},
		},
		{
			name:    "link element deleted",
			drift:   func(e *env) { e.nft("flush", "set", "inet", "netctl", "links") },
			names:   []string{"bridge.docker0.link.web->db"},
			reach22: ptr(false), reach5432: ptr(false),
		},
		{
			name: "accept rule inserted in netctl's chain",
			drift: func(e *env) {
				e.nft("insert", "rule", "inet", "netctl", "filter-forward", "ip", "daddr", "172.17.0.3", "tcp", "dport", "22", "accept")
			},
			names:   []string{"filter-forward"},
			reach22: ptr(true), reach5432: ptr(true),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			p := e.file(driftConfig)
			e.applyFile(p)
			web, db := e.C["web"], e.C["db"]
			db22, db5432 := db.Listen(t, "tcp", 22), db.Listen(t, "tcp", 5432)
			wantState := func() bool {
				return testnet.Expect(t, web.CannotReach(db22), web.Reaches(db5432))
			}
			if !wantState() {
				t.Fatal("the applied state is already wrong; drift cannot be judged")
			}
			e.wantPlanClean(p)

			tc.drift(e)
			t.Logf("drift: %s", tc.name)
			if tc.reach22 != nil {
				p22, p5432 := web.CannotReach(db22), web.CannotReach(db5432)
				p22.Want, p5432.Want = *tc.reach22, *tc.reach5432
				testnet.Expect(t, e.withControls(p22, p5432)...)
			} else {
				rs := testnet.Check(web.CannotReach(db22), web.Reaches(db5432))
				// Without its rules the chain's policy decides alone:
				// accept opens db:22, drop closes db:5432.
				if rs[0].Problem() == "" && rs[1].Problem() == "" {
					t.Errorf("the drift changed no connection: web → db:22 still blocked and db:5432 still open")
				}
				for _, r := range rs {
					t.Logf("during drift: %s: %s", r.Probe, r.Outcome())
				}
			}
			e.wantDrift(p, tc.names...)

			e.applyFile(p)
			if !wantState() {
				t.Errorf("apply did not repair the drift")
			}
			e.wantPlanClean(p)
		})
	}
}

func ptr[T any](v T) *T { return &v }
