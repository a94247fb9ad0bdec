package schema

import "gopkg.in/yaml.v3"

// node is a YAML node as the loader walks it: what it needs of a yaml.Node
// (kind, resolved tag, value, position, children, alias), in about half the
// space and without comments. A 100,000-link file is close to a million
// nodes. yaml.v3's tree is converted to nodes (fromYAML); the fast reader
// (fastyaml.go) makes them directly.
type node struct {
	Kind  yaml.Kind
	Style yaml.Style
	// tag is what yaml.Node.ShortTag returns: the explicit tag, or the one
	// YAML resolves a plain scalar to ("!!int", "!!str", "!!null" …).
	tag          string
	Value        string
	Line, Column int32
	Content      []*node
	Alias        *node
}

// ShortTag is the node's tag, as yaml.Node.ShortTag gives it.
func (n *node) ShortTag() string { return n.tag }

// Decode decodes a scalar as yaml.v3 decodes the node it comes from: a
// node's decoding depends only on its kind, style, tag and value.
func (n *node) Decode(v any) error {
	y := yaml.Node{Kind: n.Kind, Style: n.Style, Tag: n.tag, Value: n.Value}
	return y.Decode(v)
}

// fromYAML converts a yaml.v3 tree; aliases point to the converted anchors.
func fromYAML(y *yaml.Node) *node {
	seen := make(map[*yaml.Node]*node)
	var conv func(y *yaml.Node) *node
	conv = func(y *yaml.Node) *node {
		if y == nil {
			return nil
		}
		if n, ok := seen[y]; ok {
			return n
		}
		n := &node{Kind: y.Kind, Style: y.Style, tag: y.ShortTag(), Value: y.Value,
			Line: int32(y.Line), Column: int32(y.Column)}
		seen[y] = n
		if len(y.Content) > 0 {
			n.Content = make([]*node, len(y.Content))
			for i, c := range y.Content {
				n.Content[i] = conv(c)
			}
		}
		n.Alias = conv(y.Alias)
		return n
	}
	return conv(y)
}
