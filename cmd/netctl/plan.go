package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/apply"
	"github.com/netctl/netctl/plan"
)

func newPlanCmd() *cobra.Command {
	var (
		t        target
		detailed bool
		out      string
	)
	c := &cobra.Command{
		Use:   "plan [-f FILE] [--netns NAME]",
		Short: "Show what apply would change in the live kernel",
		Long: `Read the live kernel (links, addresses, sysctls, netctl's nftables table) and
print what apply would change to make it match the file.

Exit status: 0 success, 1 error; with --detailed-exitcode 0 no changes,
1 error, 2 changes present.`,
		Example: `  netctl plan -f examples/default-bridge.yaml
  netctl plan --netns ci-test --detailed-exitcode --json
  netctl plan --out docker0.plan && netctl apply docker0.plan`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			desired, err := loadDesired(t.file)
			if err != nil {
				return err
			}
			k, err := openKernel(t.netns)
			if err != nil {
				return err
			}
			defer k.Close()
			p, err := apply.Plan(k, desired, txnOptions(t.netns))
			if err != nil {
				return err
			}
			recordPlan(c, p) // for --metrics-file
			if out != "" {
				f := plan.File{Source: t.file, Netns: t.netns, NetnsID: k.NamespaceID(), Fingerprint: plan.Fingerprint(p.Live),
					Desired: desired, Live: p.Live, Changes: p.Changes}
				if err := plan.WriteFile(out, f); err != nil {
					return err
				}
			}
			if t.json {
				err = p.WriteJSON(os.Stdout)
			} else {
				err = p.WriteText(os.Stdout, plan.TextOptions{Color: useColor(&t), Source: t.file})
			}
			if err != nil {
				return err
			}
			if detailed && !p.Empty() {
				return &exitError{code: 2}
			}
			return nil
		},
	}
	t.addFileFlag(c)
	t.addKernelFlags(c)
	c.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 0 for no changes, 1 for an error, 2 for changes present")
	c.Flags().StringVar(&out, "out", "", "save the plan to this file, for 'netctl apply PLANFILE'")
	return c
}
