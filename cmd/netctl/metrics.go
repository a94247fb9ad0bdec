package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/netctl/netctl/internal/metrics"
	"github.com/netctl/netctl/plan"
)

// writePlanMetrics replaces the --metrics-file of a plan run, whatever its
// outcome: the pending changes by action (when the plan was made), whether
// it succeeded, its duration and a timestamp. p is the plan if it was made,
// err the run's outcome; the returned error is the run's, or the write's
// when the run succeeded. The series are labelled with the namespace and the
// netctl file (t), so that several namespaces share a textfile directory.
func writePlanMetrics(path string, t *target, p *plan.Plan, err error, took time.Duration) error {
	m := metrics.Plan{Duration: took, Time: time.Now(), Changes: map[string]int{}, Netns: t.netns, File: t.file}
	var ee *exitError
	// Exit code 2 is --detailed-exitcode's "changes present": a success.
	m.Success = p != nil && (err == nil || errors.As(err, &ee) && ee.code == 2)
	if m.Success {
		for _, ch := range p.Changes {
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
