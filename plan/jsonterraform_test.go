package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"testing"
)

// TestTerraformJSON: the document as terraform show -json writes a plan.
// Every object the desired state manages is in planned_values, as an
// object, and in resource_changes exactly once: as its change, or as a
// no-op whose before and after are its value. Every entry is "managed".
// What the plan deletes is not planned. Without no-ops, the changes are
// JSON's.
func TestTerraformJSON(t *testing.T) {
	p := driftPlan()
	var b bytes.Buffer
	if err := p.TerraformJSON(true).Write(&b); err != nil {
		t.Fatal(err)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, b.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	golden(t, "drift.terraform.json", indented.Bytes())

	type entry struct {
		Address, Mode, Type, Name string
		Change                    struct {
			Actions       []string
			Before, After json.RawMessage
		}
		Values json.RawMessage
	}
	var doc struct {
		ResourceChanges []entry `json:"resource_changes"`
		PlannedValues   struct {
			RootModule struct{ Resources []entry } `json:"root_module"`
		} `json:"planned_values"`
		Summary Summary
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary != p.Summary() {
		t.Errorf("summary %+v, want %+v (no-ops count nothing)", doc.Summary, p.Summary())
	}
	seen := map[string]int{}
	noOps := 0
	for i, rc := range doc.ResourceChanges {
		if rc.Mode != "managed" {
			t.Errorf("resource_changes[%d] %s: mode %q", i, rc.Address, rc.Mode)
		}
		seen[rc.Address]++
		if i < len(p.Changes) {
			if c := p.Changes[i]; rc.Address != c.Address || !slices.Equal(rc.Change.Actions, c.Action.Actions()) {
				t.Errorf("resource_changes[%d] = %s %v, want the plan's change %s %s", i, rc.Address, rc.Change.Actions, c.Address, c.Action)
			}
			continue
		}
		noOps++
		if !slices.Equal(rc.Change.Actions, []string{"no-op"}) || !bytes.Equal(rc.Change.Before, rc.Change.After) || string(rc.Change.After) == "null" {
			t.Errorf("resource_changes[%d] %s: actions %v, before %s, after %s; want a no-op with its value on both sides",
				i, rc.Address, rc.Change.Actions, rc.Change.Before, rc.Change.After)
		}
	}
	if noOps == 0 {
		t.Error("no no-op entries: the drift plan leaves objects as they are")
	}
	planned := map[string]bool{}
	for _, r := range doc.PlannedValues.RootModule.Resources {
		planned[r.Address] = true
		if r.Mode != "managed" || len(r.Values) == 0 || r.Values[0] != '{' {
			t.Errorf("planned %s: mode %q, values %s; want managed and an object", r.Address, r.Mode, r.Values)
		}
		if seen[r.Address] != 1 {
			t.Errorf("planned %s is in resource_changes %d times, want once", r.Address, seen[r.Address])
		}
	}
	for _, want := range []string{"bridge.docker0", "bridge.br-internal", "sysctl.net.ipv4.ip_forward", "firewall", "bridge.docker0.link.web->db"} {
		if !planned[want] {
			t.Errorf("%s is not in planned_values", want)
		}
	}
	if planned["bridge.br-old"] {
		t.Error("bridge.br-old, which the plan deletes, is in planned_values")
	}

	// Without no-ops: JSON's changes, and planned_values.
	plain := p.TerraformJSON(false)
	if len(plain.ResourceChanges) != len(p.Changes) || plain.PlannedValues == nil {
		t.Errorf("TerraformJSON(false): %d resource changes, want %d; planned_values %v", len(plain.ResourceChanges), len(p.Changes), plain.PlannedValues)
	}
	// An empty desired state (what destroy plans) plans nothing.
	if pv := Diff(State{}, p.Live).TerraformJSON(true).PlannedValues; pv == nil || len(pv.RootModule.Resources) != 0 {
		t.Errorf("destroy: planned_values %+v, want no resources", pv)
	}
}

// BenchmarkTerraformJSON renders 10,000 created links as plan --json does
// (with planned_values) and as show PLANFILE --json does (with no-ops, of
// which there are few here: everything but the links exists).
func BenchmarkTerraformJSON(b *testing.B) {
	p := createdLinks(10000)
	for _, noOps := range []bool{false, true} {
		b.Run(fmt.Sprintf("noops=%v", noOps), func(b *testing.B) {
			for b.Loop() {
				if err := p.TerraformJSON(noOps).Write(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
