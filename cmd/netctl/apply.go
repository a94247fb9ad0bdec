package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/apply"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// applyFlags are those of apply and destroy.
type applyFlags struct {
	target
	autoApprove    bool
	confirmTimeout time.Duration
	destroy        bool // destroy's words
}

func newApplyCmd() *cobra.Command {
	var f applyFlags
	c := &cobra.Command{
		Use:   "apply [-f FILE | PLANFILE]",
		Short: "Make the live kernel match the file, all of it or none of it",
		Long: `Compute the plan, show it, ask for 'yes', then apply it as one transaction:
every step is journaled with its undo, the result is verified by re-reading
the kernel, and on any failure every step that ran is undone.

Given a PLANFILE saved by 'netctl plan --out', apply exactly that plan
without asking: the changes are computed again from the file's desired state
and the live state now, and the file is refused unless they are exactly the
changes it shows; also when it was edited, made in another namespace, or
the live state changed since.

With --confirm-timeout, the change is kept only if confirmed in time
(Enter on the terminal, or 'netctl confirm' from another shell); otherwise it
is rolled back: for changes made over SSH that may lock you out. A hangup
(the SSH connection lost), Ctrl-C or SIGTERM while waiting rolls back too.

Exit status: 0 success (also when there was nothing to do), 1 error.`,
		Example: `  netctl apply -f examples/icc-links.yaml
  netctl apply --netns ci-test --auto-approve --json
  netctl apply --confirm-timeout 60s`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return applyJSONFailure(f.json, runApplyCmd(c, &f, args))
		},
	}
	f.addFileFlag(c)
	f.addKernelFlags(c)
	c.Flags().BoolVar(&f.autoApprove, "auto-approve", false, "apply without asking")
	c.Flags().DurationVar(&f.confirmTimeout, "confirm-timeout", 0, "roll back unless confirmed within this time (e.g. 60s)")
	return c
}

func runApplyCmd(c *cobra.Command, f *applyFlags, args []string) error {
	if c.Flags().Changed("confirm-timeout") && f.confirmTimeout <= 0 {
		return fmt.Errorf("--confirm-timeout %s: the time to wait must be more than 0 (e.g. 60s); without the flag, apply does not wait", f.confirmTimeout)
	}
	var saved *plan.File
	desired := plan.State{}
	if len(args) == 1 {
		pf, err := plan.ReadFile(args[0])
		if err != nil {
			return err
		}
		saved = &pf
		desired = pf.Desired
		if !c.Flags().Changed("netns") {
			f.netns = pf.Netns
		}
		f.file = pf.Source
		f.destroy = pf.Destroy
	} else {
		d, err := loadDesired(f.file)
		if err != nil {
			return err
		}
		desired = d
	}
	return runApply(f, desired, saved, "Do you want to perform these actions?")
}

func newDestroyCmd() *cobra.Command {
	f := applyFlags{destroy: true}
	c := &cobra.Command{
		Use:   "destroy [--netns NAME]",
		Short: "Remove everything netctl owns in a namespace",
		Long: `Remove netctl's bridges (those it marked as its own) and its nftables table,
with everything in it, including the rules a person put in its user chain:
the plan lists them first. Sysctls are left as they are; nothing netctl does
not own is touched.`,
		Example: "  netctl destroy --netns ci-test --auto-approve",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if c.Flags().Changed("file") {
				// The file does not decide what goes: netctl's own marks do.
				// An invalid file still stops a destroy aimed at the wrong host.
				if _, err := loadDesired(f.file); err != nil {
					return applyJSONFailure(f.json, err)
				}
			}
			return applyJSONFailure(f.json, runApply(&f, plan.State{}, nil, "Do you really want to destroy all resources netctl owns?"))
		},
	}
	f.addFileFlag(c)
	f.addKernelFlags(c)
	c.Flags().BoolVar(&f.autoApprove, "auto-approve", false, "destroy without asking")
	return c
}

// applyResult is the JSON document apply prints: the plan's document and
// the outcome, the shape a configuration-management hook reads.
type applyResult struct {
	plan.JSONPlan
	Changed      bool    `json:"changed"`
	Recovered    string  `json:"recovered_interrupted_apply,omitempty"`
	Error        *string `json:"error"`
	RolledBack   bool    `json:"rolled_back"`
	Confirmation string  `json:"confirmation,omitempty"`
	// Problems are those of an invalid file, as validate --json gives them.
	Problems []schema.ProblemJSON `json:"problems,omitempty"`
}

func runApply(f *applyFlags, desired plan.State, saved *plan.File, question string) error {
	interactive := saved == nil && !f.autoApprove
	k, err := openKernel(f.netns)
	if err != nil {
		return err
	}
	defer k.Close()
	if interactive && (f.json || !isTerminal(os.Stdin)) {
		return refuseUnapproved(f, k, desired)
	}
	txn, err := apply.Begin(k, txnOptions(k, f.netns))
	if err != nil {
		return err
	}
	defer txn.Close()

	res := applyResult{Recovered: txn.Recovered}
	var p *plan.Plan
	if saved != nil {
		p, err = txn.PlanSaved(*saved)
	} else {
		p, err = txn.Plan(desired)
	}
	if err != nil {
		return err
	}
	if p.Empty() {
		if !f.json {
			return p.WriteText(os.Stdout, plan.TextOptions{Color: useColor(&f.target), Source: f.file, Destroy: f.destroy})
		}
		res.JSONPlan = p.JSON()
		return writeResult(res)
	}
	// With --json the text is not shown: not rendered either (100,000
	// changes are 60 ms of it).
	if !f.json {
		if err := p.WriteText(os.Stdout, plan.TextOptions{Color: useColor(&f.target), Source: f.file, Destroy: f.destroy}); err != nil {
			return err
		}
	}
	if interactive && !confirm(os.Stdin, os.Stdout, question) {
		if f.destroy {
			return &exitError{code: 1, msg: "Destroy cancelled: nothing was destroyed."}
		}
		return &exitError{code: 1, msg: "Apply cancelled: nothing was changed."}
	}
	var sig *signalWatch
	if f.confirmTimeout > 0 {
		// From here a hangup, Ctrl-C or SIGTERM does not kill netctl: the
		// wait for confirmation (at once, if one came during the apply)
		// rolls the change back first.
		sig = watchSignals()
		defer sig.stop()
	}
	err = txn.Apply(p, apply.ApplyOptions{KeepJournal: f.confirmTimeout > 0})
	var why string
	if err == nil && f.confirmTimeout > 0 {
		res.Confirmation, why, err = awaitConfirmation(txn, f, sig)
	}
	if f.json {
		res.JSONPlan = p.JSON()
	}
	if res.Confirmation == "rolled back" {
		res.RolledBack = true
		if why != "Not confirmed in time" {
			res.Error = &why
		}
		msg := why + ": the change was rolled back."
		if f.json {
			_ = writeResult(res)
			return &exitError{code: 1}
		}
		return &exitError{code: 1, msg: msg}
	}
	res.Changed = err == nil
	if err != nil {
		msg := err.Error()
		res.Error = &msg
		var fail *apply.Failure
		res.RolledBack = errors.As(err, &fail) && fail.RolledBack
		if f.json {
			_ = writeResult(res)
			return &exitError{code: 1}
		}
		return err
	}
	if f.json {
		return writeResult(res)
	}
	fmt.Fprintln(os.Stdout, completeLine(p.Summary(), f.destroy))
	return nil
}

func writeResult(res applyResult) error {
	res.NetctlVersion = readBuildVersion().Module
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// signalWatch turns the signals that would end netctl into a channel that
// is closed at the first of them.
type signalWatch struct {
	c      chan os.Signal
	closed chan struct{}
	mu     sync.Mutex
	got    os.Signal
}

func watchSignals() *signalWatch {
	w := &signalWatch{c: make(chan os.Signal, 1), closed: make(chan struct{})}
	signal.Notify(w.c, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s, ok := <-w.c
		if !ok {
			return
		}
		w.mu.Lock()
		w.got = s
		w.mu.Unlock()
		close(w.closed)
	}()
	return w
}

func (w *signalWatch) signal() os.Signal {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.got
}

// stop gives the signals back their default: after the rollback.
func (w *signalWatch) stop() {
	signal.Stop(w.c)
	select {
	case <-w.closed:
	default:
		close(w.c)
	}
}

// awaitConfirmation keeps the change only if confirmed in time. Rolled
// back, it says why ("Not confirmed in time", "Interrupted by SIGHUP…").
func awaitConfirmation(txn *apply.Txn, f *applyFlags, sig *signalWatch) (outcome, why string, err error) {
	msg := fmt.Sprintf("\nConfirm within %s to keep this change: press Enter here, or run 'netctl confirm%s' from another shell.\nWithout confirmation it is rolled back.\n",
		f.confirmTimeout, netnsFlag(f.netns))
	fmt.Fprint(os.Stderr, msg)
	enter := make(chan struct{})
	if isTerminal(os.Stdin) {
		go func() {
			var b [1]byte
			for {
				n, err := os.Stdin.Read(b[:])
				if err != nil {
					return
				}
				if n == 1 && b[0] == '\n' {
					close(enter)
					return
				}
			}
		}()
	}
	end, err := txn.AwaitConfirmation(f.confirmTimeout, enter, sig.closed)
	switch {
	case err != nil && end == apply.Confirmed:
		return "", "", err
	case err != nil:
		return "", "", fmt.Errorf("rolling back the unconfirmed change: ROLLBACK FAILED, the change may still be live: %w", err)
	case end == apply.Confirmed:
		fmt.Fprintln(os.Stderr, "Confirmed: the change is kept.")
		return "confirmed", "", nil
	case end == apply.Stopped:
		return "rolled back", fmt.Sprintf("Interrupted by %s while waiting for confirmation", signalName(sig.signal())), nil
	}
	return "rolled back", "Not confirmed in time", nil
}

func signalName(s os.Signal) string {
	switch s {
	case syscall.SIGHUP:
		return "SIGHUP (hangup)"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return fmt.Sprint(s)
}

func netnsFlag(netns string) string {
	if netns == "" {
		return ""
	}
	return " --netns " + netns
}

func newConfirmCmd() *cobra.Command {
	var netns string
	c := &cobra.Command{
		Use:     "confirm [--netns NAME]",
		Short:   "Confirm an apply waiting with --confirm-timeout",
		Example: "  netctl confirm --netns ci-test",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			opts, err := confirmOptions(netns)
			if err != nil {
				return err
			}
			if err := apply.RequestConfirm(opts); err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), "Confirmation sent.\nThe waiting apply took it: its change is kept.")
			return nil
		},
	}
	addNetnsFlag(c, &netns, "the named network namespace of the waiting apply")
	return c
}
