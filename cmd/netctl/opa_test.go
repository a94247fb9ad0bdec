package main

// Policies written for Terraform plans, evaluated by the real OPA on
// netctl's plan documents.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
)

// opaBin finds opa: on PATH, or where `go install` puts it (.ci/run installs
// it so).
func opaBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("opa"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		// Two lines: GOBIN (often empty), GOPATH.
		gobin, gopath, _ := strings.Cut(string(out), "\n")
		if gobin = strings.TrimSpace(gobin); gobin == "" {
			gobin = filepath.Join(strings.TrimSpace(gopath), "bin")
		}
		if p := filepath.Join(gobin, "opa"); fileExists(p) {
			return p
		}
	}
	return nstest.RequireTool(t, "opa", "the policy test needs it (go install github.com/open-policy-agent/opa@v1.22.4, as .ci/run does)")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Policies as they are written for Terraform plans: resource_changes
// filtered on mode "managed", and planned_values.
const (
	policyNoLinkDelete = `package netctl.links

import rego.v1

deny contains msg if {
	resource := input.resource_changes[_]
	resource.mode == "managed"
	resource.type == "link"
	resource.change.actions[_] == "delete"
	msg := sprintf("%s: deleting a link needs a review", [resource.address])
}
`
	policyMTU = `package netctl.mtu

import rego.v1

deny contains msg if {
	resource := input.planned_values.root_module.resources[_]
	resource.mode == "managed"
	resource.type == "bridge"
	resource.values.mtu != 1500
	msg := sprintf("%s: mtu %v, want 1500", [resource.address, resource.values.mtu])
}
`
)

// opaDeny evaluates the policy's deny set on the document and returns it.
func opaDeny(t *testing.T, opa, policy, query, input string) []string {
	t.Helper()
	dir := t.TempDir()
	pol := writeFile(t, dir, "policy.rego", policy)
	in := writeFile(t, dir, "input.json", input)
	out, err := exec.Command(opa, "eval", "--format", "json", "-d", pol, "-i", in, query).CombinedOutput()
	if err != nil {
		t.Fatalf("opa eval %s: %v\n%s", query, err, out)
	}
	var res struct {
		Result []struct {
			Expressions []struct{ Value []string }
		}
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Result) != 1 || len(res.Result[0].Expressions) != 1 {
		t.Fatalf("opa eval %s: %v\n%s", query, err, out)
	}
	return res.Result[0].Expressions[0].Value
}

// TestOPATerraformPolicies: a Terraform-style policy that denies deleting a
// link denies a saved plan that deletes one (rendered by show PLANFILE
// --json, as terraform show -json feeds such policies) and allows one that
// does not; it reads plan --json alike; a policy on planned_values denies a
// bridge of the wrong MTU and allows the right one.
func TestOPATerraformPolicies(t *testing.T) {
	opa := opaBin(t)
	ns := nstest.New(t)
	dir := t.TempDir()
	withLink := writeFile(t, dir, "with-link.yaml", pfChange)
	withoutLink := writeFile(t, dir, "without-link.yaml", pfBase)
	mtu9000 := writeFile(t, dir, "mtu9000.yaml", pfChange+"    mtu: 9000\n")
	mustExit(t, 0, "apply", "-f", withLink, "--netns", ns, "--auto-approve")

	saved := func(name, file string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		mustExit(t, 0, "plan", "-f", file, "--netns", ns, "--out", p)
		return mustExit(t, 0, "show", p, "--json").stdout
	}
	deletes := saved("delete.plan", withoutLink)
	keeps := saved("keep.plan", withLink)
	mtu := saved("mtu.plan", mtu9000)

	const links = "data.netctl.links.deny"
	if got := opaDeny(t, opa, policyNoLinkDelete, links, deletes); len(got) != 1 || got[0] != "bridge.docker0.link.web->db: deleting a link needs a review" {
		t.Errorf("a plan deleting the link: deny = %q, want the link named", got)
	}
	if got := opaDeny(t, opa, policyNoLinkDelete, links, keeps); len(got) != 0 {
		t.Errorf("a plan keeping the link: deny = %q, want none", got)
	}
	if got := opaDeny(t, opa, policyNoLinkDelete, links, mtu); len(got) != 0 {
		t.Errorf("a plan changing only the MTU: deny = %q, want none", got)
	}
	// plan --json is read alike.
	planJSON := mustExit(t, 0, "plan", "-f", withoutLink, "--netns", ns, "--json").stdout
	if got := opaDeny(t, opa, policyNoLinkDelete, links, planJSON); len(got) != 1 {
		t.Errorf("plan --json deleting the link: deny = %q, want one", got)
	}

	const mtus = "data.netctl.mtu.deny"
	if got := opaDeny(t, opa, policyMTU, mtus, mtu); len(got) != 1 || got[0] != "bridge.docker0: mtu 9000, want 1500" {
		t.Errorf("planned MTU 9000: deny = %q, want docker0 named", got)
	}
	if got := opaDeny(t, opa, policyMTU, mtus, keeps); len(got) != 0 {
		t.Errorf("planned MTU 1500: deny = %q, want none", got)
	}
}
