package apply_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/netctl/netctl/apply"
	"github.com/netctl/netctl/internal/nsid"
	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// Issue 10 item 2, the table: a table `inet netctl` that netctl did not
// create (no comment "netctl") is refused by plan and apply, and left alone
// by destroy.
func TestForeignTableRefused(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	nstest.Exec(t, ns, "nft", "add", "table", "inet", "netctl")
	nstest.Exec(t, ns, "nft", "add", "chain", "inet", "netctl", "mine")
	nstest.Exec(t, ns, "nft", "add", "rule", "inet", "netctl", "mine", "ip", "saddr", "192.0.2.1", "drop")
	state := func() string {
		return nstest.Exec(t, ns, "nft", "list", "ruleset") + nstest.Run(t, "ip", "-n", ns, "-br", "link")
	}
	before := state()
	file := writeFile(t, smallConfig)
	for _, cmd := range [][]string{
		{"plan", "-f", file, "--netns", ns},
		{"apply", "-f", file, "--netns", ns, "--auto-approve"},
	} {
		r := mustNetctl(t, 1, cmd...)
		if !strings.Contains(r.stderr, "table inet netctl exists and was not created by netctl") {
			t.Errorf("%s: stderr does not say why:\n%s", cmd[0], r.stderr)
		}
		if after := state(); after != before {
			t.Fatalf("%s touched the namespace:\n%s\nwas:\n%s", cmd[0], after, before)
		}
	}
	// Not netctl's: destroy has nothing to do with it.
	mustNetctl(t, 0, "destroy", "--netns", ns, "--auto-approve")
	if after := state(); after != before {
		t.Fatalf("destroy touched the foreign table:\n%s\nwas:\n%s", after, before)
	}
}

// A table written by netctl before the mark existed (same shape, no comment)
// is still netctl's: plan is clean, apply and destroy work on it.
func TestUnmarkedTableOfEarlierNetctl(t *testing.T) {
	nstest.RequireRoot(t)
	ns := nstest.New(t)
	file := writeFile(t, smallConfig)
	mustNetctl(t, 0, "apply", "-f", file, "--netns", ns, "--auto-approve")

	// Rewrite the table as the previous version wrote it: without the comment.
	cfg, err := schema.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	fw := plan.Desired(cfg).Firewall
	fw.Owner = ""
	script := filepath.Join(t.TempDir(), "old.nft")
	if err := os.WriteFile(script, []byte(fw.NFT()), 0o644); err != nil {
		t.Fatal(err)
	}
	nstest.Exec(t, ns, "nft", "-f", script)
	// That version kept no forward memory either (and wrote no
	// forward_others rule): without this, the memory would rightly bring
	// the forward_others drop back.
	if err := os.Remove(filepath.Join(apply.DefaultStateDir, nsid.ID(t, ns).String()+".forward")); err != nil {
		t.Fatal(err)
	}
	if out := nstest.Exec(t, ns, "nft", "list", "table", "inet", "netctl"); regexp.MustCompile(`(?m)^\tcomment "netctl"$`).MatchString(out) {
		t.Fatalf("the table still has its comment:\n%s", out)
	}
	mustNetctl(t, 0, "plan", "-f", file, "--netns", ns, "--detailed-exitcode")

	more := strings.Replace(smallConfig, "    links:\n", "      cache: { address: 172.17.0.4, expose: [6379/tcp] }\n    links:\n      - { from: web, to: cache }\n", 1)
	mustNetctl(t, 0, "apply", "-f", writeFile(t, more), "--netns", ns, "--auto-approve")
	if out := nstest.Exec(t, ns, "nft", "list", "set", "inet", "netctl", "links"); !strings.Contains(out, "172.17.0.4 . tcp . 6379") {
		t.Fatalf("apply on the unmarked table:\n%s", out)
	}
	mustNetctl(t, 0, "destroy", "--netns", ns, "--auto-approve")
	if tables := nstest.Exec(t, ns, "nft", "list", "tables"); strings.Contains(tables, "inet netctl") {
		t.Fatalf("destroy left the table:\n%s", tables)
	}
}
