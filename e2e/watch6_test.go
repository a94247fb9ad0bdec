package e2e

import (
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
)

// watch6Config: a dual-stack docker0 with icc: false, web linked to db
// (both families) and db publishing 8080:5432 on every host address.
const watch6Config = `
ip_forward: true
ip6_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    address6: fd00:17::1/64
    icc: false
    containers:
      web: { address: 172.17.0.2, address6: "fd00:17::2" }
      db: { address: 172.17.0.3, address6: "fd00:17::3", expose: [5432/tcp], publish: [8080:5432] }
    links:
      - { from: web, to: db }
`

// TestWatchRepairsIPv6Drift: watch --repair notices and repairs the drift
// of every IPv6 object in turn — the bridge's address6 deleted, the links6
// set flushed, an element of publish_any6 deleted, ip6_forward 0 — and after
// each, with its positive controls, the IPv6 link works, what no link opens
// is blocked, and the outside reaches the publication over IPv6.
func TestWatchRepairsIPv6Drift(t *testing.T) {
	e := setup(t)
	e.AddOutside6(t)
	p := e.file(watch6Config)
	e.applyFile(p)
	e.addr6(gw6, map[string]string{"web": "fd00:17::2", "db": "fd00:17::3"})
	web, db := e.C["web"], e.C["db"]
	db5432, db22, web5432 := db.Listen6(t, "tcp", 5432), db.Listen6(t, "tcp", 22), web.Listen6(t, "tcp", 5432)
	outA := e.FromOutside(outside6A)
	promises := func(t *testing.T) {
		t.Helper()
		testnet.Expect(t, e.withControls6(web.Reaches(db5432), web.CannotReach(db22), db.CannotReach(web5432),
			via(outA, db5432, hostExt6A, 8080, true), outA.CannotReach(db5432))...)
	}
	promises(t)
	w := e.startWatch(p, "--repair", "--sysctl-interval", "200ms")

	for _, tc := range []struct {
		name   string
		drift  func()
		object string
	}{
		{"address6 deleted", func() {
			nstest.Run(t, "ip", "-n", e.Host, "-6", "addr", "del", "fd00:17::1/64", "dev", "docker0")
		}, "bridge.docker0"},
		{"links6 flushed", func() { e.nft("flush", "set", "inet", "netctl", "links6") }, "firewall"},
		{"publish_any6 element deleted", func() {
			e.nft("delete", "element", "inet", "netctl", "publish_any6", "{ tcp . 8080 }")
		}, "firewall"},
		{"ip6_forward 0", func() {
			nstest.Exec(t, e.Host, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=0")
		}, "sysctl.net.ipv6.conf.all.forwarding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := w.mark()
			tc.drift()
			e.Changed(tc.name)
			w.waitFrom(from, "the drift of "+tc.object, func(l map[string]any) bool { return l["msg"] == "drift" && l["object"] == tc.object })
			w.waitFrom(from, "the repair of "+tc.object, func(l map[string]any) bool { return l["msg"] == "repaired" && l["object"] == tc.object })
			e.Changed("watch repaired " + tc.object)
			e.wantPlanClean(p)
			promises(t)
		})
	}
	mfs := w.scrape()
	for typ, want := range map[string]float64{"firewall": 2, "bridge": 1, "sysctl": 1} {
		if got := value(t, mfs, "netctl_watch_repairs_total", "type", typ); got != want {
			t.Errorf("netctl_watch_repairs_total{type=%q} = %v, want %v", typ, got, want)
		}
	}
	if code := w.stop(); code != 0 {
		t.Errorf("watch exited %d after SIGTERM, want 0", code)
	}
}
