package e2e

import (
	"path/filepath"
	"sort"
	"testing"
)

// exampleChecks maps each examples/*.yaml file to the connections that prove
// what its header comment promises. The file has been applied (and its
// containers attached) when the check runs. An example without an entry
// fails TestExamples: a new example is not done until its promises are
// checked here.
var exampleChecks = map[string]func(t *testing.T, e *env){}

// TestExamples applies every example in its own namespaces and checks its
// promises with connections; afterwards plan must report no changes.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Errorf("no examples/*.yaml found under %s", repoRoot)
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			check, ok := exampleChecks[name]
			if !ok {
				t.Errorf("examples/%s has no checks: add an entry to exampleChecks in e2e/examples_test.go proving its header comment", name)
				return
			}
			e := setup(t)
			e.applyFile(f)
			e.wantPlanClean(f)
			check(t, e)
		})
	}
	var stale []string
	for name := range exampleChecks {
		if !seen[name] {
			stale = append(stale, name)
		}
	}
	sort.Strings(stale)
	for _, name := range stale {
		t.Errorf("exampleChecks has an entry for examples/%s, which does not exist", name)
	}
}
