package plan

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	br := func(name, kind, owner string, addrs ...string) Bridge {
		b := Bridge{Name: name, Kind: kind, MTU: 1500, Up: true, Owner: owner}
		for _, a := range addrs {
			b.Addresses = append(b.Addresses, pfx(a))
		}
		return b
	}
	want := func(name string, adopt bool) Bridge {
		b := br(name, "bridge", Owner, "172.30.0.1/16")
		b.Adopt = adopt
		return b
	}
	state := func(bs ...Bridge) State {
		s := State{Bridges: map[string]Bridge{}}
		for _, b := range bs {
			s.Bridges[b.Name] = b
		}
		return s
	}
	owned := func(b Bridge, owner string) Bridge { b.Owner = owner; return b }
	for _, tc := range []struct {
		name          string
		desired, live State
		want          State  // when no error
		err           string // every line must appear
	}{{
		name:    "absent: created as netctl's",
		desired: state(want("br0", false)),
		live:    state(),
		want:    state(want("br0", false)),
	}, {
		name:    "created by netctl: managed",
		desired: state(want("br0", false)),
		live:    state(br("br0", "bridge", Owner, "10.0.0.1/8")),
		want:    state(want("br0", false)),
	}, {
		name:    "a veth under the name: refused",
		desired: state(want("ext0", false)),
		live:    state(br("ext0", "veth", "")),
		err:     "bridge.ext0: ext0 exists and is a veth, not a bridge; netctl will not replace it",
	}, {
		name:    "a veth carrying netctl's mark: refused too",
		desired: state(want("ext0", true)),
		live:    state(br("ext0", "veth", Owner)),
		err:     "bridge.ext0: ext0 exists and is a veth, not a bridge",
	}, {
		name:    "every refusal at once",
		desired: state(want("ext0", false), want("lo", false), want("br1", false)),
		live:    state(br("ext0", "vlan", ""), br("lo", "device", ""), br("br1", "bridge", "")),
		err: "bridge.br1: br1 exists and netctl did not create it; netctl will not take it over unless the file says adopt: true for it\n" +
			"bridge.ext0: ext0 exists and is a vlan, not a bridge\nbridge.lo: lo exists and is a device, not a bridge",
	}, {
		name:    "someone else's bridge: refused without adopt",
		desired: state(want("br1", false)),
		live:    state(br("br1", "bridge", "uplink", "10.0.0.1/8")),
		err:     `bridge.br1: br1 exists and netctl did not create it (its alias is "uplink"); netctl will not take it over unless the file says adopt: true`,
	}, {
		name:    "someone else's bridge, adopt: true: adopted, its alias kept in the mark",
		desired: state(want("br1", true)),
		live:    state(br("br1", "bridge", "uplink", "10.0.0.1/8")),
		want:    state(owned(want("br1", true), Adopted+":uplink")),
	}, {
		name:    "an unnamed bridge adopted",
		desired: state(want("br1", true)),
		live:    state(br("br1", "bridge", "")),
		want:    state(owned(want("br1", true), Adopted)),
	}, {
		name:    "adopted before: stays adopted without adopt: true",
		desired: state(want("br1", false)),
		live:    state(br("br1", "bridge", Adopted+":uplink")),
		want:    state(owned(want("br1", false), Adopted+":uplink")),
	}, {
		name:    "created by netctl, adopt: true: stays netctl's",
		desired: state(want("br1", true)),
		live:    state(br("br1", "bridge", Owner)),
		want:    state(want("br1", true)),
	}, {
		name:    "adopted, out of the file: released, link kept",
		desired: state(),
		live:    state(br("br1", "bridge", Adopted+":uplink", "172.30.0.1/16")),
		want:    state(br("br1", "bridge", "uplink")),
	}, {
		name:    "created, out of the file: deleted",
		desired: state(),
		live:    state(br("br1", "bridge", Owner, "172.30.0.1/16")),
		want:    state(),
	}, {
		name:    "a marked interface of another kind out of the file: left alone",
		desired: state(),
		live:    state(br("v0", "veth", Owner)),
		want:    state(br("v0", "veth", Owner)),
	}, {
		name:    "an alias too long for the mark",
		desired: state(want("br1", true)),
		live:    state(br("br1", "bridge", strings.Repeat("a", 250))),
		err:     "bridge.br1: its alias",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.desired, tc.live)
			if tc.err != "" {
				if err == nil {
					t.Fatalf("no error; resolved %+v", got.Bridges)
				}
				for _, line := range strings.Split(tc.err, "\n") {
					if !strings.Contains(err.Error(), line) {
						t.Errorf("error %q\ndoes not say %q", err, line)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Bridges, tc.want.Bridges) {
				t.Errorf("resolved\n%+v\nwant\n%+v", got.Bridges, tc.want.Bridges)
			}
			// A saved plan's desired state resolves again to itself.
			again, err := Resolve(got, tc.live)
			if err != nil || !reflect.DeepEqual(again.Bridges, got.Bridges) {
				t.Errorf("resolving again: %v\n%+v", err, again.Bridges)
			}
			// Nothing that is not netctl's is ever deleted or replaced.
			for _, c := range Diff(got, tc.live).Changes {
				have := tc.live.Bridges[c.Name]
				if (c.Action == Delete || c.Action == Replace) && (have.Owner != Owner || have.Kind != "bridge") {
					t.Errorf("%s %s of %+v", c.Action, c.Address, have)
				}
			}
		})
	}
}

func TestIsOwned(t *testing.T) {
	for alias, want := range map[string]bool{
		Owner: true, Adopted: true, Adopted + ":x": true,
		"": false, "netctl2": false, "netctl:adoptedx": false, "docker": false,
	} {
		if got := IsOwned(alias); got != want {
			t.Errorf("IsOwned(%q) = %v, want %v", alias, got, want)
		}
	}
}

func TestAdoptionAndReleaseAreWorded(t *testing.T) {
	theirs := Bridge{Name: "br1", Kind: "bridge", MTU: 1500, Up: true, Owner: "uplink"}
	desired := State{Bridges: map[string]Bridge{"br1": {Name: "br1", Kind: "bridge", Addresses: []netip.Prefix{pfx("10.9.0.1/24")}, MTU: 1500, Up: true, Owner: Owner, Adopt: true}}}
	live := State{Bridges: map[string]Bridge{"br1": theirs}}
	for what, tc := range map[string]struct {
		desired, live State
		phrase        string
	}{
		"adopt":   {desired, live, "# bridge.br1 will be adopted (adopt: true), updated in-place"},
		"release": {State{}, State{Bridges: map[string]Bridge{"br1": resolvedOf(t, desired, live).Bridges["br1"]}}, "# bridge.br1 will be released: netctl adopted it, so its mark and addresses go and the link stays"},
	} {
		resolved, err := Resolve(tc.desired, tc.live)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := Diff(resolved, tc.live).WriteText(&b, TextOptions{}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), tc.phrase) {
			t.Errorf("%s: the plan does not say %q:\n%s", what, tc.phrase, b.String())
		}
	}
}

// resolvedOf is the bridge state after an apply of desired on live.
func resolvedOf(t *testing.T, desired, live State) State {
	t.Helper()
	s, err := Resolve(desired, live)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range s.Bridges {
		b.Adopt = false
		s.Bridges[name] = b
	}
	return s
}
