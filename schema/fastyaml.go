package schema

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// The fast reader: the YAML that netctl files are written in — block
// mappings and sequences, one-line flow mappings and sequences, plain and
// simply quoted scalars, comments — read straight into nodes, exactly as
// yaml.v3 reads it (tests compare the two on every input they have, and
// FuzzFastRead on any other). Anything else (anchors, tags, multi-line
// scalars or flow collections, escapes, tabs, document markers, empty values,
// CR line ends…) makes it give up, and yaml.v3 reads the file. A
// 100,000-link file reads about ten times faster, into a quarter of the
// memory: node values are slices of one copy of the file, nodes and their
// children are allocated in blocks.

// fastRead returns the document node of text, or ok false when text is not
// in the subset it reads. Node values are slices of text.
func fastRead(text string) (doc *node, ok bool) {
	if strings.IndexByte(text, '\t') >= 0 || strings.IndexByte(text, '\r') >= 0 ||
		strings.HasPrefix(text, "\uFEFF") ||
		strings.Contains(text, "\u0085") || strings.Contains(text, "\u2028") || strings.Contains(text, "\u2029") {
		return nil, false // tabs, other line breaks and the BOM are yaml.v3's
	}
	r := &fastReader{text: text, line: 1}
	defer func() {
		if e := recover(); e != nil {
			if e != errNotFast {
				panic(e)
			}
			doc, ok = nil, false
		}
	}()
	if !r.nextContent() || r.indent() != 0 {
		return nil, false
	}
	root := r.blockMapping(0)
	if !r.eof() {
		return nil, false
	}
	doc = r.newNode(yaml.DocumentNode, tagNone, "", root.Line, root.Column)
	doc.Content = []*node{root}
	return doc, true
}

type notFast struct{}

// errNotFast ends a fast read that meets what it does not read.
var errNotFast = &notFast{}

func giveUp() { panic(errNotFast) }

type fastReader struct {
	text      string
	pos       int // the next byte to read
	lineStart int // offset of the current line
	line      int // 1-based

	depth int // of the collections being read

	nodes []node  // allocated in blocks
	ptrs  []*node // children, allocated in blocks
	stack []*node // children of the collections being read
}

// maxDepth bounds the nesting of collections; netctl's files nest five
// deep, and yaml.v3 has limits of its own that the fast reader must not
// have to know.
const maxDepth = 50

// enter counts a collection in, and leave out.
func (r *fastReader) enter() {
	if r.depth++; r.depth > maxDepth {
		giveUp()
	}
}

func (r *fastReader) leave() { r.depth-- }

func (r *fastReader) newNode(kind yaml.Kind, tag tagID, value string, line, col int32) *node {
	if len(r.nodes) == 0 {
		r.nodes = make([]node, 1024)
	}
	n := &r.nodes[0]
	r.nodes = r.nodes[1:]
	n.Kind, n.tag, n.Value, n.Line, n.Column = kind, tag, value, line, col
	return n
}

// children moves the nodes stacked since start into n's Content.
func (r *fastReader) children(n *node, start int) {
	k := len(r.stack) - start
	if k == 0 {
		return
	}
	if len(r.ptrs) < k {
		r.ptrs = make([]*node, max(k, 16384))
	}
	n.Content = r.ptrs[:k:k]
	r.ptrs = r.ptrs[k:]
	copy(n.Content, r.stack[start:])
	clear(r.stack[start:])
	r.stack = r.stack[:start]
}

func (r *fastReader) eof() bool { return r.pos >= len(r.text) }

// peek returns the byte at pos, or '\n' at the end of a line or the text.
func (r *fastReader) peek() byte {
	if r.pos >= len(r.text) {
		return '\n'
	}
	return r.text[r.pos]
}

func (r *fastReader) col() int32 { return int32(r.pos-r.lineStart) + 1 }

func (r *fastReader) skipSpaces() {
	for r.pos < len(r.text) && r.text[r.pos] == ' ' {
		r.pos++
	}
}

// nextContent moves to the first non-blank, non-comment line from the
// current position, which must be at the start of a line; it reports
// whether there is one. pos is left at the line's start.
func (r *fastReader) nextContent() bool {
	for r.pos < len(r.text) {
		i := r.pos
		for i < len(r.text) && r.text[i] == ' ' {
			i++
		}
		if i < len(r.text) && r.text[i] != '\n' && r.text[i] != '#' {
			return true
		}
		// A blank or comment line: skip it.
		nl := strings.IndexByte(r.text[i:], '\n')
		if nl < 0 {
			r.pos = len(r.text)
			return false
		}
		r.pos = i + nl + 1
		r.lineStart = r.pos
		r.line++
	}
	return false
}

