package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/apply"
	"github.com/netctl/netctl/plan"
)

func newPlanCmd() *cobra.Command {
	var (
		t           target
		detailed    bool
		out         string
		metricsFile string
		destroy     bool
	)
	c := &cobra.Command{
		Use:   "plan [-f FILE] [--netns NAME]",
		Short: "Show what apply would change in the live kernel",
		Long: `Read the live kernel (links, addresses, sysctls, netctl's nftables table) and
print what apply would change to make it match the file. With --destroy,
print what 'netctl destroy' would do instead (the same plan, text and JSON).

Exit status: 0 success, 1 error; with --detailed-exitcode 0 no changes,
1 error, 2 changes present.`,
		Example: `  netctl plan -f examples/default-bridge.yaml
  netctl plan --netns ci-test --detailed-exitcode --json
  netctl plan --out docker0.plan && netctl apply docker0.plan
  netctl plan --destroy --netns ci-test
  netctl plan --detailed-exitcode --metrics-file /var/lib/node_exporter/textfile_collector/netctl.prom`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			start := time.Now()
			p, err := runPlan(&t, detailed, out, destroy, c.Flags().Changed("file"))
			// A failure is printed as a document first: a metrics file
			// that cannot be written then adds only its own error.
			err = planJSONFailure(t.json, err)
			if metricsFile != "" {
				return writePlanMetrics(metricsFile, &t, p, err, time.Since(start))
			}
			return err
		},
	}
	t.addFileFlag(c)
	t.addKernelFlags(c)
	c.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 0 for no changes, 1 for an error, 2 for changes present")
	c.Flags().BoolVar(&destroy, "destroy", false, "show what 'netctl destroy' would do (the file, if given, is only validated)")
	c.Flags().StringVar(&out, "out", "", "save the plan to this file, for 'netctl apply PLANFILE'")
	// Whatever the outcome, the file is replaced (see writePlanMetrics).
	c.Flags().StringVar(&metricsFile, "metrics-file", "", "write Prometheus metrics of this plan to PATH, atomically (for node_exporter's textfile collector)")
	return c
}

// runPlan makes and prints the plan. It returns the plan once it is made,
// also with a later error, for --metrics-file.
func runPlan(t *target, detailed bool, out string, destroy, fileGiven bool) (*plan.Plan, error) {
	var desired plan.State
	// A destroy plan's desired state is nothing: netctl's marks, not the
	// file, decide what goes. A file named is still checked, as destroy does.
	if !destroy || fileGiven {
		d, err := loadDesired(t.file)
		if err != nil {
			return nil, err
		}
		if !destroy {
			desired = d
		}
	}
	k, err := openKernel(t.netns)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	p, err := apply.Plan(k, desired, txnOptions(k, t.netns))
	if err != nil {
		return nil, err
	}
	if out != "" {
		f := plan.File{Source: t.file, Netns: t.netns, NetnsID: k.NamespaceID(), Fingerprint: plan.Fingerprint(p.Live),
			Desired: desired, Live: p.Live, Changes: p.Changes, Destroy: destroy}
		if err := plan.WriteFile(out, f); err != nil {
			return p, err
		}
	}
	if t.json {
		doc := p.TerraformJSON(false)
		doc.NetctlVersion = readBuildVersion().Module
		err = doc.Write(os.Stdout)
	} else {
		err = p.WriteText(os.Stdout, plan.TextOptions{Color: useColor(t), Source: t.file, Destroy: destroy})
	}
	if err != nil {
		return p, err
	}
	if detailed && !p.Empty() {
		return p, &exitError{code: 2}
	}
	return p, nil
}
