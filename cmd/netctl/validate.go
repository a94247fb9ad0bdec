package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/internal/plural"
	"github.com/netctl/netctl/schema"
)

func newValidateCmd() *cobra.Command {
	var t target
	c := &cobra.Command{
		Use:   "validate [-f FILE]",
		Short: "Check a netctl file without touching the kernel",
		Long: `Check a netctl file: syntax, fields, addresses, ports, links. Needs no root
and reads no kernel state. Every problem is printed as FILE:LINE:COL: field: what is wrong.`,
		Example: "  netctl validate -f examples/icc-links.yaml",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := schema.Load(t.file)
			if err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			containers, links := 0, 0
			for _, b := range cfg.Bridges {
				containers += len(b.Containers)
				links += len(b.Links)
			}
			fmt.Fprintf(c.OutOrStdout(), "%s is valid: %s, %s, %s.\n",
				cfg.File, plural.S(len(cfg.Bridges), "bridge"), plural.S(containers, "container"), plural.S(links, "link"))
			return nil
		},
	}
	t.addFileFlag(c)
	return c
}
