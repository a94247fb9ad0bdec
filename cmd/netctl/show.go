package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/internal/plural"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/show"
)

// showScope is what show reads beyond what carries netctl's marks: the
// sysctls a file may name or its firewall needs. A sysctl the namespace
// lacks is left out of the state, not an error.
var showScope = plan.Scope{Sysctls: []string{plan.SysctlIPForward, plan.SysctlBridgeNFIptables, plan.SysctlBridgeNFIp6tables}}

func newShowCmd() *cobra.Command {
	var (
		netns  string
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "show [--netns NAME] [--json] | show PLANFILE [--json]",
		Short: "Print the live state of everything netctl owns as a netctl file, or a saved plan",
		Long: `Read the live kernel and print everything netctl owns (its bridges, its
nftables table, net.ipv4.ip_forward) as a valid netctl file: with that file,
'netctl plan' shows no changes. Containers and links are rebuilt from the
firewall's link elements; a link's alias and a container without links are
not kept in the kernel, so they cannot come back.

What netctl saw but does not own, or what a file cannot say (ports attached
to a bridge, rules of your own in the user chain, foreign rules or set
elements), is written as comments at the top of the file; when the file
cannot reproduce the live state exactly, the notes say what plan would still
change, and a warning goes to stderr.

With --json, print the live state itself as netctl reads it (the same
document as the "live" state of a plan file, and netctl_version).

With an argument, print the plan saved there by 'netctl plan --out' instead,
without reading the kernel: as plan prints it, or with --json as
'terraform show -json PLANFILE' does (plan --json's document, with
planned_values and a "no-op" entry for every object the plan leaves as it
is), for policies written for Terraform plans.

Exit status: 0 success, 1 error.`,
		Example: `  netctl show > netctl.yaml && netctl plan --detailed-exitcode   # exits 0
  netctl show --netns ci-test
  netctl show --json | jq '.bridges'
  netctl plan --out docker0.plan && netctl show docker0.plan --json | opa eval -I -d policy.rego data.netctl.deny`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				if c.Flags().Changed("netns") {
					return errShowPlanNetns
				}
				return showPlanFile(args[0], asJSON)
			}
			k, err := openKernel(netns)
			if err != nil {
				return err
			}
			defer k.Close()
			live, err := k.Read(showScope)
			if err != nil {
				return err
			}
			if extra := plan.BridgeSysctls(live); len(extra) > 0 {
				// The bridges' own sysctls (route_localnet of published
				// ports), named once the bridges are known.
				scope := showScope
				scope.Sysctls = append(slices.Clone(scope.Sysctls), extra...)
				if live, err = k.Read(scope); err != nil {
					return err
				}
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					NetctlVersion string `json:"netctl_version"`
					plan.State
				}{readBuildVersion().Module, live})
			}
			r := show.Config(live)
			if _, err := fmt.Fprint(os.Stdout, r.YAML); err != nil {
				return err
			}
			if len(r.Residual) > 0 {
				fmt.Fprintf(os.Stderr, "Warning: this file does not reproduce the live state exactly: plan would still show %s (see the notes at its top).\n", plural.S(len(r.Residual), "change"))
			}
			return nil
		},
	}
	addNetnsFlag(c, &netns, "the named network namespace (/run/netns/NAME); default: netctl's own")
	c.Flags().BoolVar(&asJSON, "json", false, "print the live state (or the saved plan) as JSON")
	return c
}
