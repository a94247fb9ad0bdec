// Command netctl makes a Linux host's container networking match a YAML file:
// `netctl plan` shows the difference from the live kernel, `netctl apply`
// makes it real, all of it or none of it.
package main

// The man pages in docs/man are generated from the command tree by a test
// (TestManPages, in man_test.go), which also fails when they are not current.
//go:generate go test -run TestManPages . -args -update-man

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// exitError ends netctl with a status other than 1, or with 1 after the
// message was already printed.
type exitError struct {
	code  int
	msg   string // printed to stderr when not empty
	cause error  // what msg says, for --json's problems
}

func (e *exitError) Error() string { return e.msg }

func (e *exitError) Unwrap() error { return e.cause }

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
		Version:       readBuildVersion().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// --version prints what 'netctl version' prints.
	root.SetVersionTemplate("{{.Version}}")
	root.InitDefaultVersionFlag()
	root.Flags().Lookup("version").Usage = "print the version and revision, as 'netctl version'"
	root.AddCommand(newValidateCmd(), newPlanCmd(), newApplyCmd(), newDestroyCmd(), newConfirmCmd(),
		newShowCmd(), newSchemaCmd(), newVersionCmd(), newExplainCmd(), newHostsCmd(), newWatchCmd())
	builtinExamples(root)
	for _, c := range root.Commands() {
		completeFlags(c)
	}
	return root
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
