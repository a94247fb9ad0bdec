package main

import (
	"debug/buildinfo"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
)

func TestVersionOf(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	const rev = "5538500ed9fe9ef19df0464c391657ef4a8fc03b"
	for _, tt := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"go install @version", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}},
			"netctl v1.2.3\nrevision unknown (built without VCS information)\ngo1.26.8\n"},
		{"git checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261129170055-5538500ed9fe"},
			Settings: vcs("GOOS", "linux", "vcs", "git", "vcs.revision", rev, "vcs.time", "2026-11-29T17:00:55Z", "vcs.modified", "false")},
			"netctl v0.0.0-20261129170055-5538500ed9fe\nrevision " + rev + " (2026-11-29T17:00:55Z)\ngo1.26.8\n"},
		{"uncommitted changes", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261129170055-5538500ed9fe+dirty"},
			Settings: vcs("vcs.revision", rev, "vcs.time", "2026-11-29T17:00:55Z", "vcs.modified", "true")},
			"netctl v0.0.0-20261129170055-5538500ed9fe+dirty\nrevision " + rev + " (2026-11-29T17:00:55Z, modified)\ngo1.26.8\n"},
		{"-buildvcs=false", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"netctl (devel)\nrevision unknown (built without VCS information)\ngo1.26.8\n"},
		{"no build info", nil, "netctl (devel)\nrevision unknown (built without VCS information)\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionOf(tt.bi).String(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestVersionCommand: 'netctl version' and 'netctl --version' print the
// build info the go command wrote into the binary, read here independently.
func TestVersionCommand(t *testing.T) {
	needBinary(t)
	bi, err := buildinfo.ReadFile(opsBin)
	if err != nil {
		t.Fatal(err)
	}
	want := versionOf(bi).String()
	if bi.Main.Version == "" || bi.GoVersion == "" {
		t.Fatalf("the binary's build info lacks the module or Go version: %v", bi)
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if r := mustExit(t, 0, args...); r.stdout != want || r.stderr != "" {
			t.Errorf("netctl %s: %s\nwant stdout:\n%s", args[0], r, want)
		}
	}
}

// TestVersionOfGitBuild: a netctl built in a git checkout names the commit
// it was built from.
func TestVersionOfGitBuild(t *testing.T) {
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			nstest.Skip(t, "git %s: %v: not a git checkout, the stamped revision is not tested", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	top := git(".", "rev-parse", "--show-toplevel")
	head := git(".", "rev-parse", "HEAD")
	bin := filepath.Join(t.TempDir(), "netctl")
	build := func(dir string) *debug.BuildInfo {
		t.Helper()
		cmd := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "./cmd/netctl")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build in %s: %v\n%s", dir, err, out)
		}
		bi, err := buildinfo.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		return bi
	}
	bi := build(top)
	if versionOf(bi).Revision == "" || versionOf(bi).Modified {
		// The go command does not stamp a git worktree (its .git is a
		// file), and this checkout may have uncommitted changes: build a
		// clone of HEAD.
		src := filepath.Join(t.TempDir(), "src")
		git(".", "clone", "--quiet", top, src)
		bi = build(src)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(out), "\n")
	if len(lines) < 2 || lines[0] == "netctl (devel)" || !strings.HasPrefix(lines[1], "revision "+head+" (") || strings.Contains(lines[1], "modified") {
		t.Errorf("netctl version of a build of %s (unmodified):\n%s", head, out)
	}
	if want := versionOf(bi).String(); string(out) != want {
		t.Errorf("netctl version:\n%s\nthe binary's build info:\n%s", out, want)
	}
}

// TestJSONDocumentsCarryVersion: every JSON document netctl prints names
// the netctl that printed it.
func TestJSONDocumentsCarryVersion(t *testing.T) {
	ns := nstest.New(t)
	bi, err := buildinfo.ReadFile(opsBin)
	if err != nil {
		t.Fatal(err)
	}
	const cfg = "../../examples/icc-links.yaml"
	for _, args := range [][]string{
		{"plan", "-f", cfg, "--netns", ns, "--json"},
		{"apply", "-f", cfg, "--netns", ns, "--json", "--auto-approve"},
		{"apply", "-f", cfg, "--netns", ns, "--json", "--auto-approve"}, // nothing to do
		{"show", "--netns", ns, "--json"},
		{"destroy", "--netns", ns, "--json", "--auto-approve"},
	} {
		r := mustExit(t, 0, args...)
		var doc struct {
			NetctlVersion *string `json:"netctl_version"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("netctl %v: %v\n%s", args, err, r)
		}
		if doc.NetctlVersion == nil || *doc.NetctlVersion != bi.Main.Version {
			t.Errorf("netctl %v: netctl_version = %v, want %q\n%s", args, doc.NetctlVersion, bi.Main.Version, r.stdout)
		}
	}
}
