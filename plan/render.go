package plan

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/netctl/netctl/internal/plural"
	"github.com/netctl/netctl/schema"
)

// TextOptions controls the text rendering of a plan.
type TextOptions struct {
	// Color writes ANSI colours, as Terraform does on a terminal.
	Color bool
	// Source is the file the desired state comes from, named by the
	// no-changes line; schema.DefaultFile when empty.
	Source string
	// Destroy words the no-changes line for a destroy, whose plan does not
	// come from a file: "No objects need to be destroyed.", as Terraform.
	Destroy bool
}

// ANSI escapes, as Terraform's colorstring writes them.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
)

// WriteText renders the plan in Terraform's idiom: warnings first, one block
// per change (+ create, - destroy, ~ update in place, -/+ replace), then
// "Plan: X to add, Y to change, Z to destroy.". An empty plan is the single
// line "No changes. The live state matches FILE.".
//
// Every string that may come from the kernel (rule comments, element keys,
// interface names) is quoted or escaped, so a hostile comment cannot write
// terminal escapes.
func (p *Plan) WriteText(w io.Writer, o TextOptions) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	t := &textWriter{w: bw, color: o.Color}
	for _, warning := range p.Warnings {
		t.paint(ansiBold+ansiYellow, "Warning:")
		t.str(" ")
		t.str(escapeLines(warning))
		t.str("\n\n")
	}
	if p.Empty() {
		src := o.Source
		if src == "" {
			src = schema.DefaultFile
		}
		t.paint(ansiBold+ansiGreen, "No changes.")
		if o.Destroy {
			t.str(" No objects need to be destroyed.\n")
			return bw.Flush()
		}
		t.str(" The live state matches " + escapeText(src) + ".\n")
		return bw.Flush()
	}
	t.str("netctl will perform the following actions:\n\n")
	for i := range p.Changes {
		t.change(&p.Changes[i])
	}
	s := p.Summary()
	t.paint(ansiBold, "Plan:")
	fmt.Fprintf(bw, " %d to add, %d to change, %d to destroy.\n", s.Add, s.Change, s.Destroy)
	return bw.Flush()
}

// textWriter writes to a bufio.Writer, whose error is sticky and returned
// by Flush: the methods need not check it.
type textWriter struct {
	w     *bufio.Writer
	color bool
}

func (t *textWriter) str(s string) { t.w.WriteString(s) }

func (t *textWriter) paint(code, s string) {
	if t.color {
		t.w.WriteString(code)
		t.w.WriteString(s)
		t.w.WriteString(ansiReset)
		return
	}
	t.w.WriteString(s)
}

// sign writes an action's symbol, coloured.
func (t *textWriter) sign(a Action) {
	switch a {
	case Create:
		t.paint(ansiGreen, "+")
	case Delete:
		t.paint(ansiRed, "-")
	case Update:
		t.paint(ansiYellow, "~")
	case Replace:
		t.paint(ansiRed, "-")
		t.str("/")
		t.paint(ansiGreen, "+")
	default:
		t.str("?")
	}
}

func (t *textWriter) pad(n int) {
	for ; n > 0; n-- {
		t.w.WriteByte(' ')
	}
}

func actionPhrase(a Action) string {
	switch a {
	case Create:
		return "will be created"
	case Delete:
		return "will be destroyed"
	case Update:
		return "will be updated in-place"
	case Replace:
		return "must be replaced"
	}
	return "will be " + escapeText(string(a))
}

// bridgePhrase words the adoption and the release of a bridge, which are
// updates in-place that change whose the bridge is.
func bridgePhrase(c *Change) string {
	b, okB := c.Before.(Bridge)
	a, okA := c.After.(Bridge)
	switch {
	case c.Action != Update || !okB || !okA:
		return ""
	case !IsOwned(b.Owner) && IsAdopted(a.Owner):
		return "will be adopted (adopt: true), updated in-place"
	case IsAdopted(b.Owner) && !IsOwned(a.Owner):
		return "will be released: netctl adopted it, so its mark and addresses go and the link stays"
	}
	return ""
}

func (t *textWriter) change(c *Change) {
	phrase := actionPhrase(c.Action)
	if p := bridgePhrase(c); p != "" {
		phrase = p
	}
	if p := forwardPhrase(c); p != "" {
		phrase = p
	}
	t.str("  ")
	t.paint(ansiBold, "# "+escapeText(c.Address))
	t.str(" " + phrase + "\n")
	if c.Action == Replace {
		t.sign(Replace)
	} else {
		t.str("  ")
		t.sign(c.Action)
	}
	t.str(" " + escapeText(c.Type) + " " + quote(c.Name) + " {")
	attrs := attributes(c)
	if len(attrs) == 0 {
		t.str("}\n\n")
		return
	}
	t.str("\n")
	width := 0
	for _, a := range attrs {
		width = max(width, len(a.name))
	}
	for i := range attrs {
		t.attr(c.Action, &attrs[i], width)
	}
	t.str("    }\n\n")
}

