package e2e

import (
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/testnet"
)

const userObjectsConfig = `
firewall: true
bridges:
  docker0:
    address: 172.17.0.1/16
    icc: false
    containers:
      web: { address: 172.17.0.2 }
      db:  { address: 172.17.0.3, expose: [5432/tcp, 22/tcp] }
    links:
      - { from: web, to: db }
`

// TestUserSetsAndChainsAreThePersons (issue 10 item 7): a set and a chain
// whose names start with "user", made by a person in netctl's table and
// used from the user chain, survive applies that change the table; plan
// stays clean; the set works on real connections; destroy lists them.
func TestUserSetsAndChainsAreThePersons(t *testing.T) {
	e := setup(t)
	e.apply(userObjectsConfig)
	web, db := e.C["web"], e.C["db"]
	db5432, db22 := db.Listen(t, "tcp", 5432), db.Listen(t, "tcp", 22)
	// Positive control: the link opens both ports.
	testnet.Expect(t, web.Reaches(db5432), web.Reaches(db22))

	// The person's: drop ssh from the sources in user_allow.
	e.nft("add", "set", "inet", "netctl", "user_allow", "{ type ipv4_addr; }")
	e.nft("add", "element", "inet", "netctl", "user_allow", "{ 172.17.0.2 }")
	e.nft("add", "chain", "inet", "netctl", "user_x")
	e.nft("add", "rule", "inet", "netctl", "user_x", "tcp", "dport", "22", "drop")
	e.nft("add", "rule", "inet", "netctl", "user", "ip", "saddr", "@user_allow", "jump", "user_x")
	testnet.Expect(t, web.Reaches(db5432), web.CannotReach(db22))

	p := e.file(userObjectsConfig)
	e.wantPlanClean(p)

	// A change of netctl's table: a new container and link.
	more := strings.Replace(userObjectsConfig, "    links:\n",
		"      cache: { address: 172.17.0.4, expose: [6379/tcp] }\n    links:\n      - { from: web, to: cache }\n", 1)
	e.apply(more)
	e.wantPlanClean(e.file(more))
	if out := e.nft("list", "set", "inet", "netctl", "user_allow"); !strings.Contains(out, "172.17.0.2") {
		t.Errorf("user_allow after apply:\n%s", out)
	}
	if out := e.nft("list", "chain", "inet", "netctl", "user_x"); !strings.Contains(out, "tcp dport 22 drop") {
		t.Errorf("user_x after apply:\n%s", out)
	}
	cache6379 := e.C["cache"].Listen(t, "tcp", 6379)
	testnet.Expect(t, web.Reaches(db5432), web.Reaches(cache6379), web.CannotReach(db22))

	// And back: the link to cache goes, the person's objects stay.
	e.apply(userObjectsConfig)
	e.wantPlanClean(p)
	testnet.Expect(t, e.withControls(web.Reaches(db5432), web.CannotReach(cache6379), web.CannotReach(db22))...)

	// The set decides: without the element, ssh passes again.
	e.nft("delete", "element", "inet", "netctl", "user_allow", "{ 172.17.0.2 }")
	testnet.Expect(t, web.Reaches(db22))
	e.nft("add", "element", "inet", "netctl", "user_allow", "{ 172.17.0.2 }")

	out, code := e.netctl("destroy", "--auto-approve")
	if code != 0 {
		t.Fatalf("destroy exited %d:\n%s", code, out)
	}
	for _, want := range []string{"firewall.set.user_allow", "firewall.chain.user_x"} {
		if !strings.Contains(out, want) {
			t.Errorf("the destroy plan does not list %s:\n%s", want, out)
		}
	}
	if e.hasTable() {
		t.Errorf("inet netctl still there after destroy:\n%s", e.nft("list", "tables"))
	}
}
