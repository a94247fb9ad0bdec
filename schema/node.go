package schema

import "gopkg.in/yaml.v3"

// node is a YAML node as the loader walks it: what it needs of a yaml.Node
// (kind, resolved tag, value, position, children), in 56 bytes instead of
// 152, without comments or style. A 100,000-link file is close to a million
// nodes. yaml.v3's tree is converted to nodes (parser.fromYAML); the fast
// reader (fastyaml.go) makes them directly.
type node struct {
	Line, Column int32
	Kind         yaml.Kind
	// tag is the node's tag as yaml.Node.ShortTag gives it: the explicit
	// tag, or the one YAML resolves a plain scalar to. One netctl does not
	// know is tagOther, its text in parser.otherTags.
	tag   tagID
	Value string
	// Content holds a collection's items; an alias node's target is its
	// only item.
	Content []*node
}

type tagID uint16

// The tags yaml.v3 gives and the loader knows, by tagID.
var tagNames = [...]string{"", "!!str", "!!int", "!!bool", "!!float", "!!null", "!!map", "!!seq", "!!timestamp", "!!merge", "!!binary"}

const (
	tagNone tagID = iota
	tagStr
	tagInt
	tagBool
	tagFloat
	tagNull
	tagMap
	tagSeq
	tagTimestamp
	tagMerge
	tagBinary
	tagOther tagID = 0xffff
)

// tagOf returns the ID of a tag's text, tagOther for any other tag.
func tagOf(s string) tagID {
	for i, t := range tagNames {
		if t == s {
			return tagID(i)
		}
	}
	return tagOther
}

// ShortTag is the node's tag as yaml.Node.ShortTag gives it, for the tags
// of tagNames; any other reads as "!?" (parser.tagText has its text).
func (n *node) ShortTag() string {
	if int(n.tag) < len(tagNames) {
		return tagNames[n.tag]
	}
	return "!?"
}

// alias is an alias node's target, or nil.
func (n *node) alias() *node {
	if n.Kind != yaml.AliasNode || len(n.Content) != 1 {
		return nil
	}
	return n.Content[0]
}

// Decode decodes a scalar as yaml.v3 decodes the node it comes from: a
// scalar's decoding depends only on its kind, its resolved tag and its
// value (the style counts only for a node without a tag, and every scalar
// has one once resolved).
func (n *node) Decode(v any) error {
	y := yaml.Node{Kind: n.Kind, Tag: n.ShortTag(), Value: n.Value}
	return y.Decode(v)
}

// tagText is the text of a node's tag, whatever the tag.
func (p *parser) tagText(n *node) string {
	if n.tag == tagOther {
		return p.otherTags[n]
	}
	return n.ShortTag()
}

// fromYAML converts a yaml.v3 tree; aliases point to the converted anchors.
func (p *parser) fromYAML(y *yaml.Node) *node {
	seen := make(map[*yaml.Node]*node)
	var conv func(y *yaml.Node) *node
	conv = func(y *yaml.Node) *node {
		if y == nil {
			return nil
		}
		if n, ok := seen[y]; ok {
			return n
		}
		n := &node{Kind: y.Kind, Value: y.Value, Line: int32(y.Line), Column: int32(y.Column)}
		seen[y] = n
		tag := y.ShortTag()
		if n.tag = tagOf(tag); n.tag == tagOther {
			if p.otherTags == nil {
				p.otherTags = map[*node]string{}
			}
			p.otherTags[n] = tag
		}
		if y.Kind == yaml.AliasNode {
			if y.Alias != nil {
				n.Content = []*node{conv(y.Alias)}
			}
			return n
		}
		if len(y.Content) > 0 {
			n.Content = make([]*node, len(y.Content))
			for i, c := range y.Content {
				n.Content[i] = conv(c)
			}
		}
		return n
	}
	return conv(y)
}