// indent is the indentation of the current line, pos being at its start.
func (r *fastReader) indent() int {
	i := r.pos
	for i < len(r.text) && r.text[i] == ' ' {
		i++
	}
	return i - r.pos
}

// endLine accepts spaces and a comment up to the end of the line, then
// moves to the next content line.
func (r *fastReader) endLine() {
	r.skipSpaces()
	if c := r.peek(); c == '#' && r.pos > 0 && r.text[r.pos-1] == ' ' {
		if nl := strings.IndexByte(r.text[r.pos:], '\n'); nl >= 0 {
			r.pos += nl
		} else {
			r.pos = len(r.text)
		}
	} else if c != '\n' {
		giveUp()
	}
	if r.pos < len(r.text) {
		r.pos++ // the '\n'
		r.lineStart = r.pos
		r.line++
	}
	r.nextContent()
}

// seqEntry reports whether the current line, indented by ind, is a block
// sequence entry ("- …").
func (r *fastReader) seqEntry(ind int) bool {
	i := r.pos + ind
	return i < len(r.text) && r.text[i] == '-' && (i+1 == len(r.text) || r.text[i+1] == ' ' || r.text[i+1] == '\n')
}

// blockMapping reads a block mapping whose keys are indented by indent, the
// first starting at pos.
func (r *fastReader) blockMapping(indent int) *node {
	r.enter()
	defer r.leave()
	m := r.newNode(yaml.MappingNode, tagMap, "", int32(r.line), r.col())
	start := len(r.stack)
	for {
		k := r.key(false)
		r.pos++
		if c := r.peek(); c != ' ' && c != '\n' {
			giveUp()
		}
		v := r.value(indent)
		r.stack = append(r.stack, k, v)
		if r.eof() {
			break
		}
		ind := r.indent()
		if ind < indent {
			break
		}
		if ind > indent || r.seqEntry(ind) {
			giveUp()
		}
		r.pos += ind
	}
	r.children(m, start)
	return m
}

// value reads the value of a block mapping's key (pos after the ':'), and
// moves to the next content line.
func (r *fastReader) value(indent int) *node {
	r.skipSpaces()
	if c := r.peek(); c == '\n' || c == '#' {
		r.endLine()
		if r.eof() {
			giveUp() // an empty value
		}
		ind := r.indent()
		switch {
		case ind > indent && r.seqEntry(ind), ind == indent && r.seqEntry(ind):
			r.pos += ind
			return r.blockSequence(ind)
		case ind > indent:
			r.pos += ind
			return r.blockMapping(ind)
		}
		giveUp() // an empty value
	}
	v := r.inline()
	r.endLine()
	return v
}

// blockSequence reads a block sequence whose entries' dashes are indented by
// indent, the first at pos.
func (r *fastReader) blockSequence(indent int) *node {
	r.enter()
	defer r.leave()
	s := r.newNode(yaml.SequenceNode, tagSeq, "", int32(r.line), r.col())
	start := len(r.stack)
	for {
		r.pos++ // the '-'
		if r.peek() != ' ' {
			giveUp()
		}
		r.skipSpaces()
		if c := r.peek(); c == '\n' || c == '#' || c == '-' && r.pos+1 < len(r.text) && r.text[r.pos+1] == ' ' {
			giveUp() // an empty entry, or a nested sequence
		}
		at, line, col := r.pos, r.line, r.col()
		item := r.inline()
		if item.Kind == yaml.ScalarNode && r.peek() == ':' {
			// "- key: value": a mapping whose keys are indented as this
			// first one.
			r.pos, r.line = at, line
			item = r.blockMapping(int(col) - 1)
		} else {
			r.endLine()
		}
		r.stack = append(r.stack, item)
		if r.eof() {
			break
		}
		ind := r.indent()
		if ind < indent || ind == indent && !r.seqEntry(ind) {
			break
		}
		if ind > indent {
			giveUp()
		}
		r.pos += ind
	}
	r.children(s, start)
	return s
}

// inline reads a scalar or a one-line flow collection.
func (r *fastReader) inline() *node {
	switch r.peek() {
	case '{':
		return r.flowMapping()
	case '[':
		return r.flowSequence()
	}
	return r.scalar(false)
}

func (r *fastReader) flowMapping() *node {
	r.enter()
	defer r.leave()
	m := r.newNode(yaml.MappingNode, tagMap, "", int32(r.line), r.col())
	start := len(r.stack)
	r.pos++ // '{'
	r.skipSpaces()
	if r.peek() == '}' {
		r.pos++
		return m
	}
	for {
		k := r.key(true)
		r.pos++
		if r.peek() != ' ' {
			giveUp()
		}
		r.skipSpaces()
		v := r.flowNode()
		r.stack = append(r.stack, k, v)
		r.skipSpaces()
		if r.peek() == '}' {
			r.pos++
			break
		}
		r.flowComma()
	}
	r.children(m, start)
	return m
}

