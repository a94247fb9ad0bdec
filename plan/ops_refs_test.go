package plan

import "testing"

// TestReferencesSet: a rule references the sets of its matches and the
// map of its DNAT verdict, of either family, and no other.
func TestReferencesSet(t *testing.T) {
	local := []Match{{Key: KeyFibDAddrType, Value: "local"}, {Key: KeyL4Proto, Value: "tcp"}}
	for _, tc := range []struct {
		rule Rule
		set  string
		want bool
	}{
		{Rule{Match: local, Verdict: VerdictDNATPublish}, SetPublish, true},
		{Rule{Match: local, Verdict: VerdictDNATPublishAny}, SetPublishAny, true},
		{Rule{Match: local, Verdict: VerdictDNATPublish6}, SetPublish6, true},
		{Rule{Match: local, Verdict: VerdictDNATPublishAny6}, SetPublishAny6, true},
		{Rule{Match: local, Verdict: VerdictDNATPublish6}, SetPublish, false},
		{Rule{Match: local, Verdict: VerdictDNATPublishAny6}, SetPublishAny, false},
		{Rule{Match: local, Verdict: VerdictDNATPublish}, SetPublish6, false},
		{Rule{Match: local, Verdict: VerdictDNATPublishAny}, SetPublishAny6, false},
		{Rule{Match: []Match{{Key: KeyLinkTuple6, Value: "@" + SetRoutedPorts6}}, Verdict: VerdictAccept}, SetRoutedPorts6, true},
		{Rule{Match: []Match{{Key: KeyLinkTuple6, Value: "@" + SetRoutedPorts6}}, Verdict: VerdictAccept}, SetRoutedPorts, false},
		{Rule{Verdict: VerdictAccept}, SetPublish6, false},
		{Rule{Unknown: "[ counter ]"}, SetPublish6, true},
	} {
		if got := referencesSet([]Rule{tc.rule}, map[string]bool{tc.set: true}); got != tc.want {
			t.Errorf("%q references %s: %v, want %v", tc.rule.String(), tc.set, got, tc.want)
		}
	}
}
