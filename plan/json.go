package plan

import (
	"encoding/json"
	"io"
)

// JSONFormatVersion is the format_version of the JSON plan.
const JSONFormatVersion = "1.0"

// JSONPlan is the JSON document of a plan, shaped after Terraform's
// `terraform show -json`: resource_changes with actions, before and after.
type JSONPlan struct {
	FormatVersion string `json:"format_version"`
	// NetctlVersion is the version of the netctl that made the document;
	// the command sets it from its build info (plan knows no build).
	NetctlVersion   string               `json:"netctl_version,omitempty"`
	ResourceChanges []JSONResourceChange `json:"resource_changes"`
	// PlannedValues is set by the documents that carry it (plan --json,
	// show PLANFILE --json; see TerraformJSON).
	PlannedValues *JSONPlannedValues `json:"planned_values,omitempty"`
	Summary       Summary            `json:"summary"`
	Warnings      []string           `json:"warnings"`
}

// JSONResourceChange is one change in a JSONPlan.
type JSONResourceChange struct {
	Address string `json:"address"`
	// Mode is always "managed", as Terraform writes for a resource (not a
	// data source): policies written for Terraform filter on it.
	Mode   string     `json:"mode"`
	Type   string     `json:"type"`
	Name   string     `json:"name"`
	Change JSONChange `json:"change"`
}

// JSONChange is what a JSONResourceChange does.
type JSONChange struct {
	Actions []string `json:"actions"`
	Before  any      `json:"before"`
	After   any      `json:"after"`
}

// jsonRule is a rule with its nft text, so that a reader of the JSON need
// not rebuild it from the matches.
type jsonRule struct {
	Rule
	NFT string `json:"nft"`
}

// WriteJSON writes the plan as one JSON document:
//
//	{"format_version":"1.0",
//	 "resource_changes":[{"address":…,"type":…,"name":…,
//	   "change":{"actions":["create"],"before":null,"after":…}}],
//	 "summary":{"add":1,"change":0,"destroy":0},
//	 "warnings":[]}
//
// Actions are written as Terraform writes them: a replace is
// ["delete","create"]. Lists are [] when empty, never null.
func (p *Plan) WriteJSON(w io.Writer) error {
	return p.JSON().Write(w)
}

// Write writes the document on one line, as WriteJSON does.
func (d JSONPlan) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "web->db", not "web-\u003edb"
	return enc.Encode(d)
}

// JSON returns the plan's JSON document, for documents that embed it (the
// result of an apply).
func (p *Plan) JSON() JSONPlan {
	doc := JSONPlan{
		FormatVersion:   JSONFormatVersion,
		ResourceChanges: make([]JSONResourceChange, len(p.Changes)),
		Summary:         p.Summary(),
		Warnings:        p.Warnings,
	}
	if doc.Warnings == nil {
		doc.Warnings = []string{}
	}
	for i, c := range p.Changes {
		doc.ResourceChanges[i] = JSONResourceChange{
			Address: c.Address,
			Mode:    ModeManaged,
			Type:    c.Type,
			Name:    c.Name,
			Change: JSONChange{
				Actions: c.Action.Actions(),
				Before:  jsonValue(c.Before),
				After:   jsonValue(c.After),
			},
		}
	}
	return doc
}

func jsonValue(v any) any {
	switch v := v.(type) {
	case Rule:
		return jsonRule{Rule: v, NFT: v.String()}
	case *Rule:
		if v != nil {
			return jsonRule{Rule: *v, NFT: v.String()}
		}
	}
	return v
}
