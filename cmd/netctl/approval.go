package main

import (
	"fmt"
	"os"

	"github.com/netctl/netctl/apply"
	"github.com/netctl/netctl/kernel"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// refuseUnapproved is apply (or destroy) with nobody to ask: it shows the
// plan it would have asked about, as plan does (read only: no lock, no
// recovery of a killed apply's journal), then refuses, saying how to go on.
// Nothing is changed.
func refuseUnapproved(f *applyFlags, k *kernel.Handle, desired plan.State) error {
	p, err := apply.Plan(k, desired, txnOptions(k, f.netns))
	if err != nil {
		return err
	}
	why := "standard input is not a terminal"
	if f.json {
		why = "--json prints a document, not a question"
	}
	verb, nothing := "apply", "nothing was changed"
	if f.destroy {
		verb, nothing = "destroy", "nothing was destroyed"
	}
	msg := fmt.Sprintf("refusing to %s without approval: no terminal to ask on (%s); %s.\n%s", verb, why, nothing, howToProceed(f))
	if f.json {
		res := applyResult{JSONPlan: p.JSON(), Error: &msg}
		if err := writeResult(res); err != nil {
			return err
		}
		return &exitError{code: 1}
	}
	if err := p.WriteText(os.Stdout, plan.TextOptions{Color: useColor(&f.target), Source: f.file, Destroy: f.destroy}); err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout)
	return &exitError{code: 1, msg: "Error: " + msg}
}

// howToProceed names the two ways to approve without a terminal, with the
// flags of this run: --auto-approve, or a saved plan, reviewed, applied.
func howToProceed(f *applyFlags) string {
	flags := ""
	if f.file != schema.DefaultFile && !f.destroy {
		flags += " -f " + f.file
	}
	flags += netnsFlag(f.netns)
	if f.destroy {
		return fmt.Sprintf("To destroy, run again with --auto-approve, or save the plan and apply it: netctl plan --destroy%s --out FILE; netctl apply FILE", flags)
	}
	return fmt.Sprintf("To apply, run again with --auto-approve, or save the plan and apply it: netctl plan%s --out FILE; netctl apply FILE", flags)
}

// completeLine is the last line of a successful apply, in Terraform's words:
// a destroy counts only what it destroyed.
func completeLine(s plan.Summary, destroy bool) string {
	if destroy {
		return fmt.Sprintf("Destroy complete! Resources: %d destroyed.", s.Destroy)
	}
	return fmt.Sprintf("Apply complete! Resources: %d added, %d changed, %d destroyed.", s.Add, s.Change, s.Destroy)
}