// attr writes one attribute line (or a multi-line list), at 6 spaces.
func (t *textWriter) attr(action Action, a *attribute, width int) {
	sign := action
	switch action {
	case Update, Replace:
		sign = Update
	}
	t.str("      ")
	t.sign(sign)
	t.str(" " + a.name)
	t.pad(width - len(a.name))
	t.str(" = ")
	switch {
	case sign == Create:
		t.value(a.after, Create)
	case sign == Delete:
		t.value(a.before, Delete)
	case a.before.isList && a.after.isList:
		t.listDiff(a)
	default:
		t.inline(a.before)
		t.str(" -> ")
		t.inline(a.after)
	}
	if a.forces && sign == Update {
		t.str(" ")
		t.paint(ansiRed, "# forces replacement")
	}
	t.str("\n")
}

// value writes a created or destroyed value: a list of more than one item
// one item a line, each with the action's sign.
func (t *textWriter) value(v value, a Action) {
	if !v.isList || len(v.list) <= 1 {
		t.inline(v)
		return
	}
	t.str("[\n")
	for _, item := range v.list {
		t.str("          ")
		t.sign(a)
		t.str(" " + item + ",\n")
	}
	t.str("        ]")
}

func (t *textWriter) inline(v value) {
	switch {
	case v.null:
		t.str("null")
	case v.isList:
		t.str("[")
		for i, item := range v.list {
			if i > 0 {
				t.str(", ")
			}
			t.str(item)
		}
		t.str("]")
	default:
		t.str(v.scalar)
	}
}

// listDiff writes the items added (+), removed (-) and kept of a list.
func (t *textWriter) listDiff(a *attribute) {
	t.str("[\n")
	var ops []listOp
	if a.ordered {
		ops = orderedDiff(a.before.list, a.after.list)
	} else {
		ops = setDiff(a.before.list, a.after.list)
	}
	hidden := 0
	for _, op := range ops {
		if op.action == "" {
			if a.hideKept {
				hidden++
				continue
			}
			t.str("            " + op.item + ",\n")
			continue
		}
		t.str("          ")
		t.sign(op.action)
		t.str(" " + op.item + ",\n")
	}
	if hidden > 0 {
		fmt.Fprintf(t.w, "            # (%s hidden)\n", plural.Count(hidden, "unchanged element", "unchanged elements"))
	}
	t.str("        ]")
}

// listOp is one line of a list diff: an item added, removed, or kept ("").
type listOp struct {
	action Action
	item   string
}

// setDiff compares two lists as sets, in sorted order: removed before added
// at equal positions, as Terraform lists them.
func setDiff(before, after []string) []listOp {
	b, a := slices.Clone(before), slices.Clone(after)
	slices.Sort(b)
	slices.Sort(a)
	ops := make([]listOp, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(b) || j < len(a) {
		switch {
		case j == len(a) || i < len(b) && b[i] < a[j]:
			ops = append(ops, listOp{Delete, b[i]})
			i++
		case i == len(b) || a[j] < b[i]:
			ops = append(ops, listOp{Create, a[j]})
			j++
		default:
			ops = append(ops, listOp{"", a[j]})
			i++
			j++
		}
	}
	return ops
}

// orderedDiff compares two sequences by their longest common subsequence.
// Past maxLCSCells the table would be too large; every item is then shown
// removed and added.
func orderedDiff(before, after []string) []listOp {
	const maxLCSCells = 1 << 22
	n, m := len(before), len(after)
	if n*m > maxLCSCells {
		ops := make([]listOp, 0, n+m)
		for _, s := range before {
			ops = append(ops, listOp{Delete, s})
		}
		for _, s := range after {
			ops = append(ops, listOp{Create, s})
		}
		return ops
	}
	// lcs[i][j] is the LCS length of before[i:] and after[j:].
	lcs := make([]int32, (n+1)*(m+1))
	at := func(i, j int) *int32 { return &lcs[i*(m+1)+j] }
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if before[i] == after[j] {
				*at(i, j) = *at(i+1, j+1) + 1
			} else {
				*at(i, j) = max(*at(i+1, j), *at(i, j+1))
			}
		}
	}
	var ops []listOp
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && before[i] == after[j]:
			ops = append(ops, listOp{"", before[i]})
			i++
			j++
		case j == m || i < n && *at(i+1, j) >= *at(i, j+1):
			ops = append(ops, listOp{Delete, before[i]})
			i++
		default:
			ops = append(ops, listOp{Create, after[j]})
			j++
		}
	}
	return ops
}