func (r *fastReader) flowSequence() *node {
	r.enter()
	defer r.leave()
	s := r.newNode(yaml.SequenceNode, tagSeq, "", int32(r.line), r.col())
	start := len(r.stack)
	r.pos++ // '['
	r.skipSpaces()
	if r.peek() == ']' {
		r.pos++
		return s
	}
	for {
		item := r.flowNode()
		r.stack = append(r.stack, item)
		r.skipSpaces()
		if r.peek() == ']' {
			r.pos++
			break
		}
		r.flowComma()
	}
	r.children(s, start)
	return s
}

// flowComma reads the comma between two entries of a flow collection.
func (r *fastReader) flowComma() {
	if r.peek() != ',' {
		giveUp()
	}
	r.pos++
	r.skipSpaces()
	if c := r.peek(); c == '}' || c == ']' || c == ',' {
		giveUp() // a trailing or empty entry
	}
}

func (r *fastReader) flowNode() *node {
	switch r.peek() {
	case '{':
		return r.flowMapping()
	case '[':
		return r.flowSequence()
	}
	return r.scalar(true)
}

// maxKey bounds the length of a key: YAML looks no further than 1024
// characters for the ':' of a key, and yaml.v3 refuses a longer one.
const maxKey = 1000

// key reads a mapping's key, up to its ':'.
func (r *fastReader) key(flow bool) *node {
	start := r.pos
	k := r.scalar(flow)
	if r.peek() != ':' || r.pos-start > maxKey {
		giveUp()
	}
	return k
}

// plainByte reports whether c may be in a plain scalar the fast reader reads:
// a deliberately small set, which holds every name, address and port.
func plainByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == '-' || c == '/' || c == '+' || c == '~'
}

// scalar reads a plain scalar, or a quoted one without escapes, on one line.
func (r *fastReader) scalar(flow bool) *node {
	line, col := int32(r.line), r.col()
	switch c := r.peek(); c {
	case '"', '\'':
		r.pos++
		i := r.pos
		for i < len(r.text) && r.text[i] != c {
			if b := r.text[i]; b < 0x20 || b > 0x7e || b == '\\' {
				giveUp() // escapes, line breaks, other characters
			}
			i++
		}
		if i >= len(r.text) || c == '\'' && i+1 < len(r.text) && r.text[i+1] == '\'' {
			giveUp()
		}
		n := r.newNode(yaml.ScalarNode, tagStr, r.text[r.pos:i], line, col)
		r.pos = i + 1
		return n
	case '-':
		if r.pos+1 >= len(r.text) || !plainByte(r.text[r.pos+1]) {
			giveUp() // an indicator, not a scalar
		}
	}
	i := r.pos
	for i < len(r.text) && plainByte(r.text[i]) {
		i++
	}
	if i == r.pos {
		giveUp()
	}
	// What may follow: a space, the end of the line, the ':' of a key, and
	// in a flow collection ',', '}' or ']'.
	if i < len(r.text) {
		switch r.text[i] {
		case ' ', '\n', ':':
		case ',', '}', ']':
			if !flow {
				giveUp()
			}
		default:
			giveUp()
		}
	}
	v := r.text[r.pos:i]
	r.pos = i
	return r.newNode(yaml.ScalarNode, plainTag(v), v, line, col)
}

// plainTag resolves a plain scalar's tag as yaml.v3 does (its resolve
// function, reached through yaml.Node.ShortTag), quickly for the common
// cases: names, addresses, ports, booleans, small decimal integers.
func plainTag(s string) tagID {
	c := s[0]
	switch {
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		switch s {
		case "true", "True", "TRUE", "false", "False", "FALSE":
			return tagBool
		case "null", "Null", "NULL":
			return tagNull
		}
		return tagStr
	case c == '_' || c == '/':
		return tagStr
	case strings.IndexByte(s, '/') >= 0 || strings.Count(s, ".") >= 2:
		// Neither an integer, a float nor a timestamp can hold those.
		return tagStr
	case decimal(s):
		return tagInt
	}
	return tagOf((&yaml.Node{Kind: yaml.ScalarNode, Value: s}).ShortTag())
}

// decimal reports whether s is 0 or a decimal integer without a leading
// zero that fits an int64.
func decimal(s string) bool {
	if s == "0" {
		return true
	}
	if len(s) > 18 || s[0] < '1' || s[0] > '9' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
