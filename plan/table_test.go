package plan

import (
	"errors"
	"slices"
	"testing"
)

func TestTableOwned(t *testing.T) {
	marked := Desired(fullConfig()).Firewall
	legacy := cloneState(State{Firewall: marked}).Firewall
	legacy.Owner = ""
	foreign := &Firewall{Chains: []Chain{{Name: "mine"}}}
	otherComment := cloneState(State{Firewall: legacy}).Firewall
	otherComment.Owner = "someone"
	noJump := cloneState(State{Firewall: legacy}).Firewall
	noJump.Chain(ChainForward).Rules = noJump.Chain(ChainForward).Rules[1:]
	for _, c := range []struct {
		name string
		fw   *Firewall
		want bool
	}{
		{"marked", marked, true},
		{"unmarked, netctl's shape (earlier netctl)", legacy, true},
		{"foreign", foreign, false},
		{"empty", &Firewall{}, false},
		{"another comment", otherComment, false},
		{"unmarked without the jump to user", noJump, false},
		{"absent", nil, false},
	} {
		if got := c.fw.Owned(); got != c.want {
			t.Errorf("%s: Owned() = %v, want %v", c.name, got, c.want)
		}
	}

	desired := Desired(fullConfig())
	var fe ForeignTableError
	if err := Conflicts(desired, State{Firewall: foreign}); !errors.As(err, &fe) {
		t.Errorf("Conflicts with a foreign table: %v", err)
	}
	for _, live := range []*Firewall{nil, marked, legacy} {
		if err := Conflicts(desired, State{Firewall: live}); err != nil {
			t.Errorf("Conflicts with %+v: %v", live, err)
		}
	}
	// Without a firewall in the file the foreign table is not netctl's:
	// no conflict, no change.
	if err := Conflicts(State{}, State{Firewall: foreign}); err != nil {
		t.Errorf("no firewall wanted: %v", err)
	}
	if p := Diff(State{}, State{Firewall: foreign}); !p.Empty() {
		t.Errorf("Diff deletes a foreign table: %+v", p.Changes)
	}
	if !FirewallsEqual(nil, foreign) {
		t.Error("FirewallsEqual(nil, foreign) is false: apply would delete it")
	}
	if p := Diff(State{}, State{Firewall: legacy}); p.Empty() {
		t.Error("Diff keeps an earlier netctl's table that the file no longer wants")
	}
}

// The person's user* chains and sets in netctl's table: never drift, listed
// only when the table goes.
func TestUserObjectsAreNotDrift(t *testing.T) {
	desired := Desired(fullConfig())
	live := liveOf(desired)
	live.Firewall.Chains = append(live.Firewall.Chains, Chain{Name: "user_x", Rules: []Rule{{Verdict: VerdictDrop, Handle: 7}}})
	live.Firewall.Sets = append(live.Firewall.Sets, Set{Name: "user_allow", Type: "ipv4_addr", Elements: []Element{{Key: "172.17.0.2"}}})
	if p := Diff(desired, live); !p.Empty() {
		t.Errorf("user objects are drift: %q", changeList(p))
	}
	changed := cloneState(desired)
	changed.Firewall.Sets[1].Elements = changed.Firewall.Sets[1].Elements[1:]
	checkOps(t, changed, live, Diff(changed, live))
	checkOps(t, State{}, live, Diff(State{}, live))
	if !FirewallsEqual(desired.Firewall, live.Firewall) {
		t.Error("FirewallsEqual: user objects differ")
	}
	if Fingerprint(live) != Fingerprint(liveOf(desired)) {
		t.Error("user objects change the fingerprint of netctl's state")
	}
	destroy := changeList(Diff(State{}, live))
	for _, want := range []string{"delete firewall.chain.user_x", "delete firewall.set.user_allow",
		"delete firewall.chain.user_x.rule.handle-7", "delete firewall.set.user_allow.element[172.17.0.2]"} {
		if !slices.Contains(destroy, want) {
			t.Errorf("destroy does not list %q: %q", want, destroy)
		}
	}
	for _, c := range []struct {
		name       string
		chain, set bool
	}{{"user", false, true}, {"user_x", true, true}, {"users", true, true}, {"links", false, false}, {"my_user", false, false}} {
		if IsUserChain(c.name) != c.chain || IsUserSet(c.name) != c.set {
			t.Errorf("%s: IsUserChain %v IsUserSet %v", c.name, IsUserChain(c.name), IsUserSet(c.name))
		}
	}
}
