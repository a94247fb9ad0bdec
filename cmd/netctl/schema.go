package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/schema"
)

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the netctl file format",
		Long: `Print a JSON Schema (draft 2020-12) of the netctl file format, generated from
netctl's own types: field names, types, defaults, descriptions and the syntax
of interface names, addresses and ports. Editors that speak
yaml-language-server validate and complete netctl.yaml with it, given this
first line in the file:

  # yaml-language-server: $schema=./netctl.schema.json

The schema catches what a schema can; 'netctl validate' checks the rest
(subnets, overlaps, link targets).`,
		Example: `  netctl schema > netctl.schema.json`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := os.Stdout.Write(schema.JSONSchemaText())
			return err
		},
	}
}
