package main

import (
	"errors"
	"os"

	"github.com/netctl/netctl/plan"
)

// showPlanFile renders a plan saved by `netctl plan --out` as plan renders
// it, without reading the kernel: text, or with --json the document of
// `terraform show -json PLANFILE` (plan --json's, with planned_values and a
// no-op entry for every object the plan leaves as it is).
func showPlanFile(path string, asJSON bool) error {
	pf, err := plan.ReadFile(path)
	if err != nil {
		return err
	}
	p, err := pf.Plan(path)
	if err != nil {
		return err
	}
	if asJSON {
		doc := p.TerraformJSON(true)
		doc.NetctlVersion = readBuildVersion().Module
		return doc.Write(os.Stdout)
	}
	return p.WriteText(os.Stdout, plan.TextOptions{Color: useColor(&target{}), Source: pf.Source})
}

// errShowPlanNetns refuses --netns with a plan file: the plan was made in
// the namespace it records, and show does not read the kernel.
var errShowPlanNetns = errors.New("show PLANFILE reads only the plan file, which records its namespace: --netns does not apply")
