package main

// Saved plan files are applied only as a reviewer read them: hand-edited
// files, files made in another namespace and files of the older format are
// refused, and the kernel is left as it was.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/plan"
)

const (
	pfBase = `ip_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    icc: false
    containers:
      web: { address: 172.17.0.2, expose: [80/tcp] }
      db:  { address: 172.17.0.3, expose: [5432/tcp] }
`
	pfChange = pfBase + `    links:
      - { from: web, to: db }
`
)

// qdisc is left out of kernelText: a link once up keeps the noqueue qdisc
// the kernel gave it when it is set down again; netctl does not manage it
// (nor IPv6 link-local addresses, whose flags change with DAD).
var qdisc = regexp.MustCompile(`qdisc \S+ `)

// kernelText is the namespace as the ip, nft and sysctl tools show it.
func kernelText(t *testing.T, ns string) string {
	t.Helper()
	return qdisc.ReplaceAllString(nstest.Run(t, "ip", "-n", ns, "link"), "") +
		nstest.Run(t, "ip", "-n", ns, "-4", "addr") +
		nstest.Exec(t, ns, "nft", "list", "ruleset") +
		nstest.Exec(t, ns, "sysctl", plan.SysctlIPForward, plan.SysctlBridgeNFIptables)
}

// savePlan applies the base config to a new namespace and saves the plan of
// the change; it returns the namespace and the plan file.
func savePlan(t *testing.T) (ns, planFile string) {
	ns = nstest.New(t)
	dir := t.TempDir()
	mustExit(t, 0, "apply", "-f", writeFile(t, dir, "base.yaml", pfBase), "--netns", ns, "--auto-approve")
	planFile = filepath.Join(dir, "change.plan")
	mustExit(t, 0, "plan", "-f", writeFile(t, dir, "change.yaml", pfChange), "--netns", ns, "--out", planFile)
	return ns, planFile
}

