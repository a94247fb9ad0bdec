package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tfDoc is what the tests read of a Terraform-shaped plan document.
type tfDoc struct {
	NetctlVersion   string `json:"netctl_version"`
	ResourceChanges []struct {
		Address, Mode, Type string
		Change              struct{ Actions []string }
	} `json:"resource_changes"`
	PlannedValues *struct {
		RootModule struct {
			Resources []struct {
				Address, Mode, Type string
				Values              map[string]any
			}
		} `json:"root_module"`
	} `json:"planned_values"`
	Summary struct{ Add, Change, Destroy int }
}

func readTFDoc(t *testing.T, what, out string) tfDoc {
	t.Helper()
	var d tfDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("%s is not JSON: %v\n%s", what, err, out)
	}
	return d
}

// TestShowPlanFile: `netctl show PLANFILE` prints the saved plan as plan
// printed it, without the kernel (the namespace may be gone); --json is
// plan --json's document plus a no-op entry for each object left as it is;
// --netns is refused with a plan file; without an argument show still
// prints the live state as a netctl file.
func TestShowPlanFile(t *testing.T) {
	ns, planFile := savePlan(t)
	dir := filepath.Dir(planFile)
	change := filepath.Join(dir, "change.yaml")
	planText := mustExit(t, 0, "plan", "-f", change, "--netns", ns).stdout
	planJSON := readTFDoc(t, "plan --json", mustExit(t, 0, "plan", "-f", change, "--netns", ns, "--json").stdout)

	// The live form is unchanged (positive control of the path).
	if live := mustExit(t, 0, "show", "--netns", ns).stdout; !strings.HasPrefix(live, "# Written by netctl show") {
		t.Errorf("show without an argument does not print the live state as a file:\n%s", live)
	}

	text := mustExit(t, 0, "show", planFile).stdout
	if text != planText {
		t.Errorf("show PLANFILE:\n%s\nwant what plan printed:\n%s", text, planText)
	}
	doc := readTFDoc(t, "show PLANFILE --json", mustExit(t, 0, "show", planFile, "--json").stdout)
	if doc.Summary != planJSON.Summary || doc.NetctlVersion == "" {
		t.Errorf("summary %+v, version %q; want plan's %+v and a version", doc.Summary, doc.NetctlVersion, planJSON.Summary)
	}
	var changes, noOps []string
	for _, rc := range doc.ResourceChanges {
		if rc.Mode != "managed" {
			t.Errorf("%s: mode %q", rc.Address, rc.Mode)
		}
		if slices.Equal(rc.Change.Actions, []string{"no-op"}) {
			noOps = append(noOps, rc.Address)
		} else {
			changes = append(changes, rc.Address)
		}
	}
	var planChanges []string
	for _, rc := range planJSON.ResourceChanges {
		planChanges = append(planChanges, rc.Address)
		if rc.Mode != "managed" || slices.Equal(rc.Change.Actions, []string{"no-op"}) {
			t.Errorf("plan --json %s: mode %q, actions %v; want managed, and changes only", rc.Address, rc.Mode, rc.Change.Actions)
		}
	}
	if !slices.Equal(changes, planChanges) || !slices.Equal(changes, []string{"bridge.docker0.link.web->db"}) {
		t.Errorf("show PLANFILE --json changes %q, plan --json's %q; want the link's create", changes, planChanges)
	}
	if !slices.Contains(noOps, "bridge.docker0") || !slices.Contains(noOps, "sysctl.net.ipv4.ip_forward") {
		t.Errorf("no-op entries %q lack the unchanged bridge and sysctl", noOps)
	}
	for _, d := range []tfDoc{doc, planJSON} {
		if d.PlannedValues == nil {
			t.Fatal("no planned_values")
		}
		found := false
		for _, r := range d.PlannedValues.RootModule.Resources {
			if r.Address == "bridge.docker0" && r.Values["mtu"] == 1500.0 && r.Mode == "managed" {
				found = true
			}
		}
		if !found {
			t.Errorf("planned_values lack bridge.docker0 with mtu 1500: %+v", d.PlannedValues)
		}
	}

	if r := mustExit(t, 1, "show", planFile, "--netns", ns); !strings.Contains(r.stderr, "--netns does not apply") {
		t.Errorf("show PLANFILE --netns:\n%s", r)
	}
	r := mustExit(t, 1, "show", filepath.Join(dir, "change.yaml"))
	if !strings.Contains(r.stderr, "change.yaml: not a netctl plan file") {
		t.Errorf("show of a netctl file, not a plan:\n%s", r)
	}
}
