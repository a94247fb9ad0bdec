package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestPlanFileRoundTrip(t *testing.T) {
	desired := Desired(fullConfig())
	live := liveOf(desired)
	live.Bridges["docker0"] = func(b Bridge) Bridge { b.MTU = 1400; return b }(live.Bridges["docker0"])
	p := Diff(desired, live)
	want := File{
		Source:      "/etc/netctl/netctl.yaml",
		Netns:       "ci",
		NetnsID:     NamespaceID{Dev: 4, Ino: 4026532451},
		Fingerprint: Fingerprint(live),
		Desired:     desired,
		Changes:     p.Changes,
	}
	path := filepath.Join(t.TempDir(), "tfplan")
	if err := WriteFile(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.FormatVersion != PlanFileVersion || got.Source != want.Source || got.Netns != want.Netns || got.NetnsID != want.NetnsID || got.Fingerprint != want.Fingerprint {
		t.Errorf("read back %+v", got)
	}
	if !reflect.DeepEqual(got.Desired, want.Desired) {
		t.Errorf("desired state read back:\n%+v\nwant\n%+v", got.Desired, want.Desired)
	}
	// The desired state read back is as good as the one written: it diffs
	// the same against the same live state.
	if a, b := changeList(Diff(got.Desired, live)), changeList(p); !reflect.DeepEqual(a, b) {
		t.Errorf("read-back desired diffs to %q, want %q", a, b)
	}
	if len(got.Changes) != len(want.Changes) || got.Changes[0].Address != "bridge.docker0" || got.Changes[0].Action != Update {
		t.Errorf("changes read back: %+v", got.Changes)
	}
	// The changes read back (values as generic JSON) are the same as those
	// computed (values typed): apply compares the two.
	if d, err := got.DiffChanges(p.Changes); err != nil || d != "" {
		t.Errorf("changes read back differ from those computed: %q, %v", d, err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("plan file mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !IsPlanFile(data) {
		t.Error("IsPlanFile(a plan file) = false")
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ name, content, wantErr string }{
		{"yaml", "bridges:\n  - name: docker0\n", "not a netctl plan file"},
		{"newer", `{"format_version": 99, "desired": {}}`, "plan file format 99 is from a newer netctl; this netctl reads format 2"},
		{"older", `{"format_version": 1, "netns": "", "desired": {}, "changes": []}`,
			"plan file format 1 is from an older netctl, which did not record the namespace nor seal the plan; this netctl reads format 2: make the plan again with netctl plan --out"},
		{"no version", `{"desired": {}}`, "not a netctl plan file: it has no format_version"},
		{"no checksum", `{"format_version": 2, "plan": {}}`, "not a netctl plan file: it has no plan or no checksum"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ReadFile(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), path+": ") {
				t.Errorf("ReadFile error = %v, want %q naming the file", err, tt.wantErr)
			}
		})
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("ReadFile(missing) = %v, want not-exist", err)
	}
}

func TestIsPlanFile(t *testing.T) {
	for _, tt := range []struct {
		content string
		want    bool
	}{
		{`{"format_version": 1, "source": "netctl.yaml", "desired": {}}`, true},
		{`{"format_version": 2}`, true}, // a plan, if one ReadFile refuses
		{"ip_forward: true\nbridges:\n  - name: docker0\n    address: 172.17.0.1/16\n", false},
		{`{"ip_forward": true, "bridges": []}`, false}, // a netctl.yaml written as JSON
		{"", false},
		{"null", false},
	} {
		if got := IsPlanFile([]byte(tt.content)); got != tt.want {
			t.Errorf("IsPlanFile(%q) = %v, want %v", tt.content, got, tt.want)
		}
	}
}

func TestFingerprint(t *testing.T) {
	base := liveOf(Desired(fullConfig()))
	fp := Fingerprint(base)
	if len(fp) != 64 {
		t.Errorf("fingerprint %q is not a hex sha256", fp)
	}
	for _, tt := range []struct {
		name  string
		drift func(s *State)
		same  bool
	}{
		{"a copy", func(*State) {}, true},
		{"ports attached", func(s *State) {
			b := s.Bridges["docker0"]
			b.Ports = []string{"veth0", "veth1"}
			s.Bridges["docker0"] = b
		}, true},
		{"user-chain rules", func(s *State) {
			s.Firewall.Chain(ChainUser).Rules = []Rule{{Comment: "mine", Verdict: VerdictAccept, Handle: 9}}
		}, true},
		{"rule handles", func(s *State) {
			for i := range s.Firewall.Chain(ChainForward).Rules {
				s.Firewall.Chain(ChainForward).Rules[i].Handle += 1000
			}
		}, true},
		{"MTU changed", func(s *State) {
			b := s.Bridges["docker0"]
			b.MTU = 1400
			s.Bridges["docker0"] = b
		}, false},
		{"sysctl changed", func(s *State) { s.Sysctls[SysctlIPForward] = "0" }, false},
		{"rule changed", func(s *State) { s.Firewall.Chain(ChainForward).Rules[2].Verdict = VerdictAccept }, false},
		{"element removed", func(s *State) { s.Firewall.Sets[1].Elements = s.Firewall.Sets[1].Elements[1:] }, false},
		{"table gone", func(s *State) { s.Firewall = nil }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := cloneState(base)
			tt.drift(&s)
			before := cloneState(s)
			if got := Fingerprint(s) == fp; got != tt.same {
				t.Errorf("same fingerprint = %v, want %v", got, tt.same)
			}
			if !reflect.DeepEqual(s, before) {
				t.Error("Fingerprint changed its argument")
			}
		})
	}
}

