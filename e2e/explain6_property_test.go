package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/netctl/netctl/internal/nstest"
	"github.com/netctl/netctl/internal/testnet"
)

// The IPv6 property test's size: topologies × files × probes (2 × 3 × 30
// = 180 IPv6 probes).
const (
	prop6Topologies = 2
	prop6Files      = 3
	prop6Probes     = 30
)

// prop6Sources are the allowed_sources lists a file may have: IPv6 entries,
// both families, and IPv4 only (which admits no IPv6 source).
var prop6Sources = []string{"[]", "[2001:db8:100::10]", "[198.51.100.10, 2001:db8:200::/48]", "[2001:db8::/32]", "[198.51.100.0/24]"}

// prop6Topology is a propTopology where some bridges are dual-stack
// (bridge i: fd00:(17+i)::1/64, its containers fd00:(17+i)::N) and the
// others IPv4-only, their containers given global IPv6 addresses by hand
// (2001:db8:(1+i)::N, routed by the host), as a runtime behind netctl's
// back would.
type prop6Topology struct {
	propTopology
	dual  map[string]bool   // bridge → dual-stack
	addr6 map[string]string // container → its IPv6 address
}

func randomTopology6(r *rand.Rand) prop6Topology {
	tp := prop6Topology{propTopology: randomTopology(r), dual: map[string]bool{}, addr6: map[string]string{}}
	for i, br := range tp.bridges {
		// docker0 is always dual-stack; the others are IPv4-only one time in three.
		tp.dual[br] = i == 0 || r.IntN(3) != 0
	}
	for _, c := range tp.containers {
		i, host := bridgeIndex(tp.bridges, c.bridge), c.addr[strings.LastIndex(c.addr, ".")+1:]
		if tp.dual[c.bridge] {
			tp.addr6[c.name] = fmt.Sprintf("fd00:%d::%s", 17+i, host)
		} else {
			tp.addr6[c.name] = fmt.Sprintf("2001:db8:%d::%s", 1+i, host)
		}
	}
	return tp
}

func bridgeIndex(bridges []string, name string) int {
	for i, b := range bridges {
		if b == name {
			return i
		}
	}
	return -1
}

// randomFile6 is randomFile with IPv6: ip6_forward, the dual-stack bridges'
// address6 and their containers', allowed_sources with IPv6 entries (on a
// dual-stack bridge: the loader refuses them on an IPv4-only one).
func randomFile6(r *rand.Rand, tp prop6Topology) string {
	text := randomFile(r, tp.propTopology)
	// (randomFile's gateway modes are mostly nat-unprotected, so that
	// outside → container flows meet allowed_sources.)
	text = strings.Replace(text, "ip_forward:", fmt.Sprintf("ip6_forward: %v\nip_forward:", r.IntN(6) != 0), 1)
	return with6(text, tp, func(dual bool) string {
		if !dual {
			return []string{"[]", "[198.51.100.0/24]"}[r.IntN(2)]
		}
		return prop6Sources[r.IntN(len(prop6Sources))]
	})
}

// with6 adds to a file of the topology the dual-stack bridges' address6 and
// their containers', and replaces each allowed_sources list by sources(dual).
func with6(text string, tp prop6Topology, sources func(dual bool) string) string {
	lines := strings.Split(text, "\n")
	br := ""
	for i, l := range lines {
		trim := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "   ") && strings.HasSuffix(l, ":"):
			br = strings.TrimSuffix(trim, ":")
		case strings.HasPrefix(trim, "address: 172.") && tp.dual[br]:
			lines[i] += fmt.Sprintf("\n    address6: fd00:%d::1/64", 17+bridgeIndex(tp.bridges, br))
		case strings.HasPrefix(trim, "allowed_sources:"):
			lines[i] = "    allowed_sources: " + sources(tp.dual[br])
		case strings.Contains(trim, "{ address: 172."):
			name := strings.TrimSuffix(strings.Fields(trim)[0], ":")
			if tp.dual[br] {
				lines[i] = strings.Replace(l, "{ address: ", `{ address6: "`+tp.addr6[name]+`", address: `, 1)
			}
		}
	}
	return strings.Join(lines, "\n")
}

// name6 writes a container as an end of an IPv6 flow: its name (asked
// with -6), its bridge and name, or its IPv6 address; one on an IPv4-only
// bridge is its address with the bridge as zone.
func name6(r *rand.Rand, tp prop6Topology, c propContainer) string {
	if !tp.dual[c.bridge] {
		return tp.addr6[c.name] + "%" + c.bridge
	}
	switch r.IntN(3) {
	case 0:
		return c.bridge + "/" + c.name
	case 1:
		return tp.addr6[c.name]
	}
	return c.name
}

