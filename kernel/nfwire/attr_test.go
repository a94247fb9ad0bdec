package nfwire

import (
	"bytes"
	"testing"
)

func TestWriterAttrsRoundTrip(t *testing.T) {
	w := &Writer{}
	w.Str(1, "netctl")
	w.U32(2, 0x01020304)
	n := w.Begin(3)
	w.Value(1, []byte{10, 0, 0, 1})
	w.Binary(2, []byte{0xaa})
	w.End(n)
	if w.Err != nil {
		t.Fatal(w.Err)
	}
	a := Attrs{B: w.B}
	typ, d, ok := a.Next()
	if !ok || typ != 1 || CStr(d) != "netctl" {
		t.Fatalf("first: %d %q %v", typ, d, ok)
	}
	typ, d, ok = a.Next()
	if !ok || typ != 2 || BeU32(d) != 0x01020304 {
		t.Fatalf("second: %d %x %v", typ, d, ok)
	}
	typ, d, ok = a.Next()
	if !ok || typ != 3 {
		t.Fatalf("nested: %d %v", typ, ok)
	}
	in := Attrs{B: d}
	typ, v, ok := in.Next()
	if !ok || typ != 1 || !bytes.Equal(DataValue(v), []byte{10, 0, 0, 1}) {
		t.Fatalf("value: %d %x", typ, v)
	}
	if _, _, ok := a.Next(); ok || a.Err != nil {
		t.Fatalf("past the end: %v %v", ok, a.Err)
	}
	if len(w.B)%4 != 0 {
		t.Errorf("unaligned: %d bytes", len(w.B))
	}
}

func TestWriterTooLong(t *testing.T) {
	w := &Writer{}
	w.Binary(1, make([]byte, 0x10000))
	if w.Err == nil {
		t.Error("an attribute past 16 bits of length is accepted")
	}
	w = &Writer{}
	n := w.Begin(1)
	for range 0x1000 {
		w.Binary(2, make([]byte, 16))
	}
	w.End(n)
	if w.Err == nil {
		t.Error("a nested attribute past 16 bits of length is accepted")
	}
}

func TestAttrsMalformed(t *testing.T) {
	a := Attrs{B: []byte{0x40, 0, 1, 0, 0, 0, 0, 0}} // says 64 bytes, has 8
	if _, _, ok := a.Next(); ok || a.Err == nil {
		t.Errorf("malformed attribute read: %v %v", ok, a.Err)
	}
}