// value is an attribute's value, formatted: a scalar or a list of items.
type value struct {
	null   bool
	scalar string
	isList bool
	list   []string
}

func (v value) equal(w value) bool {
	return v.null == w.null && v.scalar == w.scalar && v.isList == w.isList && slices.Equal(v.list, w.list)
}

// attribute is one attribute of a change's object.
type attribute struct {
	name          string
	before, after value
	// forces marks an attribute whose change forces a replacement.
	forces bool
	// ordered lists are compared item by item in order, others as sets;
	// hideKept hides the unchanged items of a large list.
	ordered, hideKept bool
}

var null = value{null: true}

func str(s string) value        { return value{scalar: quote(s)} }
func num(n int) value           { return value{scalar: strconv.Itoa(n)} }
func boolean(b bool) value      { return value{scalar: strconv.FormatBool(b)} }
func list(items []string) value { return value{isList: true, list: quoteAll(items)} }

func quoteAll(items []string) []string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = quote(s)
	}
	return out
}

// quote is strconv.Quote, quicker for the printable ASCII of addresses and
// keys, which it only has to wrap in quotes.
func quote(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return strconv.Quote(s)
		}
	}
	return `"` + s + `"`
}

// attributes returns what the text shows of a change, in name order: every
// attribute of a created or destroyed object, the changed ones of an
// updated or replaced one.
func attributes(c *Change) []attribute {
	var all []attribute
	switch c.Type {
	case TypeSysctl:
		all = sysctlAttrs(c.Before, c.After)
	case TypeBridge:
		all = bridgeAttrs(c.Action, c.Before, c.After)
	case TypeTable:
		all = tableAttrs(c.Before, c.After)
	case TypeChain:
		all = chainAttrs(c.Before, c.After)
	case TypeRule:
		all = ruleAttrs(c.Before, c.After)
	case TypeSet:
		all = setAttrs(c.Before, c.After)
	case TypeLink, TypeAllowedSource, TypeSetElement, TypePublish:
		all = elementAttrs(c.Before, c.After)
	}
	if all == nil {
		all = []attribute{{name: "value", before: anyValue(c.Before), after: anyValue(c.After)}}
	}
	out := all[:0]
	for _, a := range all {
		switch c.Action {
		case Create:
			if a.after.null {
				continue
			}
		case Delete:
			if a.before.null {
				continue
			}
		default:
			if a.before.equal(a.after) {
				continue
			}
		}
		out = append(out, a)
	}
	slices.SortStableFunc(out, func(a, b attribute) int { return strings.Compare(a.name, b.name) })
	return out
}

// anyValue renders a value of a type the text does not know (a change read
// back from a plan file) as its JSON.
func anyValue(v any) value {
	if v == nil {
		return null
	}
	data, err := json.Marshal(v)
	if err != nil {
		return value{scalar: escapeText(fmt.Sprint(v))}
	}
	return value{scalar: escapeText(string(data))}
}

func sysctlAttrs(before, after any) []attribute {
	b, okB := optional[string](before)
	a, okA := optional[string](after)
	if !okB || !okA {
		return nil
	}
	return []attribute{{name: "value", before: mapOpt(b, str), after: mapOpt(a, str)}}
}

// optional converts a change's Before or After: nil is absent; T or *T.
func optional[T any](v any) (*T, bool) {
	switch v := v.(type) {
	case nil:
		return nil, true
	case T:
		return &v, true
	case *T:
		return v, true
	}
	return nil, false
}

func mapOpt[T any](v *T, f func(T) value) value {
	if v == nil {
		return null
	}
	return f(*v)
}

func field[T, F any](v *T, get func(*T) F, f func(F) value) value {
	if v == nil {
		return null
	}
	return f(get(v))
}

