package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
)

// explainAnswer is the part of `netctl explain --json` the tests read.
type explainAnswer struct {
	Verdict string   `json:"verdict"`
	Drift   []string `json:"drift"`
	Path    []struct {
		Text string `json:"text"`
	} `json:"path"`
}

func (a explainAnswer) texts() []string {
	var out []string
	for _, s := range a.Path {
		out = append(out, s.Text)
	}
	return out
}

// explain runs netctl explain --json (with flags, such as -6) and checks
// that the exit status agrees with the verdict (0 allowed, 2 blocked).
func (e *env) explain(file, from, to, port string, flags ...string) explainAnswer {
	e.t.Helper()
	out, code := e.netctl(append([]string{"explain", "-f", file, from, to, port, "--json"}, flags...)...)
	var a explainAnswer
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		e.t.Fatalf("netctl explain %s %s %s: exit %d, not JSON: %v\n%s", from, to, port, code, err, out)
	}
	want := map[string]int{"allowed": 0, "blocked": 2}[a.Verdict]
	if a.Verdict != "allowed" && a.Verdict != "blocked" {
		e.t.Errorf("netctl explain %s %s %s: verdict %q:\n%s", from, to, port, a.Verdict, out)
	} else if code != want {
		e.t.Errorf("netctl explain %s %s %s: verdict %s but exit %d, want %d", from, to, port, a.Verdict, code, want)
	}
	return a
}

// question is one explain query with the probe that answers it for real.
type question struct {
	from, to, port string
	probe          testnet.Probe
	// says, if set, must be the text of a step of explain's path.
	says string
	// ipv6 asks with -6 (between names).
	ipv6 bool
}

// agree asks explain each question, then runs the real connections
// expecting explain's verdicts: testnet.Expect reports every connection
// that does not behave as explain said (with positive controls for each
// blocked one, e.withControls). It returns the verdicts.
func (e *env) agree(file string, qs []question) []string {
	e.t.Helper()
	return e.agreeWith(file, qs, e.withControls)
}

// agreeWith is agree with the controls of the probes' family
// (e.withControls6 for IPv6).
func (e *env) agreeWith(file string, qs []question, controls func(...testnet.Probe) []testnet.Probe) []string {
	e.t.Helper()
	probes := make([]testnet.Probe, len(qs))
	verdicts := make([]string, len(qs))
	for i, q := range qs {
		var flags []string
		if q.ipv6 {
			flags = append(flags, "-6")
		}
		a := e.explain(file, q.from, q.to, q.port, flags...)
		verdicts[i] = a.Verdict
		p := q.probe
		p.Want = a.Verdict == "allowed"
		probes[i] = p
		if q.says != "" && !containsString(a.texts(), q.says) {
			e.t.Errorf("explain %s %s %s: path lacks %q:\n  %s", q.from, q.to, q.port, q.says, strings.Join(a.texts(), "\n  "))
		}
	}
	testnet.Expect(e.t, controls(probes...)...)
	return verdicts
}

