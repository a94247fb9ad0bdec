package e2e

import (
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
)

const fullConfig = `
ip_forward: true
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    gateway_mode: nat-unprotected
    icc: false
    masquerade: true
    external_interface: eth0
    allowed_sources: [198.51.100.10]
    containers:
      web: { address: 172.17.0.2, expose: [80/tcp] }
      db:  { address: 172.17.0.3, expose: [5432/tcp, 22/tcp, 53/udp] }
    links:
      - { from: web, to: db, ports: [5432/tcp] }
`

// TestPlanApplyDestroy: plan sees work before apply and none after it (with
// containers attached to the bridge); destroy removes netctl's bridge and
// table, and leaves a foreign table and a foreign bridge exactly as they were.
func TestPlanApplyDestroy(t *testing.T) {
	e := setup(t)
	// Someone else's firewall and bridge in the same namespace.
	e.nft("add", "table", "inet", "other")
	e.nft("add", "chain", "inet", "other", "forward", "{ type filter hook forward priority 10; policy accept; }")
	e.nft("add", "rule", "inet", "other", "forward", "ip", "saddr", "192.0.2.1", "counter", "accept")
	nstest.Run(t, "ip", "-n", e.Host, "link", "add", "br-other", "type", "bridge")
	nstest.Run(t, "ip", "-n", e.Host, "addr", "add", "192.0.2.254/24", "dev", "br-other")
	otherTable := e.nft("list", "table", "inet", "other")
	otherBridge := nstest.Run(t, "ip", "-n", e.Host, "-br", "addr", "show", "br-other")

	p := e.file(fullConfig)
	if out, code := e.plan(p); code != 2 {
		t.Errorf("plan before apply exited %d, want 2:\n%s", code, out)
	}

	// First without restrictions: every connection blocked below works.
	open := strings.NewReplacer("icc: false", "icc: true", "allowed_sources: [198.51.100.10]", "allowed_sources: []").Replace(fullConfig)
	e.apply(open)
	web, db := e.C["web"], e.C["db"]
	web80 := web.Listen(t, "tcp", 80)
	db5432, db22 := db.Listen(t, "tcp", 5432), db.Listen(t, "tcp", 22)
	out := e.ListenOutside(t, "tcp", outsideC, 443)
	testnet.Expect(t,
		web.Reaches(db5432), web.Reaches(db22), db.Reaches(web80),
		e.FromOutside(outsideA).Reaches(web80), e.FromOutside(outsideB).Reaches(web80),
		web.Reaches(out),
	)

	e.applyFile(p)
	e.wantPlanClean(p)
	if addrs := e.planAddresses(p); len(addrs) != 0 {
		t.Errorf("plan --json after apply names changes: %q", addrs)
	}
	testnet.Expect(t, e.withControls(
		web.Reaches(db5432), web.CannotReach(db22), db.CannotReach(web80),
		e.FromOutside(outsideA).Reaches(web80), e.FromOutside(outsideB).CannotReach(web80),
		web.Reaches(out),
	)...)

	if out, code := e.netctl("destroy", "-f", p, "--auto-approve"); code != 0 {
		t.Fatalf("netctl destroy exited %d:\n%s", code, out)
	}
	if e.hasTable() {
		t.Errorf("inet netctl still there after destroy:\n%s", e.nft("list", "tables"))
	}
	if links := nstest.Run(t, "ip", "-n", e.Host, "-br", "link"); strings.Contains(links, "docker0") {
		t.Errorf("docker0 still there after destroy:\n%s", links)
	}
	if got := e.nft("list", "table", "inet", "other"); got != otherTable {
		t.Errorf("destroy changed a foreign table:\nbefore:\n%s\nafter:\n%s", otherTable, got)
	}
	if got := nstest.Run(t, "ip", "-n", e.Host, "-br", "addr", "show", "br-other"); got != otherBridge {
		t.Errorf("destroy changed a foreign bridge:\nbefore: %s\nafter:  %s", otherBridge, got)
	}
	if out, code := e.plan(p); code != 2 {
		t.Errorf("plan after destroy exited %d, want 2:\n%s", code, out)
	}
}
