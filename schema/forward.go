package schema

// ForwardOthers is the file's forward_others: what happens to forwarded
// traffic that touches none of netctl's bridges (plan/forward.go).
type ForwardOthers string

// The values of forward_others.
const (
	ForwardOthersAccept ForwardOthers = "accept"
	ForwardOthersDrop   ForwardOthers = "drop"
)

func (ForwardOthers) jsonSchema() map[string]any {
	return map[string]any{
		"type": "string",
		"enum": []any{string(ForwardOthersAccept), string(ForwardOthersDrop)},
		"description": "Forwarded traffic between interfaces that are not netctl's bridges. drop: netctl's table drops it. " +
			"accept: netctl leaves it alone, the host stays a router (Docker's --ip-forward-no-drop). " +
			"Omitted: drop when netctl is the one that switches ip_forward from 0 to 1 (as dockerd does), nothing when forwarding was already on.",
	}
}

// forwardOthers reads forward_others.
func (p *parser) forwardOthers(n *node, path fieldPath) (string, bool) {
	v, ok := p.text(n, path)
	if !ok {
		return "", false
	}
	switch ForwardOthers(v) {
	case ForwardOthersAccept, ForwardOthersDrop:
		return v, true
	}
	p.expected(n, path, "accept or drop")
	return "", false
}
