// Package metrics writes the outcome of a netctl plan in the Prometheus text
// exposition format, for node_exporter's textfile collector. The file is
// replaced atomically (a temporary file in the same directory, renamed over
// it), so the collector never reads half of one.
package metrics

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/netctl/netctl/internal/atomicfile"
)

// Actions are the values of the action label, in the order written. Every
// one is written, zero or not, so that a query sees a zero rather than
// nothing.
var Actions = []string{"create", "update", "delete", "replace"}

// Plan is the outcome of one plan run.
type Plan struct {
	// Success is false when the plan could not be made (an invalid file, a
	// kernel that could not be read). The change counts are then unknown and
	// not written.
	Success bool
	// Changes counts the pending changes by action (Actions); absent
	// actions count zero.
	Changes map[string]int
	// Duration is how long the plan took.
	Duration time.Duration
	// Time is when the plan finished.
	Time time.Time
	// Netns is the namespace planned ("" for netctl's own) and File the
	// netctl file: every series carries them as the labels netns and file,
	// so that the files of several namespaces in one textfile directory are
	// distinct series (node_exporter fails the whole scrape on a duplicate).
	Netns, File string
}

// Text renders the metrics in the text exposition format, version 0.0.4.
func (p Plan) Text() []byte {
	var b bytes.Buffer
	family := func(name, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
	}
	labels := `netns="` + labelValue(p.Netns) + `",file="` + labelValue(p.File) + `"`
	family("netctl_plan_changes", "Changes pending in the last netctl plan, by action (not written when the plan failed).")
	if p.Success {
		for _, a := range Actions {
			fmt.Fprintf(&b, "netctl_plan_changes{%s,action=%q} %d\n", labels, a, p.Changes[a])
		}
	}
	family("netctl_plan_success", "Whether the last netctl plan succeeded (1) or failed (0).")
	fmt.Fprintf(&b, "netctl_plan_success{%s} %d\n", labels, boolInt(p.Success))
	family("netctl_plan_duration_seconds", "How long the last netctl plan took.")
	fmt.Fprintf(&b, "netctl_plan_duration_seconds{%s} %s\n", labels, float(p.Duration.Seconds()))
	family("netctl_plan_timestamp_seconds", "When the last netctl plan finished, in seconds since the Unix epoch.")
	fmt.Fprintf(&b, "netctl_plan_timestamp_seconds{%s} %s\n", labels, float(float64(p.Time.UnixMilli())/1e3))
	return b.Bytes()
}

// labelValue escapes a label value as the exposition format does (only
// backslash, double quote and newline; Go's %q would write escapes the
// format lacks), after making it valid UTF-8, which a label value must be.
func labelValue(s string) string {
	return labelEscaper.Replace(strings.ToValidUTF8(s, "\uFFFD"))
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func float(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// Write replaces the file at path with the metrics, atomically. The file is
// made readable by all (0644): node_exporter runs as another user.
func (p Plan) Write(path string) error {
	return WriteFile(path, p.Text())
}

// WriteFile replaces the file at path with data atomically
// (atomicfile.WriteFile). The temporary name does not end in .prom, so the
// collector never reads it.
func WriteFile(path string, data []byte) error {
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("writing metrics to %s: %w", path, err)
	}
	return nil
}