// TestExplainPropertyIPv6 is TestExplainProperty over IPv6: random
// dual-stack and IPv4-only bridges, random files (ip6_forward, icc, links,
// allowed_sources of both families) × random IPv6 flows (container ↔
// container, outside ↔ container); explain's verdict must be the real IPv6
// connection's outcome for every one, each blocked one with its controls
// (withControls6) and, at the end, connecting under a file that closes
// nothing. Replay with NETCTL_EXPLAIN_SEED.
func TestExplainPropertyIPv6(t *testing.T) {
	seed := propSeed(t)
	t.Logf("seed %d (replay: NETCTL_EXPLAIN_SEED=%d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, seed^0x6a09e667f3bcc908))
	total, mismatches := 0, 0
	for ti := 0; ti < prop6Topologies; ti++ {
		tp := randomTopology6(r)
		t.Run(fmt.Sprintf("topology%d", ti), func(t *testing.T) {
			e := setup(t)
			e.AddOutside6(t)
			var listeners map[string]*testnet.Listener
			var outside []*testnet.Listener
			blocked := map[string]testnet.Probe{}
			for fi := 0; fi < prop6Files; fi++ {
				text := randomFile6(r, tp)
				p := e.file(text)
				e.applyFile(p)
				if listeners == nil {
					listeners = e.prop6Addresses(t, tp)
					outside = []*testnet.Listener{e.ListenOutside(t, "tcp", outside6B, 443), e.ListenOutside(t, "udp", outside6A, 53)}
				}
				var qs []propQuestion
				for len(qs) < prop6Probes {
					var x propQuestion
					fromOutside := r.IntN(4) == 0
					toOutside := !fromOutside && r.IntN(5) == 0
					var fromC propContainer
					if fromOutside {
						src := []netip.Addr{outside6A, outside6B}[r.IntN(2)]
						x.from = src.String()
						x.probe.From = e.FromOutside(src)
					} else {
						fromC = tp.containers[r.IntN(len(tp.containers))]
						x.from = name6(r, tp, fromC)
						x.probe.From = e.C[fromC.name].Client()
					}
					if toOutside {
						l := outside[r.IntN(len(outside))]
						x.to, x.port = l.Addr.String(), fmt.Sprintf("%d/%s", l.Port, l.Proto)
						x.probe.To = l
					} else {
						c := tp.containers[r.IntN(len(tp.containers))]
						if c == fromC {
							continue
						}
						pp := propPorts[r.IntN(len(propPorts))]
						x.to, x.port = name6(r, tp, c), fmt.Sprintf("%d/%s", pp.port, pp.proto)
						x.probe.To = listeners[fmt.Sprintf("%s %d/%s", c.name, pp.port, pp.proto)]
					}
					qs = append(qs, x)
				}
				where := fmt.Sprintf("seed %d, topology %d, file %d", seed, ti, fi)
				e.propCheck(where, p, text, qs, []string{"-6"}, e.withControls6, &total, &mismatches, blocked)
			}
			// Positive control: every connection found blocked connects
			// when nothing closes it (firewall off, both forwardings on).
			open := strings.Replace(openFile(tp.propTopology), "ip_forward: true", "ip_forward: true\nip6_forward: true", 1)
			e.applyFile(e.file(with6(open, tp, nil)))
			var control []testnet.Probe
			for _, p := range blocked {
				p.Want = true
				control = append(control, p)
			}
			t.Logf("positive control: %d IPv6 connections blocked above, all expected to connect now", len(control))
			testnet.Expect(t, control...)
		})
	}
	t.Logf("seed %d: %d IPv6 probes, %d mismatches", seed, total, mismatches)
	if total < prop6Topologies*prop6Files*prop6Probes && !t.Failed() {
		t.Errorf("only %d probes ran", total)
	}
}

// prop6Addresses gives every container its IPv6 address (after the first
// apply: the containers attach then) and returns its IPv6 listeners.
func (e *env) prop6Addresses(t *testing.T, tp prop6Topology) map[string]*testnet.Listener {
	t.Helper()
	for i, br := range tp.bridges {
		if tp.dual[br] {
			continue
		}
		nstest.Run(t, "ip", "-n", e.Host, "-6", "route", "add", fmt.Sprintf("2001:db8:%d::/64", 1+i), "dev", br)
	}
	ls := map[string]*testnet.Listener{}
	for _, c := range tp.containers {
		if tp.dual[c.bridge] {
			gw := netip.MustParseAddr(fmt.Sprintf("fd00:%d::1", 17+bridgeIndex(tp.bridges, c.bridge)))
			e.addr6(gw, map[string]string{c.name: tp.addr6[c.name]})
		} else {
			e.C[c.name].AddAddr6(t, netip.PrefixFrom(netip.MustParseAddr(tp.addr6[c.name]), 64), e.bridgeLinkLocal(c.bridge).WithZone(""))
		}
		for _, pp := range propPorts {
			ls[fmt.Sprintf("%s %d/%s", c.name, pp.port, pp.proto)] = e.C[c.name].Listen6(t, pp.proto, pp.port)
		}
	}
	return ls
}
