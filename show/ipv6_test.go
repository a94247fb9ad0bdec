package show

import (
	"strings"
	"testing"
)

// TestRoundTripDualStack: a dual-stack file, with NAT66, ip6_forward and an
// IPv6-only source list, is written back by show and reproduces its state.
func TestRoundTripDualStack(t *testing.T) {
	const file = `
ip6_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    address6: fd00:17::1/64
    icc: false
    masquerade6: true
    allowed_sources: [2001:db8:100::/48, 2001:db8:200::7]
    containers:
      web: { address: 172.17.0.2, address6: "fd00:17::2" }
      db: { address: 172.17.0.3, address6: "fd00:17::3", expose: [5432/tcp, 53/udp] }
      cache: { address: 172.17.0.4, expose: [6379/tcp] }
    links:
      - { from: web, to: db }
      - { from: web, to: cache }
  br-v4:
    address: 10.10.0.1/24
`
	live := asLive(desired(t, "dual.yaml", []byte(file)))
	r := Config(live)
	if len(r.Residual) > 0 || len(r.Notes) > 0 {
		t.Fatalf("not a faithful file:\nnotes: %q\n%s", r.Notes, r.YAML)
	}
	for _, want := range []string{"ip6_forward: true", "address6: fd00:17::1/64", "masquerade6: true", `address6: 'fd00:17::2'`, `2001:db8:200::7`} {
		if !strings.Contains(r.YAML, want) {
			t.Errorf("show output lacks %q:\n%s", want, r.YAML)
		}
	}
}