func bridgeAttrs(action Action, before, after any) []attribute {
	b, okB := optional[Bridge](before)
	a, okA := optional[Bridge](after)
	if !okB || !okA {
		return nil
	}
	addrs := func(br *Bridge) []string {
		s := make([]string, len(br.Addresses))
		for i, p := range br.Addresses {
			s[i] = p.String()
		}
		return s
	}
	attrs := []attribute{
		{name: "addresses", before: field(b, addrs, list), after: field(a, addrs, list)},
		{name: "mtu", before: field(b, func(br *Bridge) int { return br.MTU }, num), after: field(a, func(br *Bridge) int { return br.MTU }, num)},
		{name: "up", before: field(b, func(br *Bridge) bool { return br.Up }, boolean), after: field(a, func(br *Bridge) bool { return br.Up }, boolean)},
	}
	if a != nil && a.Hairpin {
		// Published ports: the hairpin flag on every port (plan/ports.go).
		attrs = append(attrs, attribute{name: "hairpin", before: field(b, HairpinOn, boolean), after: field(a, HairpinOn, boolean)})
	}
	// A created or destroyed bridge is netctl's and a bridge: say so only
	// when it is not.
	kind := func(br *Bridge) string { return br.Kind }
	owner := func(br *Bridge) string { return br.Owner }
	showKind, showOwner := true, true
	switch action {
	case Create:
		showKind, showOwner = a.Kind != "bridge", a.Owner != Owner
	case Delete:
		showKind, showOwner = b.Kind != "bridge", b.Owner != Owner
	}
	if showKind {
		attrs = append(attrs, attribute{name: "kind", before: field(b, kind, str), after: field(a, kind, str), forces: true})
	}
	if showOwner {
		attrs = append(attrs, attribute{name: "owner", before: field(b, owner, str), after: field(a, owner, str)})
	}
	return attrs
}

func tableAttrs(before, after any) []attribute {
	b, okB := optional[Table](before)
	a, okA := optional[Table](after)
	if !okB || !okA {
		return nil
	}
	family := func(t *Table) string { return t.Family }
	return []attribute{{name: "family", before: field(b, family, str), after: field(a, family, str), forces: true}}
}

func chainAttrs(before, after any) []attribute {
	// The order of a chain's rules: Before and After are rule addresses.
	if b, okB := optional[[]string](before); okB {
		if a, okA := optional[[]string](after); okA && (a != nil || b != nil) {
			return []attribute{{name: "rules", before: mapOpt(b, list), after: mapOpt(a, list), ordered: true}}
		}
	}
	b, okB := optional[Chain](before)
	a, okA := optional[Chain](after)
	if !okB || !okA {
		return nil
	}
	base := func(c *Chain) bool { return c != nil && c.Type != "" }
	if !base(b) && !base(a) {
		return []attribute{}
	}
	baseField := func(c *Chain, get func(*Chain) value) value {
		if !base(c) {
			return null
		}
		return get(c)
	}
	return []attribute{
		{name: "type", before: baseField(b, func(c *Chain) value { return str(c.Type) }), after: baseField(a, func(c *Chain) value { return str(c.Type) }), forces: true},
		{name: "hook", before: baseField(b, func(c *Chain) value { return str(c.Hook) }), after: baseField(a, func(c *Chain) value { return str(c.Hook) }), forces: true},
		{name: "priority", before: baseField(b, func(c *Chain) value { return num(c.Priority) }), after: baseField(a, func(c *Chain) value { return num(c.Priority) }), forces: true},
		{name: "policy", before: baseField(b, func(c *Chain) value { return str(c.Policy) }), after: baseField(a, func(c *Chain) value { return str(c.Policy) })},
	}
}

func ruleAttrs(before, after any) []attribute {
	b, okB := optional[Rule](before)
	a, okA := optional[Rule](after)
	if !okB || !okA {
		return nil
	}
	nft := (*Rule).String
	attrs := []attribute{{name: "nft", before: field(b, nft, str), after: field(a, nft, str)}}
	if b != nil && b.Comment != "" || a != nil && a.Comment != "" {
		comment := func(r *Rule) string { return r.Comment }
		attrs = append(attrs, attribute{name: "comment", before: field(b, comment, str), after: field(a, comment, str)})
	}
	return attrs
}

func setAttrs(before, after any) []attribute {
	b, okB := optional[Set](before)
	a, okA := optional[Set](after)
	if !okB || !okA {
		return nil
	}
	typ := func(s *Set) string { return s.Type }
	interval := func(s *Set) bool { return s.Interval }
	return []attribute{
		{name: "type", before: field(b, typ, str), after: field(a, typ, str), forces: true},
		{name: "interval", before: field(b, interval, boolean), after: field(a, interval, boolean), forces: true},
	}
}

func elementAttrs(before, after any) []attribute {
	b, okB := optional[[]string](before)
	a, okA := optional[[]string](after)
	if !okB || !okA {
		return nil
	}
	return []attribute{{name: "elements", before: mapOpt(b, list), after: mapOpt(a, list), hideKept: true}}
}

// escapeLines escapes each line of s: a warning may span lines.
func escapeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = escapeText(l)
	}
	return strings.Join(lines, "\n")
}

// escapeText writes s as is when every rune is printable, and quoted with
// escapes otherwise: text from the kernel never reaches a terminal raw.
func escapeText(s string) string {
	ascii := true
	for i := 0; i < len(s) && ascii; i++ {
		ascii = s[i] >= 0x20 && s[i] <= 0x7e
	}
	if ascii || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
