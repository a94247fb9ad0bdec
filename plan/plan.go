package plan

// Action is what a change does to its object, named as Terraform names it.
type Action string

// The actions of a change.
const (
	Create  Action = "create"
	Update  Action = "update"
	Delete  Action = "delete"
	Replace Action = "replace" // delete, then create
)

// Actions returns the action as Terraform's JSON plan writes it.
func (a Action) Actions() []string {
	if a == Replace {
		return []string{"delete", "create"}
	}
	return []string{string(a)}
}

// Change types: what kind of object a change is about.
const (
	TypeSysctl        = "sysctl"
	TypeBridge        = "bridge"
	TypeTable         = "table"
	TypeChain         = "chain"
	TypeRule          = "rule"
	TypeSet           = "set"
	TypeLink          = "link"
	TypeAllowedSource = "allowed_source"
	TypeSetElement    = "set_element"
)

// Change is one difference between the desired and the live state.
type Change struct {
	// Address names the object stably, in the file's terms:
	// sysctl.net.ipv4.ip_forward, bridge.docker0,
	// bridge.docker0.link.web->db, bridge.docker0.allowed_source.8.8.8.8/32.
	Address string `json:"address"`
	Type    string `json:"type"`
	// Name is the object's own name (the last part of its address).
	Name   string `json:"name"`
	Action Action `json:"action"`
	// Before and After are the object's value: nil when absent. Their types
	// by Type: sysctl string; bridge Bridge; table Table; chain Chain
	// (without rules), or []string of rule addresses for a change of the
	// rules' order (address firewall.chain.NAME.order); rule Rule; set Set
	// (without elements); link, allowed_source, set_element []string of
	// element keys, sorted.
	Before any `json:"before"`
	After  any `json:"after"`
}

// Table stands for netctl's table in a change.
type Table struct {
	Family string `json:"family"`
	Name   string `json:"name"`
}

// Plan is the ordered list of changes that takes the live state to the
// desired one, with both states so that apply needs nothing else.
type Plan struct {
	Changes []Change `json:"changes"`
	// Desired and Live are the states the plan was computed from.
	Desired State `json:"-"`
	Live    State `json:"-"`
	// Warnings are facts about the host that may defeat the plan (a drop
	// policy in another table), shown above the changes.
	Warnings []string `json:"-"`
}

// Summary counts changes as Terraform does: a replace is one add and one
// destroy.
type Summary struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
}

// Summary returns the counts of the plan's changes.
func (p *Plan) Summary() Summary {
	var s Summary
	for _, c := range p.Changes {
		switch c.Action {
		case Create:
			s.Add++
		case Update:
			s.Change++
		case Delete:
			s.Destroy++
		case Replace:
			s.Add++
			s.Destroy++
		}
	}
	return s
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }
