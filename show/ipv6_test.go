package show

import (
	"reflect"
	"strings"
	"testing"

	"github.com/netctl/netctl/plan"
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

// TestRoundTripPublish6: publications of both families, of one family,
// on IPv6 host addresses and with IPv6 sources, in nat and routed mode,
// are written back by show and reproduce their state.
func TestRoundTripPublish6(t *testing.T) {
	for _, mode := range []string{"nat", "routed"} {
		t.Run(mode, func(t *testing.T) {
			file := `
bridges:
  docker0:
    address: 172.17.0.1/16
    address6: fd00:17::1/64
    gateway_mode: ` + mode + `
    containers:
      web:
        address: 172.17.0.2
        address6: "fd00:17::2"
        publish:
          - 8080:80
          - 0.0.0.0:8081:81
          - "[::]:8082:82"
          - "[2001:db8::1]:8083:83/udp"
          - { port: 8443:443, allowed_sources: [203.0.113.0/24, 2001:db8:100::/48] }
          - { port: 8444:444, allowed_sources: [2001:db8:100::/48] }
      db: { address: 172.17.0.3, publish: [8090:90] }
`
			want := desired(t, "p6.yaml", []byte(file))
			r := Config(asLive(desired(t, "p6.yaml", []byte(file))))
			if len(r.Residual) > 0 || len(r.Notes) > 0 {
				t.Fatalf("not a faithful file:\nnotes: %q\n%s", r.Notes, r.YAML)
			}
			got := desired(t, "shown", []byte(r.YAML))
			delete(got.Sysctls, plan.SysctlIPForward)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("the file compiles to another state:\n%s", r.YAML)
			}
			for _, want := range []string{`"[::]:8082:82/tcp"`, `"[2001:db8::1]:8083:83/udp"`, "0.0.0.0:8081:81/tcp", "2001:db8:100::/48"} {
				if !strings.Contains(r.YAML, want) {
					t.Errorf("show output lacks %q:\n%s", want, r.YAML)
				}
			}
		})
	}
}

// TestShowNotesIPv6OnlyPublisher: a container that only IPv6 elements
// name cannot be written (its IPv4 address is in none): a note says so.
func TestShowNotesIPv6OnlyPublisher(t *testing.T) {
	const file = `
bridges:
  docker0:
    address: 172.17.0.1/16
    address6: fd00:17::1/64
    containers:
      web: { address: 172.17.0.2, address6: "fd00:17::2", publish: ["[::]:8082:82"] }
`
	r := Config(asLive(desired(t, "p6.yaml", []byte(file))))
	// The first note says why; the others list what the file then lacks.
	if len(r.Notes) == 0 || !strings.Contains(r.Notes[0], `container "web" of bridge "docker0" publishes only over IPv6`) {
		t.Fatalf("notes %q:\n%s", r.Notes, r.YAML)
	}
}
