package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/netctl/netctl/internal/atomicfile"
)

// PlanFileVersion is the format version of a saved plan file.
const PlanFileVersion = 1

// File is a plan saved by `netctl plan --out` for `netctl apply PLANFILE`:
// the desired state, the file it came from, and a fingerprint of the live
// state it was computed against, so apply can refuse a stale plan.
type File struct {
	FormatVersion int    `json:"format_version"`
	Source        string `json:"source"`
	Netns         string `json:"netns"`
	Fingerprint   string `json:"live_fingerprint"`
	Desired       State  `json:"desired"`
	// Live is the state the plan was computed against: a stale plan's
	// error names what changed since.
	Live State `json:"live"`
	// Changes are informative: apply recomputes them and checks that the
	// fingerprint still holds.
	Changes []Change `json:"changes"`
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
	f.FormatVersion = PlanFileVersion
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'), 0o600)
}

// ReadFile loads a saved plan.
func ReadFile(path string) (File, error) {
	var f File
	data, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("%s: not a netctl plan file: %v", path, err)
	}
	if f.FormatVersion != PlanFileVersion {
		return f, fmt.Errorf("%s: plan file format %d, this netctl reads %d", path, f.FormatVersion, PlanFileVersion)
	}
	return f, nil
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
