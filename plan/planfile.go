package plan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/netctl/netctl/internal/atomicfile"
	"github.com/netctl/netctl/internal/plural"
)

// PlanFileVersion is the format version of a saved plan file. Version 2
// records the namespace's identity and seals the plan with a checksum;
// version 1 files are refused: they could be edited unnoticed.
const PlanFileVersion = 2

// File is a plan saved by `netctl plan --out` for `netctl apply PLANFILE`:
// the desired state, the namespace and the live state it was computed
// against, and the changes a reviewer read. Apply recomputes the changes and
// applies only when they are exactly these.
type File struct {
	FormatVersion int    `json:"-"`
	Source        string `json:"source"`
	Netns         string `json:"netns"`
	// NetnsID is the namespace the plan was made in: a plan applies there
	// only, whatever name reaches it.
	NetnsID     NamespaceID `json:"netns_id"`
	Fingerprint string      `json:"live_fingerprint"`
	Desired     State       `json:"desired"`
	// Live is the state the plan was computed against: a stale plan's
	// error names what changed since.
	Live State `json:"live"`
	// Changes are what the reviewer read: apply refuses the file unless
	// its desired state makes exactly these against the live state.
	Changes []Change `json:"changes"`
	// Destroy: made by plan --destroy, so applying it speaks as destroy
	// does ("Destroy complete!").
	Destroy bool `json:"destroy,omitempty"`
	// raw are the changes as the file has them, for DiffChanges.
	raw []json.RawMessage
}

// envelope is the file on disk: the plan, and the checksum of the plan's
// bytes as they are in the file, so that any edit is named as one.
type envelope struct {
	FormatVersion *int            `json:"format_version"`
	Checksum      string          `json:"checksum"`
	Plan          json.RawMessage `json:"plan"`
}

const checksumPrefix = "sha256:"

func checksum(body []byte) string {
	sum := sha256.Sum256(body)
	return checksumPrefix + hex.EncodeToString(sum[:])
}

// Encode renders a plan file: the envelope is written by hand so that the
// plan's bytes in the file are exactly those the checksum covers.
func Encode(f File) ([]byte, error) {
	body, err := json.MarshalIndent(f, "  ", "  ")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n  \"format_version\": %d,\n  \"checksum\": %q,\n  \"plan\": ", PlanFileVersion, checksum(body))
	b.Write(body)
	b.WriteString("\n}\n")
	return b.Bytes(), nil
}

// Decode reads a plan file and checks its version and checksum; name is
// the file's name for the errors.
func Decode(name string, data []byte) (File, error) {
	var f File
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return f, fmt.Errorf("%s: not a netctl plan file: %v", name, err)
	}
	if env.FormatVersion == nil {
		return f, fmt.Errorf("%s: not a netctl plan file: it has no format_version", name)
	}
	switch v := *env.FormatVersion; {
	case v < PlanFileVersion:
		return f, fmt.Errorf("%s: plan file format %d is from an older netctl, which did not record the namespace nor seal the plan; this netctl reads format %d: make the plan again with netctl plan --out",
			name, v, PlanFileVersion)
	case v > PlanFileVersion:
		return f, fmt.Errorf("%s: plan file format %d is from a newer netctl; this netctl reads format %d", name, v, PlanFileVersion)
	}
	if len(env.Plan) == 0 || env.Checksum == "" {
		return f, fmt.Errorf("%s: not a netctl plan file: it has no plan or no checksum", name)
	}
	if checksum(env.Plan) != env.Checksum {
		return f, fmt.Errorf("%s: the plan file was edited after netctl plan wrote it (its checksum does not match its content); netctl applies a plan only as it was written and reviewed: make it again with netctl plan --out", name)
	}
	// The changes are kept as written too: compared as bytes, they need no
	// second decoding.
	body := struct {
		*File
		Changes []json.RawMessage `json:"changes"`
	}{File: &f}
	dec := json.NewDecoder(bytes.NewReader(env.Plan))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return f, fmt.Errorf("%s: not a netctl plan file: %v", name, err)
	}
	if body.Changes != nil {
		f.Changes = make([]Change, len(body.Changes))
		f.raw = make([]json.RawMessage, len(body.Changes))
	}
	for i, raw := range body.Changes {
		if err := json.Unmarshal(raw, &f.Changes[i]); err != nil {
			return f, fmt.Errorf("%s: not a netctl plan file: change %d: %v", name, i+1, err)
		}
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return f, err
		}
		f.raw[i] = b.Bytes()
	}
	f.FormatVersion = *env.FormatVersion
	return f, nil
}

