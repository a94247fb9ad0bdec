package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
)

// TestSystemdBootAndWatchUnits: netctl-apply.service applies once at boot,
// after the firewall services and before the container runtimes, again when
// nftables.service restarts or reloads; netctl-watch.service is Type=notify
// and reloads on SIGHUP. Their command lines parse, and systemd-analyze
// verify finds nothing to say.
func TestSystemdBootAndWatchUnits(t *testing.T) {
	units := map[string][]string{
		"netctl-apply.service": {
			`^Type=oneshot$`, `^RemainAfterExit=yes$`,
			`^After=.*\bnftables\.service\b`, `^After=.*\bfirewalld\.service\b`,
			`^Before=.*\bdocker\.service\b`, `^Before=.*\bcontainerd\.service\b`, `^Before=.*\bpodman\.service\b`,
			`^PartOf=nftables\.service$`, `^ReloadPropagatedFrom=.*\bnftables\.service\b`,
			`^WantedBy=multi-user\.target$`,
		},
		"netctl-watch.service": {
			`^Type=notify$`, `^ExecReload=/bin/kill -HUP \$MAINPID$`, `^After=.*\bnetctl-apply\.service\b`,
			`^WantedBy=multi-user\.target$`,
		},
	}
	commands := map[string]string{"netctl-apply.service": "apply", "netctl-watch.service": "watch"}
	texts := map[string]string{}
	for name, wants := range units {
		data, err := os.ReadFile(filepath.Join("../../examples/systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		texts[name] = string(data)
		for _, w := range wants {
			if !regexp.MustCompile(`(?m)` + w).Match(data) {
				t.Errorf("%s: no line matching %s", name, w)
			}
		}
		// Every netctl command line is one netctl accepts.
		for _, m := range regexp.MustCompile(`(?m)^Exec(?:Start|Reload)=/usr/local/bin/netctl (.*)$`).FindAllSubmatch(data, -1) {
			args := strings.Fields(string(m[1]))
			c, rest, err := newRootCmd().Find(args)
			if err != nil || c.Name() != commands[name] {
				t.Fatalf("%s: %q is not netctl %s: %v", name, m[0], commands[name], err)
			}
			if err := c.ParseFlags(rest); err != nil {
				t.Errorf("%s: %q: %v", name, m[0], err)
			}
		}
	}

	nstest.RequireTool(t, "systemd-analyze", "the units are not verified (apt-get install systemd)")
	needBinary(t)
	dir := t.TempDir()
	var paths []string
	for name, text := range texts {
		paths = append(paths, writeFile(t, dir, name, strings.ReplaceAll(text, "/usr/local/bin/netctl", opsBin)))
	}
	out, err := exec.Command("systemd-analyze", append([]string{"verify"}, paths...)...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
