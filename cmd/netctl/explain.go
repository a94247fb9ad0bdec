package main

import (
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/explain"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// Exit codes of explain beyond 0 (allowed) and 1 (error).
const (
	exitBlocked = 2
	exitUnknown = 3
)

func newExplainCmd() *cobra.Command {
	var t target
	c := &cobra.Command{
		Use:   "explain FROM TO [PORT[/PROTO]] [-f FILE] [--netns NAME] [--json]",
		Short: "Say whether FROM can open a connection to TO, and why, from the live kernel",
		Long: `Read the live kernel and say whether a new connection from FROM to TO on
PORT would be allowed or blocked, with the path of decisions that leads there:
sysctls, netctl's rules and set elements (each named by its item in the file
and its kernel object), your rules in the user chain, and other tables'
forward chains with a drop policy. No packet is sent: the first packet of
the connection is walked through the rules as read back from the kernel.

FROM and TO are a container of the file (web, or docker0/web when names
repeat across bridges), "host", or an IPv4 address (an outside address is
taken to use the external_interface of the file, or eth0). PORT defaults to
the first port TO exposes; PROTO to tcp. When the live state differs from
the file, explain says so and answers for the live state.

Exit status: 0 allowed, 2 blocked, 3 cannot tell (a rule on the path that
netctl cannot evaluate), 1 error.`,
		Example: `  netctl explain web db 5432
  netctl explain 198.51.100.20 docker0/web 80/tcp --json
  if netctl explain web db 53/udp >/dev/null; then echo open; fi`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := schema.Load(t.file)
			if err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			from, err := explain.Resolve(cfg, args[0])
			if err != nil {
				return err
			}
			to, err := explain.Resolve(cfg, args[1])
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
			for _, s := range []string{plan.SysctlIPForward, plan.SysctlBridgeNFIptables} {
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
			a := explain.Explain(explain.Input{Config: cfg, Live: live, ForeignDrops: drops},
				explain.Flow{From: from, To: to, Proto: proto, Port: port})
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
	c.Flags().StringVar(&t.netns, "netns", "", "the named network namespace (/run/netns/NAME); default: netctl's own")
	c.Flags().BoolVar(&t.json, "json", false, "print the answer as one JSON document")
	return c
}