// expectVerdicts fails unless explain's verdicts are "blocked" at the
// indexes given and "allowed" elsewhere.
func expectVerdicts(t *testing.T, phase string, got []string, blocked ...int) {
	t.Helper()
	want := make([]string, len(got))
	for i := range want {
		want[i] = "allowed"
	}
	for _, i := range blocked {
		want[i] = "blocked"
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s: verdicts\n  %v\nwant\n  %v", phase, got, want)
	}
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func explainScenarioConfig(fwd, firewall, icc bool, sources string) string {
	src, links := "", ""
	if firewall {
		src = "\n    allowed_sources: " + sources
		links = `
    links:
      - { from: web, to: db, ports: [5432/tcp, 53/udp] }
      - { from: web, to: cache }`
	}
	return fmt.Sprintf(`
ip_forward: %v
firewall: %v
bridges:
  docker0:
    address: 172.17.0.1/16
    gateway_mode: nat-unprotected
    icc: %v
    external_interface: eth0%s
    containers:
      web:   { address: 172.17.0.2, expose: [80/tcp] }
      db:    { address: 172.17.0.3, expose: [5432/tcp, 22/tcp, 53/udp] }
      cache: { address: 172.17.0.4, expose: [6379/tcp] }%s
  br-app:
    address: 172.18.0.1/16
    gateway_mode: nat-unprotected
    containers:
      api: { address: 172.18.0.2, expose: [8000/tcp] }
`, fwd, firewall, icc, src, links)
}

// TestExplainScenarios: for each e2e scenario (icc on and off, links tcp
// and udp, allowed sources, two bridges, a user chain rule, ip_forward 0,
// bridge-nf-call-iptables 0, a foreign drop policy, firewall off),
// explain's verdict is the outcome of the real connection, and its path
// says why in the expected words. The last phase (firewall off) is the
// positive control of every connection blocked before: all of them connect.
func TestExplainScenarios(t *testing.T) {
	e := setup(t)
	p := e.file(explainScenarioConfig(true, true, true, "[]"))
	e.applyFile(p)
	web, db, cache, api := e.C["web"], e.C["db"], e.C["cache"], e.C["api"]
	web80 := web.Listen(t, "tcp", 80)
	db5432, db22, db53u, db53t := db.Listen(t, "tcp", 5432), db.Listen(t, "tcp", 22), db.Listen(t, "udp", 53), db.Listen(t, "tcp", 53)
	cache6379, cache6380 := cache.Listen(t, "tcp", 6379), cache.Listen(t, "tcp", 6380)
	api8000 := api.Listen(t, "tcp", 8000)
	outC := e.ListenOutside(t, "tcp", outsideC, 443)
	fromA, fromB, fromC := e.FromOutside(outsideA), e.FromOutside(outsideB), e.FromOutside(outsideC)

	// all is every question; says are added per phase.
	all := func(says map[int]string) []question {
		qs := []question{
			{from: "web", to: "db", port: "5432/tcp", probe: web.Reaches(db5432)},           // 0
			{from: "web", to: "db", port: "53/udp", probe: web.Reaches(db53u)},              // 1
			{from: "web", to: "db", port: "53/tcp", probe: web.Reaches(db53t)},              // 2
			{from: "web", to: "db", port: "22", probe: web.Reaches(db22)},                   // 3
			{from: "db", to: "web", port: "80", probe: db.Reaches(web80)},                   // 4
			{from: "web", to: "cache", port: "6379", probe: web.Reaches(cache6379)},         // 5
			{from: "web", to: "cache", port: "6380", probe: web.Reaches(cache6380)},         // 6
			{from: "web", to: "api", port: "8000", probe: web.Reaches(api8000)},             // 7
			{from: "api", to: "web", port: "80", probe: api.Reaches(web80)},                 // 8
			{from: "198.51.100.10", to: "web", port: "80", probe: fromA.Reaches(web80)},     // 9
			{from: "198.51.100.20", to: "web", port: "80", probe: fromB.Reaches(web80)},     // 10
			{from: "203.0.113.10", to: "db", port: "5432", probe: fromC.Reaches(db5432)},    // 11
			{from: "web", to: "203.0.113.10", port: "443", probe: web.Reaches(outC)},        // 12
			{from: "api", to: "203.0.113.10", port: "443", probe: api.Reaches(outC)},        // 13
			{from: "198.51.100.20", to: "api", port: "8000", probe: fromB.Reaches(api8000)}, // 14
		}
		for i, s := range says {
			qs[i].says = s
		}
		return qs
	}
	// icc on, two bridges: only the other bridge is closed.
	v := e.agree(p, all(map[int]string{7: "different bridges: isolation", 8: "different bridges: isolation"}))
	expectVerdicts(t, "icc on", v, 7, 8)

	// icc off, links, allowed sources.
	p = e.file(explainScenarioConfig(true, true, false, "[198.51.100.10]"))
	e.applyFile(p)
	v = e.agree(p, all(map[int]string{
		0:  "bridge.docker0.link.web->db accepts 5432/tcp",
		1:  "bridge.docker0.link.web->db accepts 53/udp",
		2:  "bridge.docker0.icc drops",
		4:  "bridge.docker0.icc drops",
		6:  "port 6380 is not exposed by cache",
		10: "bridge.docker0.allowed_sources drops 198.51.100.20",
		11: "bridge.docker0.allowed_sources drops 203.0.113.10",
	}))
	expectVerdicts(t, "icc off", v, 2, 3, 4, 6, 7, 8, 10, 11)

	// A person's rule in the user chain.
	e.nft("add", "rule", "inet", "netctl", "user", "ip", "daddr", "172.17.0.3", "tcp", "dport", "5432", "drop")
	m := regexp.MustCompile(`tcp dport 5432 drop # handle (\d+)`).FindStringSubmatch(e.nft("-a", "list", "chain", "inet", "netctl", "user"))
	if m == nil {
		t.Fatal("user rule not found")
	}
	v = e.agree(p, []question{
		{from: "web", to: "db", port: "5432", probe: web.Reaches(db5432), says: "user chain rule handle " + m[1] + " drops"},
		{from: "web", to: "cache", port: "6379", probe: web.Reaches(cache6379)},
	})
	expectVerdicts(t, "user rule", v, 0)
	e.nft("delete", "rule", "inet", "netctl", "user", "handle", m[1])

	// A person's rule on the server's address: the first packet (web →
	// db) passes it, the reply (db → web) does not, since the user chain
	// comes before netctl's accept of established traffic. With ct state
	// new it spares the reply. The connection to cache is the control.
	e.nft("add", "rule", "inet", "netctl", "user", "ip", "saddr", "172.17.0.3", "drop")
	m = regexp.MustCompile(`ip saddr 172.17.0.3 drop # handle (\d+)`).FindStringSubmatch(e.nft("-a", "list", "chain", "inet", "netctl", "user"))
	if m == nil {
		t.Fatal("user rule on db's address not found")
	}
	v = e.agree(p, []question{
		{from: "web", to: "db", port: "5432", probe: web.Reaches(db5432), says: "the reply, db → web (ct state established), is dropped:"},
		{from: "web", to: "cache", port: "6379", probe: web.Reaches(cache6379)},
	})
	expectVerdicts(t, "user rule drops the reply", v, 0)
	e.nft("delete", "rule", "inet", "netctl", "user", "handle", m[1])
	e.nft("add", "rule", "inet", "netctl", "user", "ct", "state", "new", "ip", "saddr", "172.17.0.3", "drop")
	m = regexp.MustCompile(`ip saddr 172.17.0.3 drop # handle (\d+)`).FindStringSubmatch(e.nft("-a", "list", "chain", "inet", "netctl", "user"))
	if m == nil {
		t.Fatal("user rule on db's new connections not found")
	}
	v = e.agree(p, []question{
		{from: "web", to: "db", port: "5432", probe: web.Reaches(db5432)},
		{from: "db", to: "cache", port: "6379", probe: db.Reaches(cache6379), says: "user chain rule handle " + m[1] + " drops"},
	})
	expectVerdicts(t, "user rule on new connections", v, 1)
	e.nft("delete", "rule", "inet", "netctl", "user", "handle", m[1])

	// br_netfilter off in this namespace: netctl's chains do not see
	// bridged traffic (only ever written to 0, as TestBridgeNetfilterTurnedOn).
	nstest.Exec(t, e.Host, "sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=0")
	v = e.agree(p, []question{
		{from: "db", to: "web", port: "80", probe: db.Reaches(web80), says: "bridge-nf-call-iptables = 0 (icc cannot be enforced)"},
	})
	expectVerdicts(t, "br_netfilter off", v)
	e.applyFile(p) // turns it back on
	v = e.agree(p, []question{{from: "db", to: "web", port: "80", probe: db.Reaches(web80), says: "bridge.docker0.icc drops"}})
	expectVerdicts(t, "br_netfilter on again", v, 0)

	// ip_forward 0: nothing routed, bridged traffic still flows.
	p = e.file(explainScenarioConfig(false, true, true, "[]"))
	e.applyFile(p)
	v = e.agree(p, []question{
		{from: "web", to: "203.0.113.10", port: "443", probe: web.Reaches(outC), says: "ip_forward = 0"},
		{from: "198.51.100.10", to: "web", port: "80", probe: fromA.Reaches(web80), says: "ip_forward = 0"},
		{from: "web", to: "db", port: "22", probe: web.Reaches(db22)},
	})
	expectVerdicts(t, "ip_forward 0", v, 0, 1)

	// A foreign table's forward chain with policy drop.
	p = e.file(explainScenarioConfig(true, true, true, "[]"))
	e.applyFile(p)
	e.nft("add", "table", "ip", "filter")
	e.nft("add", "chain", "ip", "filter", "FORWARD", "{ type filter hook forward priority 0; policy drop; }")
	v = e.agree(p, []question{
		{from: "web", to: "203.0.113.10", port: "443", probe: web.Reaches(outC), says: "table ip filter chain FORWARD policy drop (not netctl's)"},
		{from: "web", to: "db", port: "5432", probe: web.Reaches(db5432), says: "table ip filter chain FORWARD policy drop (not netctl's)"},
	})
	expectVerdicts(t, "foreign drop", v, 0, 1)
	e.nft("delete", "table", "ip", "filter")

	// Firewall off: everything connects (the positive control).
	p = e.file(explainScenarioConfig(true, false, true, "[]"))
	e.applyFile(p)
	v = e.agree(p, all(map[int]string{7: "no table inet netctl (firewall off): nothing of netctl's filters it"}))
	expectVerdicts(t, "firewall off", v)
}

// TestExplainDrift: when the live state differs from the file, explain
// says so and answers for the live state (the link removed by hand is
// closed, although the file has it).
func TestExplainDrift(t *testing.T) {
	e := setup(t)
	p := e.file(explainScenarioConfig(true, true, false, "[]"))
	e.applyFile(p)
	web, db := e.C["web"], e.C["db"]
	db5432 := db.Listen(t, "tcp", 5432)
	v := e.agree(p, []question{{from: "web", to: "db", port: "5432", probe: web.Reaches(db5432)}})
	if v[0] != "allowed" {
		t.Fatalf("before the drift: %s", v[0])
	}
	e.nft("delete", "element", "inet", "netctl", "links", "{ 172.17.0.2 . 172.17.0.3 . tcp . 5432 }")
	a := e.explain(p, "web", "db", "5432")
	if a.Verdict != "blocked" || len(a.Drift) == 0 || !strings.Contains(a.Path[0].Text, "differs from the file") {
		t.Errorf("after deleting the link element: verdict %s, drift %v, path %v", a.Verdict, a.Drift, a.texts())
	}
	testnet.Expect(t, e.withControls(web.CannotReach(db5432))...)
}
