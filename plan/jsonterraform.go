package plan

// What Terraform's `terraform show -json PLANFILE` has beyond the changes,
// so that policies written for Terraform plans (OPA, conftest) read a
// netctl plan as they read one of Terraform's: planned_values, and a
// "no-op" entry in resource_changes for every managed object the plan
// leaves as it is.

// ModeManaged is the mode of every resource change and planned resource:
// netctl has no data sources.
const ModeManaged = "managed"

// ActionNoOp is the action of an object the plan leaves as it is.
const ActionNoOp = "no-op"

// JSONPlannedValues is Terraform's planned_values: every object netctl
// manages as it will be after the apply.
type JSONPlannedValues struct {
	RootModule JSONModule `json:"root_module"`
}

// JSONModule is the root module of planned_values (netctl has no others).
type JSONModule struct {
	Resources []JSONResource `json:"resources"`
}

// JSONResource is one object in planned_values: Values is always an object,
// as in Terraform. It is the object's value as a change's "after" has it,
// except that a sysctl's is {"value": "1"} and the elements of a link, an
// allowed source or another set element are {"keys": [...]}.
type JSONResource struct {
	Address string `json:"address"`
	Mode    string `json:"mode"`
	Type    string `json:"type"`
	Name    string `json:"name"`
	Values  any    `json:"values"`
}

// TerraformJSON is the plan's document as `terraform show -json` writes a
// plan: JSON's, with planned_values and, when noOps, a no-op entry after
// the changes for every planned object that has no change (before and
// after both its value).
func (p *Plan) TerraformJSON(noOps bool) JSONPlan {
	doc := p.JSON()
	planned := p.planned()
	pv := &JSONPlannedValues{RootModule: JSONModule{Resources: make([]JSONResource, 0, len(planned))}}
	for _, c := range planned {
		pv.RootModule.Resources = append(pv.RootModule.Resources, JSONResource{
			Address: c.Address, Mode: ModeManaged, Type: c.Type, Name: c.Name, Values: objectValue(c.After),
		})
	}
	doc.PlannedValues = pv
	if !noOps {
		return doc
	}
	changed := make(map[string]bool, len(p.Changes))
	for _, c := range p.Changes {
		changed[c.Address] = true
	}
	for _, c := range planned {
		if changed[c.Address] {
			continue
		}
		v := jsonValue(c.After)
		doc.ResourceChanges = append(doc.ResourceChanges, JSONResourceChange{
			Address: c.Address, Mode: ModeManaged, Type: c.Type, Name: c.Name,
			Change: JSONChange{Actions: []string{ActionNoOp}, Before: v, After: v},
		})
	}
	return doc
}

// planned is every object of the desired state that netctl manages, each as
// the change that would create it from nothing, in the plan's order. A
// bridge the desired state keeps without netctl's mark (one it releases or
// never owned) is not netctl's to plan.
func (p *Plan) planned() []Change {
	all := Diff(p.Desired, State{}).Changes
	out := all[:0:0]
	for _, c := range all {
		if b, ok := c.After.(Bridge); ok && !IsOwned(b.Owner) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// objectValue is v as an object: what it is in a change, with a sysctl's
// string and an element group's keys wrapped.
func objectValue(v any) any {
	switch v := v.(type) {
	case string:
		return map[string]string{"value": v}
	case []string:
		return map[string][]string{"keys": v}
	}
	return jsonValue(v)
}
