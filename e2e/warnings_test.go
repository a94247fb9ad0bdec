package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
)

// Issue 5: netctl's accept does not override a drop in someone else's table
// (nftables evaluates every base chain on a hook), and where netctl can see
// such a drop policy on the forward hook, the plan warns about it.

const warningConfig = `
ip_forward: true
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    icc: false
    containers:
      web: { address: 172.17.0.2, expose: [80/tcp] }
      db:  { address: 172.17.0.3, expose: [5432/tcp] }
    links:
      - { from: web, to: db, ports: [5432/tcp] }
`

// planOutput is what one netctl plan printed, as text and as JSON.
type planOutput struct {
	text     string
	code     int
	warnings []string
	changes  int
}

func (e *env) planWithWarnings(path string) planOutput {
	e.t.Helper()
	var p planOutput
	p.text, p.code = e.plan(path, "--no-color")
	out, code := e.netctl("plan", "-f", path, "--json")
	if code != 0 {
		e.t.Fatalf("netctl plan --json exited %d:\n%s", code, out)
	}
	var doc struct {
		ResourceChanges []json.RawMessage `json:"resource_changes"`
		Warnings        []string          `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		e.t.Fatalf("netctl plan --json is not JSON: %v\n%s", err, out)
	}
	if doc.Warnings == nil && !strings.Contains(out, `"warnings":[]`) {
		e.t.Errorf("netctl plan --json has no warnings list (want [] when there are none):\n%s", out)
	}
	p.warnings, p.changes = doc.Warnings, len(doc.ResourceChanges)
	return p
}

// wantNoWarning fails unless the plan is clean and warns about nothing.
func (e *env) wantNoWarning(path string) {
	e.t.Helper()
	p := e.planWithWarnings(path)
	// (The file's path holds the test's name, and so "Warning": look at
	// the lines' starts.)
	if p.code != 0 || strings.HasPrefix(p.text, "Warning") || strings.Contains(p.text, "\nWarning") {
		e.t.Errorf("plan exited %d, want 0, with no warning:\n%s", p.code, p.text)
	}
	if len(p.warnings) != 0 || p.changes != 0 {
		e.t.Errorf("plan --json: %d changes, warnings %q; want none", p.changes, p.warnings)
	}
}

// wantWarning fails unless the plan is clean (the foreign chain is not
// drift) and warns, in text and JSON, with a warning holding every one of
// parts; it returns the text.
func (e *env) wantWarning(path string, parts ...string) string {
	e.t.Helper()
	p := e.planWithWarnings(path)
	if p.code != 0 || p.changes != 0 {
		e.t.Errorf("plan exited %d with %d changes, want 0 and none: someone else's chain is not drift:\n%s", p.code, p.changes, p.text)
	}
	has := func(s string) bool {
		for _, part := range parts {
			if !strings.Contains(s, part) {
				return false
			}
		}
		return true
	}
	var line string
	for _, l := range strings.Split(p.text, "\n") {
		if strings.HasPrefix(l, "Warning:") && has(l) {
			line = l
		}
	}
	if line == "" {
		e.t.Errorf("plan text has no warning naming %q:\n%s", parts, p.text)
	}
	if !strings.Contains(p.text, "No changes.") {
		e.t.Errorf("plan text lacks the no-changes line:\n%s", p.text)
	}
	if len(p.warnings) != 1 || !has(p.warnings[0]) {
		e.t.Errorf("plan --json warnings = %q, want one naming %q", p.warnings, parts)
	}
	return p.text
}

// TestWarningForeignDropPolicy: a drop policy in someone else's table on the
// forward hook makes plan warn, and really does block a link that netctl
// opens; once the foreign chain is gone, the warning goes and the link works.
func TestWarningForeignDropPolicy(t *testing.T) {
	e := setup(t)
	path := e.file(warningConfig)
	e.applyFile(path)
	web, db := e.C["web"], e.C["db"]
	db5432, db22 := db.Listen(t, "tcp", 5432), db.Listen(t, "tcp", 22)

	// Without the foreign chain: no warning, the link works, the rest is closed.
	e.wantNoWarning(path)
	if !testnet.Expect(t, web.Reaches(db5432), web.CannotReach(db22)) {
		t.Fatal("the applied state is already wrong; the foreign drop cannot be judged")
	}

	e.nft("add", "table", "ip", "filter")
	e.nft("add", "chain", "ip", "filter", "FORWARD", "{ type filter hook forward priority 0; policy drop; }")
	text := e.wantWarning(path, "table ip filter", "chain FORWARD", "policy drop")
	t.Logf("plan with the foreign drop policy:\n%s", text)

	// nftables runs every base chain on the hook: netctl's accept of the
	// link does not override the foreign chain's drop.
	testnet.Expect(t, e.withControls(web.CannotReach(db5432), web.CannotReach(db22))...)
	// Nor does an apply (it has nothing to change, and must not touch the
	// foreign table).
	e.applyFile(path)
	testnet.Expect(t, e.withControls(web.CannotReach(db5432))...)
	if out := e.nft("list", "table", "ip", "filter"); !strings.Contains(out, "policy drop") {
		t.Errorf("apply changed the foreign table:\n%s", out)
	}

	e.nft("delete", "table", "ip", "filter")
	e.wantNoWarning(path)
	testnet.Expect(t, web.Reaches(db5432), web.CannotReach(db22))
}

// TestWarningWhichChains: only base chains of other tables on the forward
// hook, seeing IPv4, with policy drop are warned about.
func TestWarningWhichChains(t *testing.T) {
	e := setup(t)
	path := e.file(warningConfig)
	e.applyFile(path)
	e.wantNoWarning(path)

	cases := []struct {
		name  string
		add   []string // an nft script, one command a line
		del   string   // the table to delete afterwards
		parts []string // nil: no warning
	}{
		{
			name:  "inet table, forward hook, policy drop",
			add:   []string{"add table inet fw", "add chain inet fw fw_forward { type filter hook forward priority 10; policy drop; }"},
			del:   "inet fw",
			parts: []string{"table inet fw", "chain fw_forward"},
		},
		{
			name:  "bridge table, forward hook, policy drop",
			add:   []string{"add table bridge brfw", "add chain bridge brfw forward_chain { type filter hook forward priority 0; policy drop; }"},
			del:   "bridge brfw",
			parts: []string{"table bridge brfw", "chain forward_chain"},
		},
		{
			name: "forward hook, policy accept with a drop rule",
			add: []string{"add table ip filter", "add chain ip filter FORWARD { type filter hook forward priority 0; policy accept; }",
				"add rule ip filter FORWARD ip saddr 192.0.2.1 drop"},
			del: "ip filter",
		},
		{
			name: "input hook, policy drop",
			add:  []string{"add table ip filter", "add chain ip filter INPUT { type filter hook input priority 0; policy drop; }"},
			del:  "ip filter",
		},
		{
			name: "regular chain named FORWARD",
			add:  []string{"add table ip filter", "add chain ip filter FORWARD"},
			del:  "ip filter",
		},
		{
			name: "ip6 table, forward hook, policy drop (IPv6 only)",
			add:  []string{"add table ip6 filter", "add chain ip6 filter FORWARD { type filter hook forward priority 0; policy drop; }"},
			del:  "ip6 filter",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer e.use(t)()
			for _, cmd := range tc.add {
				e.nft(strings.Fields(cmd)...)
			}
			defer e.nft(append([]string{"delete", "table"}, strings.Fields(tc.del)...)...)
			if tc.parts == nil {
				e.wantNoWarning(path)
				return
			}
			e.wantWarning(path, tc.parts...)
		})
	}

	// What Docker itself does with iptables-nft: iptables -P FORWARD DROP.
	t.Run("iptables -P FORWARD DROP", func(t *testing.T) {
		nstest.RequireTool(t, "iptables", "the iptables-nft case needs it (apt-get install iptables)")
		defer e.use(t)()
		out := nstest.Exec(t, e.Host, "iptables", "-V")
		if !strings.Contains(out, "nf_tables") {
			nstest.Skip(t, "iptables is not the nf_tables variant (%s): netctl cannot see legacy xtables policies", strings.TrimSpace(out))
		}
		nstest.Exec(t, e.Host, "iptables", "-P", "FORWARD", "DROP")
		defer e.nft("delete", "table", "ip", "filter")
		e.wantWarning(path, "table ip filter", "chain FORWARD")
	})
	e.wantNoWarning(path)
}

// use makes the env report to a subtest until the returned func is called.
func (e *env) use(t *testing.T) (restore func()) {
	parent := e.t
	e.t = t
	return func() { e.t = parent }
}
