package plan

import (
	"encoding/json"
	"io"
)

// JSONFormatVersion is the format_version of the JSON plan.
const JSONFormatVersion = "1.0"

// jsonPlan is the JSON document of a plan, shaped after Terraform's
// `terraform show -json`: resource_changes with actions, before and after.
type jsonPlan struct {
	FormatVersion   string               `json:"format_version"`
	ResourceChanges []jsonResourceChange `json:"resource_changes"`
	Summary         Summary              `json:"summary"`
	Warnings        []string             `json:"warnings"`
}

type jsonResourceChange struct {
	Address string     `json:"address"`
	Type    string     `json:"type"`
	Name    string     `json:"name"`
	Change  jsonChange `json:"change"`
}

type jsonChange struct {
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
	doc := jsonPlan{
		FormatVersion:   JSONFormatVersion,
		ResourceChanges: make([]jsonResourceChange, len(p.Changes)),
		Summary:         p.Summary(),
		Warnings:        p.Warnings,
	}
	if doc.Warnings == nil {
		doc.Warnings = []string{}
	}
	for i, c := range p.Changes {
		doc.ResourceChanges[i] = jsonResourceChange{
			Address: c.Address,
			Type:    c.Type,
			Name:    c.Name,
			Change: jsonChange{
				Actions: c.Action.Actions(),
				Before:  jsonValue(c.Before),
				After:   jsonValue(c.After),
			},
		}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "web->db", not "web-\u003edb"
	return enc.Encode(doc)
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
