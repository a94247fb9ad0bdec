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
	return []*cobra.Command{newShowCmd(), newSchemaCmd()}
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
