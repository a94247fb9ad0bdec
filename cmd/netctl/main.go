// Command netctl makes a Linux host's container networking match a YAML file:
// `netctl plan` shows the difference from the live kernel, `netctl apply`
// makes it real, all of it or none of it.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// exitError ends netctl with a status other than 1, or with 1 after the
// message was already printed.
type exitError struct {
	code int
	msg  string // printed to stderr when not empty
}

func (e *exitError) Error() string { return e.msg }

func main() {
	root := newRootCmd()
	err := root.Execute()
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, ee.msg)
		}
		os.Exit(ee.code)
	}
	fmt.Fprintln(os.Stderr, "Error:", err)
	os.Exit(1)
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "netctl",
		Short: "Make a host's container networking match a YAML file",
		Long: `netctl makes a Linux host's container networking (Docker's bridge model:
bridges, ip_forward, inter-container communication, links, source
restrictions, masquerading) match a YAML file, the way Terraform does:
'netctl plan' shows the difference from the live kernel, 'netctl apply'
makes it real as one transaction, all of it or none of it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newValidateCmd(), newPlanCmd(), newApplyCmd(), newDestroyCmd(), newConfirmCmd(), newExplainCmd())
	root.AddCommand(opsCommands(root)...) // show, schema; plan --metrics-file
	return root
}
