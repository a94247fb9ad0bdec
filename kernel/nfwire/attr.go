package nfwire

import (
	"encoding/binary"
	"fmt"
)

const (
	nlaHeaderLen = 4
	nlaFNested   = 0x8000
	nlaTypeMask  = 0x3fff
	nlaMaxLen    = 0xffff
)

// Align rounds n up to netlink's 4-byte alignment.
func Align(n int) int { return (n + 3) &^ 3 }

// Writer appends netlink attributes to a buffer. Lengths are host-endian,
// as netlink wants; payload integers are big-endian, as nf_tables wants.
type Writer struct {
	B   []byte // the attributes written so far
	Err error  // the first attribute too long for its 16-bit length
}

// Header writes the header of an attribute of n payload bytes; the
// caller appends the payload and Pad.
func (w *Writer) Header(typ uint16, n int) {
	if n+nlaHeaderLen > nlaMaxLen && w.Err == nil {
		w.Err = fmt.Errorf("netlink attribute %d too long (%d bytes)", typ&nlaTypeMask, n)
	}
	w.B = binary.NativeEndian.AppendUint16(w.B, uint16(n+nlaHeaderLen))
	w.B = binary.NativeEndian.AppendUint16(w.B, typ)
}

// Pad aligns the end of the buffer.
func (w *Writer) Pad() {
	for len(w.B)%4 != 0 {
		w.B = append(w.B, 0)
	}
}

// Binary writes an attribute of raw bytes.
func (w *Writer) Binary(typ uint16, data []byte) {
	w.Header(typ, len(data))
	w.B = append(w.B, data...)
	w.Pad()
}

// Str writes a NUL-terminated string.
func (w *Writer) Str(typ uint16, s string) {
	w.Header(typ, len(s)+1)
	w.B = append(w.B, s...)
	w.B = append(w.B, 0)
	w.Pad()
}

// U32 writes a big-endian 32-bit attribute.
func (w *Writer) U32(typ uint16, v uint32) {
	w.Header(typ, 4)
	w.B = binary.BigEndian.AppendUint32(w.B, v)
}

// Begin opens a nested attribute; End closes it, writing its length.
func (w *Writer) Begin(typ uint16) int {
	off := len(w.B)
	w.B = append(w.B, 0, 0, 0, 0)
	binary.NativeEndian.PutUint16(w.B[off+2:], typ|nlaFNested)
	return off
}

func (w *Writer) End(off int) {
	n := len(w.B) - off
	if n > nlaMaxLen && w.Err == nil {
		w.Err = fmt.Errorf("nested netlink attribute %d too long (%d bytes)",
			binary.NativeEndian.Uint16(w.B[off+2:])&nlaTypeMask, n)
	}
	binary.NativeEndian.PutUint16(w.B[off:], uint16(n))
}

// Value writes a nested NFTA_DATA_VALUE, as keys and cmp operands are written.
func (w *Writer) Value(typ uint16, value []byte) {
	off := w.Begin(typ)
	w.Binary(1, value) // NFTA_DATA_VALUE
	w.End(off)
}

// Attrs iterates over netlink attributes in place.
type Attrs struct {
	B   []byte // the attributes not read yet
	Err error  // set when an attribute is malformed
}

// Next returns the next attribute's type (flags masked off) and payload.
func (a *Attrs) Next() (typ uint16, data []byte, ok bool) {
	if len(a.B) < nlaHeaderLen {
		return 0, nil, false
	}
	n := int(binary.NativeEndian.Uint16(a.B))
	typ = binary.NativeEndian.Uint16(a.B[2:]) & nlaTypeMask
	if n < nlaHeaderLen || n > len(a.B) {
		a.Err = fmt.Errorf("malformed netlink attribute (length %d, %d bytes left)", n, len(a.B))
		a.B = nil
		return 0, nil, false
	}
	data = a.B[nlaHeaderLen:n]
	if adv := Align(n); adv < len(a.B) {
		a.B = a.B[adv:]
	} else {
		a.B = nil
	}
	return typ, data, true
}

// BeU32 reads a big-endian 32-bit payload (0 when short).
func BeU32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// BeU64 reads a big-endian 64-bit payload (0 when short).
func BeU64(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// CStr returns a NUL-terminated string attribute's text.
func CStr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// DataValue returns the NFTA_DATA_VALUE inside a nested data attribute.
func DataValue(b []byte) []byte {
	a := Attrs{B: b}
	for {
		typ, d, ok := a.Next()
		if !ok {
			return nil
		}
		if typ == 1 { // NFTA_DATA_VALUE
			return d
		}
	}
}
