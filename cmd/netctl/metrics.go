package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/internal/metrics"
	"github.com/netctl/netctl/plan"
)

// opsCommands returns the operations commands (show, schema) for the root,
// and gives the root's plan command --metrics-file. It is called once, after
// plan is added.
func opsCommands(root *cobra.Command) []*cobra.Command {
	for _, c := range root.Commands() {
		if c.Name() == "plan" {
			addMetricsFile(c)
		}
	}
	builtinExamples(root)
	cmds := []*cobra.Command{newShowCmd(), newSchemaCmd()}
	for _, c := range append(root.Commands(), cmds...) {
		completeFlags(c)
	}
	return cmds
}

// completeFlags completes --netns with the named namespaces and --file with
// YAML files.
func completeFlags(c *cobra.Command) {
	if c.Flags().Lookup("netns") != nil {
		_ = c.RegisterFlagCompletionFunc("netns", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			entries, _ := os.ReadDir("/run/netns")
			var names []cobra.Completion
			for _, e := range entries {
				names = append(names, e.Name())
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		})
	}
	if c.Flags().Lookup("file") != nil {
		_ = c.MarkFlagFilename("file", "yaml", "yml")
	}
}

// builtinExamples makes cobra's own help and completion commands now, rather
// than when netctl runs, to give them examples like every other command.
func builtinExamples(root *cobra.Command) {
	if root.Example == "" {
		root.Example = `  netctl validate && netctl plan && netctl apply
  netctl show > netctl.yaml
  netctl help apply`
	}
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	examples := map[string]string{
		"help": "  netctl help plan",
		"completion": `  source <(netctl completion bash)
  netctl completion zsh > "${fpath[1]}/_netctl"
  netctl completion fish > ~/.config/fish/completions/netctl.fish`,
		"bash": `  source <(netctl completion bash)
  netctl completion bash > /etc/bash_completion.d/netctl`,
		"zsh": `  netctl completion zsh > "${fpath[1]}/_netctl"
  source <(netctl completion zsh)`,
		"fish": `  netctl completion fish | source
  netctl completion fish > ~/.config/fish/completions/netctl.fish`,
		"powershell": "  netctl completion powershell | Out-String | Invoke-Expression",
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if ex, ok := examples[c.Name()]; ok && c.Example == "" {
			c.Example = ex
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	for _, c := range root.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			walk(c)
		}
	}
}

// planRecord carries the plan from plan's RunE (recordPlan) to the
// --metrics-file wrapper around it.
type planRecord struct{ plan *plan.Plan }

type planRecordKey struct{}

// recordPlan hands the plan made by 'netctl plan' to --metrics-file.
func recordPlan(c *cobra.Command, p *plan.Plan) {
	if r, ok := c.Context().Value(planRecordKey{}).(*planRecord); ok {
		r.plan = p
	}
}

// addMetricsFile gives plan --metrics-file: whatever the outcome, the file
// is replaced with the pending changes by action (when the plan was made),
// whether it succeeded, its duration and a timestamp.
func addMetricsFile(c *cobra.Command) {
	var path string
	c.Flags().StringVar(&path, "metrics-file", "", "write Prometheus metrics of this plan to PATH, atomically (for node_exporter's textfile collector)")
	c.Example += "\n  netctl plan --detailed-exitcode --metrics-file /var/lib/node_exporter/textfile_collector/netctl.prom"
	run := c.RunE
	c.RunE = func(c *cobra.Command, args []string) error {
		if path == "" {
			return run(c, args)
		}
		rec := &planRecord{}
		ctx := c.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		c.SetContext(context.WithValue(ctx, planRecordKey{}, rec))
		start := time.Now()
		err := run(c, args)
		m := metrics.Plan{Duration: time.Since(start), Time: time.Now(), Changes: map[string]int{}}
		var ee *exitError
		m.Success = rec.plan != nil && (err == nil || errors.As(err, &ee) && ee.code == 2)
		if m.Success {
			for _, ch := range rec.plan.Changes {
				m.Changes[string(ch.Action)]++
			}
		}
		if werr := m.Write(path); werr != nil {
			if m.Success {
				return werr
			}
			fmt.Fprintln(os.Stderr, "Error:", werr)
		}
		return err
	}
}