// DiffChanges compares the changes the plan file shows with those
// recomputed from it, in full (values, not only addresses), and describes
// the difference; "" when they are the same. The file's changes are
// compared as the file has them, with the recomputed ones encoded as netctl
// plan encodes them: equal bytes are equal changes (a file written another
// way is refused, never applied).
func (f File) DiffChanges(computed []Change) (string, error) {
	shown := f.Changes
	a := make([]string, len(shown))
	for i := range shown {
		if len(f.raw) == len(shown) {
			a[i] = string(f.raw[i])
			continue
		}
		data, err := json.Marshal(shown[i])
		if err != nil {
			return "", err
		}
		a[i] = string(data)
	}
	b := make([]string, len(computed))
	for i, c := range computed {
		data, err := json.Marshal(c)
		if err != nil {
			return "", err
		}
		b[i] = string(data)
	}
	if slices.Equal(a, b) {
		return "", nil
	}
	count := func(list []string) map[string]int {
		m := map[string]int{}
		for _, s := range list {
			m[s]++
		}
		return m
	}
	inA, inB := count(a), count(b)
	var missing, extra []string // computed but not shown; shown but not computed
	for i, s := range b {
		if inA[s] > 0 {
			inA[s]--
			continue
		}
		missing = append(missing, label(computed[i]))
	}
	for i, s := range a {
		if inB[s] > 0 {
			inB[s]--
			continue
		}
		extra = append(extra, label(shown[i]))
	}
	// A change in both lists is one whose value differs.
	var differ []string
	inMissing, inDiffer := count(missing), map[string]int{}
	for _, l := range extra {
		if inMissing[l] > 0 {
			inMissing[l]--
			inDiffer[l]++
			differ = append(differ, l)
		}
	}
	dropDiffer := func(list []string) []string {
		left := maps.Clone(inDiffer)
		return slices.DeleteFunc(list, func(l string) bool {
			if left[l] > 0 {
				left[l]--
				return true
			}
			return false
		})
	}
	extra, missing = dropDiffer(extra), dropDiffer(missing)
	var what []string
	if len(differ) > 0 {
		what = append(what, "not as the file shows it: "+listSome(differ))
	}
	if len(extra) > 0 {
		what = append(what, "shown in the file but not computed: "+listSome(extra))
	}
	if len(missing) > 0 {
		what = append(what, "computed but not shown in the file: "+listSome(missing))
	}
	if len(what) == 0 {
		what = append(what, "the same changes in another order")
	}
	return fmt.Sprintf("the file shows %s, its desired state makes %d against the live state (%s)",
		plural.S(len(shown), "change"), len(computed), strings.Join(what, "; ")), nil
}

func label(c Change) string { return string(c.Action) + " " + c.Address }

func listSome(list []string) string {
	if len(list) > 5 {
		return strings.Join(list[:5], ", ") + fmt.Sprintf(" and %d more", len(list)-5)
	}
	return strings.Join(list, ", ")
}

// Fingerprint hashes what netctl owns of a live state. What is not netctl's
// (ports attached by container runtimes, rules in the user chain, the
// person's user* chains and sets) is left out: it may change without making
// a plan stale.
func Fingerprint(live State) string {
	owned := live
	owned.Bridges = make(map[string]Bridge, len(live.Bridges))
	for name, b := range live.Bridges {
		b.Ports = nil
		owned.Bridges[name] = b
	}
	if live.Firewall != nil {
		fw := *live.Firewall.WithoutUserObjects()
		fw.Chains = append([]Chain(nil), fw.Chains...)
		for i := range fw.Chains {
			if fw.Chains[i].Name == ChainUser {
				fw.Chains[i].Rules = nil
			}
		}
		owned.Firewall = &fw
	}
	// encoding/json writes map keys sorted: the encoding is canonical.
	data, err := json.Marshal(owned)
	if err != nil {
		panic(fmt.Sprintf("plan: state does not encode: %v", err)) // only plain values: cannot happen
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// WriteFile saves the plan atomically: a temporary file (never one planted
// under its name) renamed into place.
func WriteFile(path string, f File) error {
	data, err := Encode(f)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o600)
}

// ReadFile loads a saved plan, refusing one of another format version or
// one edited since it was written.
func ReadFile(path string) (File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return File{}, err
	}
	return Decode(path, data)
}

// IsPlanFile reports whether data looks like a saved plan rather than a
// netctl.yaml: apply takes either.
func IsPlanFile(data []byte) bool {
	var probe struct {
		FormatVersion *int `json:"format_version"`
		Desired       *State
	}
	return json.Unmarshal(data, &probe) == nil && probe.FormatVersion != nil
}
