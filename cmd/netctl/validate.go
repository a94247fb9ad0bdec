package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/internal/plural"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// validateDoc is what validate --json prints: whether the file is valid,
// and every problem as data.
type validateDoc struct {
	FormatVersion string               `json:"format_version"`
	NetctlVersion string               `json:"netctl_version"`
	File          string               `json:"file"`
	Valid         bool                 `json:"valid"`
	Summary       *validateSummary     `json:"summary,omitempty"`
	Error         *string              `json:"error"`
	Problems      []schema.ProblemJSON `json:"problems"`
}

type validateSummary struct {
	Bridges    int `json:"bridges"`
	Containers int `json:"containers"`
	Links      int `json:"links"`
}

func newValidateCmd() *cobra.Command {
	var (
		t      target
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "validate [-f FILE] [--json]",
		Short: "Check a netctl file without touching the kernel",
		Long: `Check a netctl file: syntax, fields, addresses, ports, links. Needs no root
and reads no kernel state. Every problem is printed as FILE:LINE:COL: field: what is wrong.

With --json, print one document instead: valid, and every problem as data
(file, line, column, field, message). The exit status is the same: 0 valid,
1 invalid.`,
		Example: `  netctl validate -f examples/icc-links.yaml
  netctl validate -f - --json < netctl.yaml`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := schema.Load(t.file)
			doc := validateDoc{FormatVersion: plan.JSONFormatVersion, NetctlVersion: readBuildVersion().Module,
				File: fileName(t.file), Valid: err == nil, Problems: schema.ProblemsJSON(err)}
			if err != nil {
				if !asJSON {
					return &exitError{code: 1, msg: err.Error()}
				}
				msg := err.Error()
				doc.Error = &msg
				if werr := writeValidateDoc(c, doc); werr != nil {
					return werr
				}
				return &exitError{code: 1}
			}
			var s validateSummary
			s.Bridges = len(cfg.Bridges)
			for _, b := range cfg.Bridges {
				s.Containers += len(b.Containers)
				s.Links += len(b.Links)
			}
			if asJSON {
				doc.File, doc.Summary = cfg.File, &s
				return writeValidateDoc(c, doc)
			}
			fmt.Fprintf(c.OutOrStdout(), "%s is valid: %s, %s, %s.\n",
				cfg.File, plural.S(s.Bridges, "bridge"), plural.S(s.Containers, "container"), plural.S(s.Links, "link"))
			return nil
		},
	}
	t.addFileFlag(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON document: valid, and the problems as data")
	return c
}

// fileName is the file as messages name it: <stdin> for -.
func fileName(file string) string {
	if file == schema.Stdin {
		return schema.StdinName
	}
	return file
}

func writeValidateDoc(c *cobra.Command, doc validateDoc) error {
	enc := json.NewEncoder(c.OutOrStdout())
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
