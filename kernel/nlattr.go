package kernel

import (
	"encoding/binary"
	"fmt"
)

// Netlink attributes, written and read without the per-attribute allocations
// of a general decoder: a batch of 100,000 set elements is one buffer, and a
// dump of them is walked in place.

const (
	nlaHeaderLen = 4
	nlaFNested   = 0x8000
	nlaTypeMask  = 0x3fff
	nlaMaxLen    = 0xffff
)

func nlaAlign(n int) int { return (n + 3) &^ 3 }

// attrWriter appends netlink attributes to a buffer. Lengths are host-endian,
// as netlink wants; payload integers are big-endian, as nf_tables wants.
type attrWriter struct {
	b   []byte
	err error
}

func (w *attrWriter) header(typ uint16, n int) {
	if n+nlaHeaderLen > nlaMaxLen && w.err == nil {
		w.err = fmt.Errorf("netlink attribute %d too long (%d bytes)", typ&nlaTypeMask, n)
	}
	w.b = binary.NativeEndian.AppendUint16(w.b, uint16(n+nlaHeaderLen))
	w.b = binary.NativeEndian.AppendUint16(w.b, typ)
}

func (w *attrWriter) pad() {
	for len(w.b)%4 != 0 {
		w.b = append(w.b, 0)
	}
}

func (w *attrWriter) bytes(typ uint16, data []byte) {
	w.header(typ, len(data))
	w.b = append(w.b, data...)
	w.pad()
}

// str writes a NUL-terminated string.
func (w *attrWriter) str(typ uint16, s string) {
	w.header(typ, len(s)+1)
	w.b = append(w.b, s...)
	w.b = append(w.b, 0)
	w.pad()
}

func (w *attrWriter) u32(typ uint16, v uint32) {
	w.header(typ, 4)
	w.b = binary.BigEndian.AppendUint32(w.b, v)
}

// begin opens a nested attribute; end closes it, writing its length.
func (w *attrWriter) begin(typ uint16) int {
	off := len(w.b)
	w.b = append(w.b, 0, 0, 0, 0)
	binary.NativeEndian.PutUint16(w.b[off+2:], typ|nlaFNested)
	return off
}

func (w *attrWriter) end(off int) {
	n := len(w.b) - off
	if n > nlaMaxLen && w.err == nil {
		w.err = fmt.Errorf("nested netlink attribute %d too long (%d bytes)",
			binary.NativeEndian.Uint16(w.b[off+2:])&nlaTypeMask, n)
	}
	binary.NativeEndian.PutUint16(w.b[off:], uint16(n))
}

// data writes a nested NFTA_DATA_VALUE, as keys and cmp operands are written.
func (w *attrWriter) data(typ uint16, value []byte) {
	off := w.begin(typ)
	w.bytes(1, value) // NFTA_DATA_VALUE
	w.end(off)
}

// attrs iterates over netlink attributes in place.
type attrs struct {
	b   []byte
	err error
}

// next returns the next attribute's type (flags masked off) and payload.
func (a *attrs) next() (typ uint16, data []byte, ok bool) {
	if len(a.b) < nlaHeaderLen {
		return 0, nil, false
	}
	n := int(binary.NativeEndian.Uint16(a.b))
	typ = binary.NativeEndian.Uint16(a.b[2:]) & nlaTypeMask
	if n < nlaHeaderLen || n > len(a.b) {
		a.err = fmt.Errorf("malformed netlink attribute (length %d, %d bytes left)", n, len(a.b))
		a.b = nil
		return 0, nil, false
	}
	data = a.b[nlaHeaderLen:n]
	if adv := nlaAlign(n); adv < len(a.b) {
		a.b = a.b[adv:]
	} else {
		a.b = nil
	}
	return typ, data, true
}

func beU32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func beU64(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// cstr returns a NUL-terminated string attribute's text.
func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// dataValue returns the NFTA_DATA_VALUE inside a nested data attribute.
func dataValue(b []byte) []byte {
	a := attrs{b: b}
	for {
		typ, d, ok := a.next()
		if !ok {
			return nil
		}
		if typ == 1 { // NFTA_DATA_VALUE
			return d
		}
	}
}
