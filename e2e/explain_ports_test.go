package e2e

import (
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/testnet"
)

// TestExplainPublishedPorts: explain follows a connection to one of the
// host's addresses through the DNAT of published ports (both families,
// per-port sources, hairpin), and its verdicts agree with the real
// connections to the container, each blocked one beside its controls.
func TestExplainPublishedPorts(t *testing.T) {
	e := setup(t)
	e.AddOutside6(t)
	p := e.file(publish6Config)
	e.applyFile(p)
	e.addr6(gw6, map[string]string{"web": "fd00:17::2", "client": "fd00:17::3"})
	web, client := e.C["web"], e.C["client"]
	l80, l444 := web.Listen(t, "tcp", 80), web.Listen(t, "tcp", 444)
	l80v6, l443v6 := web.Listen6(t, "tcp", 80), web.Listen6(t, "tcp", 443)
	outA, outB := e.FromOutside(outsideA), e.FromOutside(outsideB)
	out6A := e.FromOutside(outside6A)

	const translated = "published: 198.51.100.1 port 8080/tcp is translated to web port 80"
	v := e.agree(p, []question{
		{from: outsideA.String(), to: hostExtA.String(), port: "8080", probe: via(outA, l80, hostExtA, 8080, true), says: translated},
		{from: outsideB.String(), to: hostExtA.String(), port: "8444", probe: via(outB, l444, hostExtA, 8444, true),
			says: "published: 198.51.100.1 port 8444/tcp is translated to web port 444"},
		{from: outsideA.String(), to: "web", port: "80", probe: outA.Reaches(l80), says: "bridge.docker0.gateway_mode drops"},
		{from: "client", to: hostExtA.String(), port: "8080", probe: via(client.Client(), l80, hostExtA, 8080, true), says: translated},
		{from: "client", to: "web", port: "80", probe: client.Reaches(l80), says: "bridge.docker0.icc drops"},
	})
	expectVerdicts(t, "IPv4 publications", v, 2, 4)
	v = e.agreeWith(p, []question{
		{from: outside6A.String(), to: hostExt6A.String(), port: "8080", probe: via(out6A, l80v6, hostExt6A, 8080, true),
			says: "published: 2001:db8:100::1 port 8080/tcp is translated to web port 80"},
		{from: outside6A.String(), to: hostExt6A.String(), port: "8443", probe: via(out6A, l443v6, hostExt6A, 8443, true),
			says: "published: 2001:db8:100::1 port 8443/tcp is translated to web port 443"},
		{from: outside6A.String(), to: "fd00:17::2", port: "80", probe: out6A.Reaches(l80v6), says: "bridge.docker0.gateway_mode drops"},
	}, e.withControls6)
	expectVerdicts(t, "IPv6 publications", v, 2)

	// A client the publication does not admit is not translated: explain
	// says the connection is the host's own, and it does not reach web.
	a := e.explain(p, outsideA.String(), hostExtA.String(), "8444")
	if !strings.Contains(strings.Join(a.texts(), "\n"), "delivered to the host itself") {
		t.Errorf("explain %s %s 8444: want the host's own connection:\n  %s", outsideA, hostExtA, strings.Join(a.texts(), "\n  "))
	}
	// Controls: the same client through another publication, and the
	// admitted client through this one.
	testnet.Expect(t, via(outA, l80, hostExtA, 8080, true), via(outB, l444, hostExtA, 8444, true), via(outA, l444, hostExtA, 8444, false))
}
