package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/explain"
	"github.com/netctl/netctl/kernel"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// Exit codes of explain beyond 0 (allowed) and 1 (error).
const (
	exitBlocked = 2
	exitUnknown = 3
)

func newExplainCmd() *cobra.Command {
	var (
		t            target
		trace        bool
		traceTimeout time.Duration
		ipv6         bool
	)
	c := &cobra.Command{
		Use:   "explain FROM TO [PORT[/PROTO]] [-6] [-f FILE] [--netns NAME] [--json] [--trace [--timeout 30s]]",
		Short: "Say whether FROM can open a connection to TO, and why, from the live kernel",
		Long: `Read the live kernel and say whether a new connection from FROM to TO on
PORT would be allowed or blocked, with the path of decisions that leads there:
sysctls, netctl's rules and set elements (each named by its item in the file
and its kernel object), your rules in the user chain, and other tables'
forward chains with a drop policy. No packet is sent: the first packet of
the connection is walked through the rules as read back from the kernel,
then its reply (your rules come before netctl's accept of established
traffic). A connection to one of the host's addresses on a published port
is followed through its translation to the container.

FROM and TO are a container of the file (web, or docker0/web when names
repeat across bridges), "host", or an IPv4 or IPv6 address (an address in
a bridge's subnet is on that bridge; an outside address is taken to use the
external_interface of the file, or eth0). PORT defaults to the first port
TO exposes; PROTO to tcp. When the live state differs from the file,
explain says so and answers for the live state.

The flow is IPv6 when FROM or TO is an IPv6 address, or with -6 between
names: a container is then its address6 (an error when it has none), and
the walk uses the IPv6 side of everything (ip6_forward,
bridge-nf-call-ip6tables, links6, allowed_sources6, an IPv4-only bridge's
IPv6 drop). Without an address and without -6 the flow is IPv4; an IPv4
address and an IPv6 one in the same flow are an error. An address written
with its interface, fe80::3%docker0, is on that bridge (a link-local one, or
one a runtime added by hand on an IPv4-only bridge). --trace follows IPv4
flows only.

With --trace, netctl also adds to its table a rule (in its own chain,
"trace") that sets nftrace on exactly that flow, waits until a packet of it
passes (make the connection meanwhile) or --timeout ends, prints the rules
and policies the kernel reports the packet met, in every table, and removes
the rule, also on Ctrl-C; if netctl is killed, the next netctl run removes it.

Exit status: 0 allowed, 2 blocked, 3 cannot tell (a rule on the path that
netctl cannot evaluate), 1 error (also: --trace saw no packet in time),
130 interrupted.`,
		Example: `  netctl explain web db 5432
  netctl explain -6 web db 5432
  netctl explain 2001:db8:100::10 docker0/web 80/tcp
  netctl explain 198.51.100.20 docker0/web 80/tcp --json
  if netctl explain web db 53/udp >/dev/null; then echo open; fi`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := schema.Load(t.file)
			if err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			from, to, ipv6, err := explain.ResolveFlow(cfg, args[0], args[1], ipv6)
			if err != nil {
				return err
			}
			var proto string
			var port uint16
			if len(args) == 3 {
				proto, port, err = explain.ParsePort(args[2])
			} else {
				proto, port, err = explain.DefaultPort(cfg, to)
			}
			if err != nil {
				return err
			}
			k, err := openKernel(t.netns)
			if err != nil {
				return err
			}
			defer k.Close()
			scope := plan.Desired(cfg).Scope()
			for _, s := range []string{plan.SysctlIPForward, plan.SysctlBridgeNFIptables, plan.SysctlIP6Forward, plan.SysctlBridgeNFIp6tables} {
				if !slices.Contains(scope.Sysctls, s) {
					scope.Sysctls = append(scope.Sysctls, s)
				}
			}
			live, err := k.Read(scope)
			if err != nil {
				return err
			}
			drops, err := k.ForwardDropPolicies()
			if err != nil {
				return err
			}
			local, err := k.LocalAddresses()
			if err != nil {
				return err
			}
			a := explain.Explain(explain.Input{Config: cfg, Live: live, ForeignDrops: drops, Local: local},
				explain.Flow{From: from, To: to, Proto: proto, Port: port, IPv6: ipv6})
			if trace {
				if err := traceFlow(k, &a, live, traceTimeout); err != nil {
					return err
				}
			}
			if t.json {
				err = a.WriteJSON(os.Stdout)
			} else {
				err = a.WriteText(os.Stdout)
			}
			if err != nil {
				return err
			}
			switch a.Verdict {
			case explain.Blocked:
				return &exitError{code: exitBlocked}
			case explain.Unknown:
				return &exitError{code: exitUnknown}
			}
			return nil
		},
	}
	t.addFileFlag(c)
	addNetnsFlag(c, &t.netns, "the named network namespace (/run/netns/NAME)")
	c.Flags().BoolVar(&t.json, "json", false, "print the answer as one JSON document")
	c.Flags().BoolVarP(&ipv6, "ipv6", "6", false, "between names (containers, host), ask about an IPv6 flow (a container is its address6)")
	c.Flags().BoolVar(&trace, "trace", false, "also trace a real packet of the flow through the kernel's rules (make the connection while netctl waits)")
	c.Flags().DurationVar(&traceTimeout, "timeout", 30*time.Second, "with --trace: how long to wait for a packet of the flow")
	return c
}

// traceFlow adds the trace rule for the flow, waits for a packet of it
// (or the timeout, or Ctrl-C), removes the rule and adds what the kernel
// reported to the answer.
func traceFlow(k *kernel.Handle, a *explain.Answer, live plan.State, timeout time.Duration) error {
	if !a.From.Addr.IsValid() || !a.To.Addr.IsValid() {
		return fmt.Errorf("--trace needs an address at both ends (give the host's address instead of \"host\")")
	}
	tr, err := k.StartTrace(kernel.TraceFlow{Src: a.From.Addr, Dst: a.To.Addr, Proto: a.Proto, Port: a.Port})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "tracing %s → %s %d/%s: make the connection now (waiting up to %s)\n", a.From.Addr, a.To.Addr, a.Port, a.Proto, timeout)
	events, werr := tr.Wait(ctx, timeout)
	if err := tr.Stop(); err != nil {
		return fmt.Errorf("removing the trace chain: %w (the next netctl run removes it)", err)
	}
	switch {
	case errors.Is(werr, kernel.ErrTraceTimeout):
		return fmt.Errorf("no packet of the flow in %s; the trace rule is removed", timeout)
	case ctx.Err() != nil:
		return &exitError{code: 130, msg: "interrupted; the trace rule is removed"}
	case werr != nil:
		return werr
	}
	a.TraceVerdict = explain.Allowed
	for _, ev := range events {
		s := explain.Step{Text: ev.String(), Verdict: ev.Verdict}
		if ev.Family == plan.TableFamily && ev.Table == plan.TableName && ev.Type == "rule" {
			if ch := live.Firewall.Chain(ev.Chain); ch != nil {
				for _, r := range ch.Rules {
					if r.Handle == ev.Handle {
						s.Item = r.Comment
					}
				}
			}
		}
		if ev.Verdict == "drop" {
			a.TraceVerdict = explain.Blocked
		}
		a.Trace = append(a.Trace, s)
	}
	if a.TraceVerdict != a.Verdict {
		fmt.Fprintf(os.Stderr, "Warning: the kernel's verdict (%s) is not explain's (%s)\n", a.TraceVerdict, a.Verdict)
	}
	return nil
}
