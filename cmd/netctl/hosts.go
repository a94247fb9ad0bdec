package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/hosts"
	"github.com/netctl/netctl/schema"
)

func newHostsCmd() *cobra.Command {
	var t target
	c := &cobra.Command{
		Use:   "hosts CONTAINER [-f FILE]",
		Short: "Print the /etc/hosts lines of a container's links",
		Long: `Print the /etc/hosts lines Docker's --link writes into the linking
container: for each link from CONTAINER, the linked container's address,
then the link's alias and the linked container's name (the name alone when
the link has no alias), separated as Docker separates them; a second line
with its address6 when both containers have one (the link opens the same
ports over IPv6). netctl does not
write them into any container: install them with your runtime, or by hand.

CONTAINER is a container of the file, or BRIDGE/CONTAINER when the name is
used on more than one bridge. Like validate, hosts reads only the file: no
root, no kernel, and so no --netns (the addresses are the file's).`,
		Example: `  netctl hosts web -f examples/icc-links.yaml
  netctl hosts docker0/web -f - < netctl.yaml > web.hosts`,
		Args: cobra.ExactArgs(1),
		// CONTAINER completes with the file's containers (BRIDGE/NAME too).
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cfg, err := schema.Load(t.file)
			if len(args) > 0 || err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []cobra.Completion
			for _, b := range cfg.Bridges {
				for _, ct := range b.Containers {
					names = append(names, ct.Name, b.Name+"/"+ct.Name)
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cfg, err := schema.Load(t.file)
			if err != nil {
				return &exitError{code: 1, msg: err.Error(), cause: err}
			}
			l, err := hosts.For(cfg, args[0])
			if err != nil {
				return err
			}
			return l.Write(os.Stdout, cfg.File)
		},
	}
	t.addFileFlag(c)
	return c
}