// TestPlanFileEdits: any edit of a written plan file, down to a space, is
// named as an edit when it is read.
func TestPlanFileEdits(t *testing.T) {
	desired := Desired(fullConfig())
	p := Diff(desired, State{})
	data, err := Encode(File{Source: "netctl.yaml", NetnsID: NamespaceID{Dev: 4, Ino: 1}, Fingerprint: Fingerprint(State{}), Desired: desired, Changes: p.Changes})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode("tfplan", data); err != nil {
		t.Fatalf("the file as written: %v", err)
	}
	text := string(data)
	for _, tt := range []struct{ name, old, new string }{
		{"changes emptied", `"changes": [`, `"changes": [], "was": [`},
		{"netns identity", `"ino": 1`, `"ino": 2`},
		{"verdict", `"verdict": "drop"`, `"verdict": "accept"`},
		{"a space", `"source": "netctl.yaml"`, `"source":  "netctl.yaml"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(text, tt.old) {
				t.Fatalf("the file has no %q:\n%s", tt.old, text)
			}
			_, err := Decode("tfplan", []byte(strings.Replace(text, tt.old, tt.new, 1)))
			if err == nil || !strings.Contains(err.Error(), "tfplan: the plan file was edited after netctl plan wrote it") {
				t.Errorf("edited file: error %v", err)
			}
		})
	}
}

func TestDiffChanges(t *testing.T) {
	desired := Desired(fullConfig())
	full := Diff(desired, State{}).Changes
	// The changes as a file holds them: values decoded as generic JSON.
	data, err := Encode(File{Desired: desired, Changes: full})
	if err != nil {
		t.Fatal(err)
	}
	read, err := Decode("f", data)
	if err != nil {
		t.Fatal(err)
	}
	rule := -1
	for i, c := range full {
		if c.Type == TypeRule {
			rule = i
			break
		}
	}
	if rule < 0 {
		t.Fatal("no rule change to edit")
	}
	edited := slices.Clone(full)
	r := edited[rule].After.(Rule)
	r.Verdict = VerdictAccept
	edited[rule].After = r
	for _, tt := range []struct {
		name     string
		computed []Change
		want     string // "" for the same
	}{
		{"same", full, ""},
		{"none computed", nil, "the file shows " + fmt.Sprint(len(full)) + " changes, its desired state makes 0"},
		{"one missing", full[1:], "shown in the file but not computed: " + label(full[0])},
		{"same address, another value", edited, "(not as the file shows it: " + label(full[rule]) + ")"},
		{"another order", append(slices.Clone(full[1:]), full[0]), "the same changes in another order"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := read.DiffChanges(tt.computed)
			if err != nil {
				t.Fatal(err)
			}
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("DiffChanges = %q, want %q", got, tt.want)
			}
		})
	}
	if got, _ := (File{}).DiffChanges(full[:1]); !strings.Contains(got, "computed but not shown in the file: "+label(full[0])) {
		t.Errorf("DiffChanges(none shown) = %q", got)
	}
}
