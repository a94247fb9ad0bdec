package explain

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/plan"
)

const publishFile = `
ip_forward: true
ip6_forward: true
bridges:
  docker0:
    address: 172.17.0.1/16
    address6: fd00:17::1/64
    icc: false
    containers:
      web:
        address: 172.17.0.2
        address6: "fd00:17::2"
        publish: [8080:80, { port: 8443:443, allowed_sources: [198.51.100.10] }]
      client: { address: 172.17.0.3, address6: "fd00:17::3" }
`

// TestExplainPublished: a connection to one of the host's addresses on a
// published port is translated as the DNAT rules translate it, then
// walked to the container; one to an unpublished port, or from a client
// the publication does not admit, is the host's own.
func TestExplainPublished(t *testing.T) {
	cfg := load(t, publishFile)
	local := []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("2001:db8:100::1")}
	for _, tc := range []struct {
		name, from, to, port string
		mutate               func(*Input)
		verdict              string
		texts                []string
	}{
		{"published", "198.51.100.20", "198.51.100.1", "8080", nil, Allowed,
			[]string{"published: 198.51.100.1 port 8080/tcp is translated to web port 80", "bridge.docker0.published accepts"}},
		{"not published", "198.51.100.20", "198.51.100.1", "8081", nil, Allowed,
			[]string{"delivered to the host itself (input): netctl's forward chain does not see it"}},
		{"source not admitted", "198.51.100.20", "198.51.100.1", "8443", nil, Allowed,
			[]string{"delivered to the host itself (input): netctl's forward chain does not see it"}},
		{"source admitted", "198.51.100.10", "198.51.100.1", "8443", nil, Allowed,
			[]string{"published: 198.51.100.1 port 8443/tcp is translated to web port 443", "bridge.docker0.published accepts"}},
		{"the container directly", "198.51.100.20", "web", "80", nil, Blocked,
			[]string{"bridge.docker0.gateway_mode drops"}},
		{"over IPv6", "2001:db8:100::10", "2001:db8:100::1", "8080", nil, Allowed,
			[]string{"published: 2001:db8:100::1 port 8080/tcp is translated to web port 80", "bridge.docker0.published accepts"}},
		{"hairpin with icc false", "client", "198.51.100.1", "8080", nil, Allowed,
			[]string{"published: 198.51.100.1 port 8080/tcp is translated to web port 80", "routed from docker0 to docker0", "bridge.docker0.published accepts"}},
		{"to the gateway address", "client", "172.17.0.1", "8080", nil, Allowed,
			[]string{"published: 172.17.0.1 port 8080/tcp is translated to web port 80"}},
		{"ip_forward 0", "198.51.100.20", "198.51.100.1", "8080", func(in *Input) { in.Live.Sysctls[plan.SysctlIPForward] = "0" }, Blocked,
			[]string{"published: 198.51.100.1 port 8080/tcp is translated to web port 80", "ip_forward = 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Config: cfg, Live: liveOf(cfg), Local: local}
			if tc.mutate != nil {
				tc.mutate(&in)
			}
			from, to, ipv6, err := ResolveFlow(cfg, tc.from, tc.to, false)
			if err != nil {
				t.Fatal(err)
			}
			proto, port, err := ParsePort(tc.port)
			if err != nil {
				t.Fatal(err)
			}
			a := Explain(in, Flow{From: from, To: to, Proto: proto, Port: port, IPv6: ipv6})
			var texts []string
			for _, s := range a.Path {
				texts = append(texts, s.Text)
			}
			if a.Verdict != tc.verdict || !subsequence(texts, tc.texts) {
				t.Errorf("verdict %s, want %s; path:\n  %s\nwant in order:\n  %s", a.Verdict, tc.verdict, strings.Join(texts, "\n  "), strings.Join(tc.texts, "\n  "))
			}
		})
	}
}

// subsequence reports whether want appears in got in order.
func subsequence(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
