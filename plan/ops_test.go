package plan

import "testing"

func TestElementDelta(t *testing.T) {
	e := func(k, c string) Element { return Element{Key: k, Comment: c} }
	from := []Element{e("a", ""), e("b", "x"), e("c", "")}
	to := []Element{e("d", ""), e("b", "y"), e("a", "")} // not sorted
	dels, adds := ElementDelta(from, to)
	if len(dels) != 2 || dels[0].Key != "b" || dels[1].Key != "c" {
		t.Errorf("dels %v", dels)
	}
	if len(adds) != 2 || adds[0] != e("b", "y") || adds[1].Key != "d" {
		t.Errorf("adds %v", adds)
	}
}