// edit rewrites a plan file. sealed, the checksum is made again for the
// edited content (as a forger would); otherwise the old one stays (as a
// text editor leaves it).
func edit(t *testing.T, path string, sealed bool, change func(f *plan.File)) {
	t.Helper()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := plan.Decode(path, orig)
	if err != nil {
		t.Fatal(err)
	}
	change(&f)
	data, err := plan.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	if !sealed {
		sum := regexp.MustCompile(`"checksum": "[^"]*"`)
		data = sum.ReplaceAll(data, sum.Find(orig))
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPlanFileEditsRefused(t *testing.T) {
	nstest.RequireRoot(t)
	for _, tt := range []struct {
		name   string
		change func(f *plan.File)
		want   []string // in the error of the sealed edit
	}{
		{"icc drop rule removed", func(f *plan.File) {
			c := f.Desired.Firewall.Chain(plan.ChainForward)
			n := len(c.Rules)
			c.Rules = slices.DeleteFunc(c.Rules, func(r plan.Rule) bool { return r.Comment == "bridge.docker0.icc" })
			if len(c.Rules) != n-1 {
				t.Fatalf("no icc rule in the plan's desired state: %+v", c.Rules)
			}
		}, []string{"not those its desired state makes", "computed but not shown in the file: delete bridge.docker0.icc"}},
		{"any-to-any link added", func(f *plan.File) {
			for i := range f.Desired.Firewall.Sets {
				s := &f.Desired.Firewall.Sets[i]
				if s.Name == plan.SetLinks {
					s.Elements = append([]plan.Element{{Key: "0.0.0.0/0 . 0.0.0.0/0 . tcp . 1-65535", Comment: "bridge.docker0.link.web->db"}}, s.Elements...)
					return
				}
			}
			t.Fatal("no links set in the plan's desired state")
		}, []string{"not those its desired state makes", "not as the file shows it: create bridge.docker0.link.web->db"}},
		{"change list emptied", func(f *plan.File) {
			if len(f.Changes) == 0 {
				t.Fatal("the plan has no changes to empty")
			}
			f.Changes = nil
		}, []string{"not those its desired state makes", "the file shows 0 changes"}},
		{"netns identity changed", func(f *plan.File) { f.NetnsID.Ino++ }, []string{"the plan file was made for namespace"}},
	} {
		for _, sealed := range []bool{false, true} {
			name := tt.name
			if sealed {
				name += ", checksum made again"
			}
			t.Run(name, func(t *testing.T) {
				ns, planFile := savePlan(t)
				before := kernelText(t, ns)
				edit(t, planFile, sealed, tt.change)
				r := mustExit(t, 1, "apply", planFile)
				want := []string{planFile + ": the plan file was edited after netctl plan wrote it"}
				if sealed {
					want = tt.want
				}
				for _, w := range want {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("the error does not say %q:\n%s", w, r)
					}
				}
				if strings.Contains(r.stdout, "Apply complete") {
					t.Errorf("applied:\n%s", r)
				}
				if got := kernelText(t, ns); got != before {
					t.Fatalf("a refused plan changed the kernel:\n%s\nbefore:\n%s", got, before)
				}
			})
		}
	}

	// Positive control, same path: the plan as written applies.
	t.Run("unedited: applied", func(t *testing.T) {
		ns, planFile := savePlan(t)
		before := kernelText(t, ns)
		r := mustExit(t, 0, "apply", planFile)
		if !strings.Contains(r.stdout, "Apply complete! Resources: 1 added") {
			t.Errorf("apply says:\n%s", r)
		}
		if kernelText(t, ns) == before {
			t.Fatal("the plan changed nothing")
		}
		mustExit(t, 0, "plan", "-f", writeFile(t, t.TempDir(), "change.yaml", pfChange), "--netns", ns, "--detailed-exitcode")
	})
}

// TestPlanFileOtherNamespace: a plan made for A is refused in B, though
// their states are equal (the plan is not stale there).
func TestPlanFileOtherNamespace(t *testing.T) {
	nstest.RequireRoot(t)
	nsA, planFile := savePlan(t)
	nsB := nstest.New(t)
	mustExit(t, 0, "apply", "-f", writeFile(t, t.TempDir(), "base.yaml", pfBase), "--netns", nsB, "--auto-approve")
	if a, b := liveState(t, nsA, "docker0"), liveState(t, nsB, "docker0"); a != b {
		t.Fatalf("the two namespaces differ, the test proves nothing:\n%s\n%s", a, b)
	}
	beforeA, beforeB := kernelText(t, nsA), kernelText(t, nsB)
	r := mustExit(t, 1, "apply", planFile, "--netns", nsB)
	if !strings.Contains(r.stderr, `the plan file was made for namespace "`+nsA+`"`) || !strings.Contains(r.stderr, `this is namespace "`+nsB+`"`) {
		t.Errorf("the error does not name both namespaces:\n%s", r)
	}
	if kernelText(t, nsA) != beforeA || kernelText(t, nsB) != beforeB {
		t.Fatal("a refused plan changed a namespace")
	}
	// Positive control: in A, where it was made, it applies.
	mustExit(t, 0, "apply", planFile)
	if kernelText(t, nsA) == beforeA {
		t.Fatal("the plan changed nothing in its own namespace")
	}
}

// TestPlanFileOlderFormat: a format 1 file (no namespace identity, no
// checksum) is refused, saying to make the plan again.
func TestPlanFileOlderFormat(t *testing.T) {
	nstest.RequireRoot(t)
	ns, planFile := savePlan(t)
	f, err := plan.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	// A version 1 file was the plan's fields at the top level.
	data, err := json.Marshal(struct {
		Version int `json:"format_version"`
		plan.File
	}{1, f})
	if err != nil {
		t.Fatal(err)
	}
	old := writeFile(t, t.TempDir(), "v1.plan", string(data))
	before := kernelText(t, ns)
	r := mustExit(t, 1, "apply", old)
	if !strings.Contains(r.stderr, old+": plan file format 1 is from an older netctl") || !strings.Contains(r.stderr, "netctl plan --out") {
		t.Errorf("the error does not say so:\n%s", r)
	}
	if kernelText(t, ns) != before {
		t.Fatal("a refused plan changed the kernel")
	}
}
