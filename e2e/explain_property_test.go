package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/testnet"
)

// The property test's size: topologies × files per topology × probes per
// file (3 × 3 × 40 = 360 probes).
const (
	propTopologies = 3
	propFiles      = 3
	propProbes     = 40
)

// propPorts is what every container listens on; a file exposes and links
// a random part of it. Port numbers repeat across protocols so that a
// confusion of tcp and udp shows.
var propPorts = []struct {
	proto string
	port  int
}{{"tcp", 80}, {"tcp", 5432}, {"udp", 5432}, {"tcp", 53}, {"udp", 53}}

// propSources are the allowed_sources lists a file may have (none overlap
// within a list, as the loader requires).
var propSources = []string{"[]", "[198.51.100.10]", "[198.51.100.20, 203.0.113.0/24]", "[198.51.100.0/24]", "[203.0.113.10]"}

type propContainer struct {
	name, bridge, addr string
}

type propTopology struct {
	bridges    []string // names; bridge i has 172.(17+i).0.1/16
	containers []propContainer
}

// propSeed is $NETCTL_EXPLAIN_SEED, to replay a run, or the clock.
func propSeed(t *testing.T) uint64 {
	if s := os.Getenv("NETCTL_EXPLAIN_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("NETCTL_EXPLAIN_SEED=%q: %v", s, err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

func randomTopology(r *rand.Rand) propTopology {
	var tp propTopology
	names := []string{"docker0", "br-a", "br-b"}
	n := 0
	for i := 0; i < 1+r.IntN(3); i++ {
		tp.bridges = append(tp.bridges, names[i])
		for j := 0; j < 2+r.IntN(2); j++ {
			n++
			tp.containers = append(tp.containers, propContainer{
				name: fmt.Sprintf("c%d", n), bridge: names[i], addr: fmt.Sprintf("172.%d.0.%d", 17+i, 2+j),
			})
		}
	}
	return tp
}

// randomFile writes a valid file for the topology: random ip_forward,
// firewall, icc, masquerade, gateway mode, exposed ports, links and allowed
// sources.
func randomFile(r *rand.Rand, tp propTopology) string {
	firewall := r.IntN(8) != 0
	var b strings.Builder
	fmt.Fprintf(&b, "ip_forward: %v\nfirewall: %v\nbridges:\n", r.IntN(8) != 0, firewall)
	for i, br := range tp.bridges {
		fmt.Fprintf(&b, "  %s:\n    address: 172.%d.0.1/16\n", br, 17+i)
		if firewall {
			// Mostly nat-unprotected: outside traffic routed straight to
			// the containers, so that a source allowed_sources admits
			// connects (in nat, the default, the gateway drop stops it).
			mode := "nat-unprotected"
			if r.IntN(4) == 0 {
				mode = "nat"
			}
			fmt.Fprintf(&b, "    icc: %v\n    masquerade: %v\n    gateway_mode: %s\n    external_interface: eth0\n    allowed_sources: %s\n",
				r.IntN(3) == 0, r.IntN(2) == 0, mode, propSources[r.IntN(len(propSources))])
		}
		b.WriteString("    containers:\n")
		expose := map[string][]string{}
		var names []string
		for _, c := range tp.containers {
			if c.bridge != br {
				continue
			}
			var ex []string
			for _, p := range propPorts {
				if r.IntN(2) == 0 {
					ex = append(ex, fmt.Sprintf("%d/%s", p.port, p.proto))
				}
			}
			expose[c.name] = ex
			names = append(names, c.name)
			fmt.Fprintf(&b, "      %s: { address: %s, expose: [%s] }\n", c.name, c.addr, strings.Join(ex, ", "))
		}
		if !firewall {
			continue
		}
		var links []string
		for _, from := range names {
			for _, to := range names {
				if from == to || len(expose[to]) == 0 || r.IntN(5) >= 2 {
					continue
				}
				if r.IntN(2) == 0 {
					links = append(links, fmt.Sprintf("      - { from: %s, to: %s }\n", from, to))
					continue
				}
				var ps []string
				for _, p := range expose[to] {
					if r.IntN(2) == 0 {
						ps = append(ps, p)
					}
				}
				if len(ps) == 0 {
					ps = expose[to][:1]
				}
				links = append(links, fmt.Sprintf("      - { from: %s, to: %s, ports: [%s] }\n", from, to, strings.Join(ps, ", ")))
			}
		}
		if len(links) > 0 {
			b.WriteString("    links:\n" + strings.Join(links, ""))
		}
	}
	return b.String()
}

// openFile is the topology with nothing closed: the positive control.
func openFile(tp propTopology) string {
	var b strings.Builder
	b.WriteString("ip_forward: true\nfirewall: false\nbridges:\n")
	for i, br := range tp.bridges {
		fmt.Fprintf(&b, "  %s:\n    address: 172.%d.0.1/16\n    containers:\n", br, 17+i)
		for _, c := range tp.containers {
			if c.bridge == br {
				fmt.Fprintf(&b, "      %s: { address: %s }\n", c.name, c.addr)
			}
		}
	}
	return b.String()
}

// propQuestion is one question of a property test with the real
// connection that answers it.
type propQuestion struct {
	from, to, port string
	probe          testnet.Probe
}

// propCheck asks explain each question (with flags), then makes the real
// connections expecting its verdicts, with controls for the blocked ones:
// every disagreement is an error naming where (the seed, topology and
// file) and the file's text. It counts the probes and mismatches, adds the
// connections found blocked to blocked (for the positive control at the
// end) and returns explain's answers.
func (e *env) propCheck(where, file, text string, qs []propQuestion, flags []string, controls func(...testnet.Probe) []testnet.Probe, total, mismatches *int, blocked map[string]testnet.Probe) []explainAnswer {
	t := e.t
	t.Helper()
	probes := make([]testnet.Probe, len(qs))
	answers := make([]explainAnswer, len(qs))
	for i, x := range qs {
		answers[i] = e.explain(file, x.from, x.to, x.port, flags...)
		probes[i] = x.probe
		probes[i].Want = answers[i].Verdict == "allowed"
	}
	for i, res := range testnet.Check(controls(probes...)...) {
		if i >= len(qs) { // a positive control of a blocked probe
			if msg := res.Problem(); msg != "" {
				t.Errorf("positive control (%s): %s", where, msg)
			}
			continue
		}
		*total++
		if msg := res.Problem(); msg != "" {
			*mismatches++
			t.Errorf("MISMATCH (%s): explain %s said %s; reality: %s\nexplain's path:\n  %s\nfile:\n%s",
				where, strings.Join(append(slices.Clone(flags), qs[i].from, qs[i].to, qs[i].port), " "), answers[i].Verdict, msg,
				strings.Join(answers[i].texts(), "\n  "), text)
			continue
		}
		if !probes[i].Want {
			blocked[probes[i].String()] = probes[i]
		}
	}
	return answers
}

// TestExplainProperty: random files × random (from, to, port) probes;
// explain's verdict must be the real connection's outcome for every one.
// Replay a run with NETCTL_EXPLAIN_SEED=<the seed it logs>. Every
// connection explain called blocked is also made under a file that closes
// nothing (firewall off, ip_forward on), where it must connect: the
// positive control on the same path.
func TestExplainProperty(t *testing.T) {
	seed := propSeed(t)
	t.Logf("seed %d (replay: NETCTL_EXPLAIN_SEED=%d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	total, mismatches, bySources := 0, 0, 0
	for ti := 0; ti < propTopologies; ti++ {
		tp := randomTopology(r)
		t.Run(fmt.Sprintf("topology%d", ti), func(t *testing.T) {
			e := setup(t)
			// Listeners exist from the first apply on (containers attach then).
			var listeners map[string]*testnet.Listener
			var outside []*testnet.Listener
			blocked := map[string]testnet.Probe{}
			for fi := 0; fi < propFiles; fi++ {
				text := randomFile(r, tp)
				p := e.file(text)
				e.applyFile(p)
				if listeners == nil {
					listeners = map[string]*testnet.Listener{}
					for _, c := range tp.containers {
						for _, pp := range propPorts {
							listeners[fmt.Sprintf("%s %d/%s", c.name, pp.port, pp.proto)] = e.C[c.name].Listen(t, pp.proto, pp.port)
						}
					}
					outside = []*testnet.Listener{e.ListenOutside(t, "tcp", outsideC, 443), e.ListenOutside(t, "udp", outsideB, 53)}
				}
				var qs []propQuestion
				for len(qs) < propProbes {
					var x propQuestion
					fromOutside := r.IntN(4) == 0
					toOutside := !fromOutside && r.IntN(5) == 0
					var fromC propContainer
					if fromOutside {
						src := []string{outsideA.String(), outsideB.String(), outsideC.String()}[r.IntN(3)]
						x.from = src
						x.probe.From = e.FromOutside(netip.MustParseAddr(src))
					} else {
						fromC = tp.containers[r.IntN(len(tp.containers))]
						x.from = name(r, fromC)
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
						x.to, x.port = name(r, c), fmt.Sprintf("%d/%s", pp.port, pp.proto)
						x.probe.To = listeners[fmt.Sprintf("%s %d/%s", c.name, pp.port, pp.proto)]
					}
					qs = append(qs, x)
				}
				where := fmt.Sprintf("seed %d, topology %d, file %d", seed, ti, fi)
				for _, a := range e.propCheck(where, p, text, qs, nil, e.withControls, &total, &mismatches, blocked) {
					if strings.Contains(strings.Join(a.texts(), "\n"), ".allowed_sources") {
						bySources++
					}
				}
			}
			// Positive control: every connection found blocked connects
			// when nothing closes it.
			e.applyFile(e.file(openFile(tp)))
			var control []testnet.Probe
			for _, p := range blocked {
				p.Want = true
				control = append(control, p)
			}
			t.Logf("positive control: %d connections blocked above, all expected to connect now", len(control))
			testnet.Expect(t, control...)
		})
	}
	t.Logf("seed %d: %d probes (%d with allowed_sources on the path), %d mismatches", seed, total, bySources, mismatches)
	if total < propTopologies*propFiles*propProbes && !t.Failed() {
		t.Errorf("only %d probes ran", total)
	}
}

// name writes a container as a FROM/TO argument: its name, its bridge and
// name, or its address.
func name(r *rand.Rand, c propContainer) string {
	switch r.IntN(4) {
	case 0:
		return c.bridge + "/" + c.name
	case 1:
		return c.addr
	}
	return c.name
}
