package kernel

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// Set keys: the nft datatypes netctl's sets use, the type of a (concatenated)
// key, and the codec between an element's canonical text (plan.Element.Key)
// and its key / key-end bytes.

type fieldKind uint8

const (
	kindHex fieldKind = iota
	kindIPv4
	kindProto
	kindService
	kindIfname
	kindIPv6
)

// datatype is an nft datatype: its name, its magic number (nft's
// datatype.h, written as NFTA_SET_KEY_TYPE so that the nft CLI knows how to
// print elements) and its size in bytes.
type datatype struct {
	name  string
	magic uint32
	size  int
	kind  fieldKind
}

// datatypes are those netctl writes; a set of any other type reads as an
// opaque key (shown in hex, its type by number).
var datatypes = []datatype{
	{"ipv4_addr", 7, 4, kindIPv4},
	{"inet_proto", 12, 1, kindProto},
	{"inet_service", 13, 2, kindService},
	{"ifname", 41, 16, kindIfname},
	{"ipv6_addr", 8, 16, kindIPv6},
}

func datatypeByName(name string) (datatype, bool) {
	for _, d := range datatypes {
		if d.name == name {
			return d, true
		}
	}
	return datatype{}, false
}

func datatypeByMagic(m uint32) (datatype, bool) {
	for _, d := range datatypes {
		if d.magic == m {
			return d, true
		}
	}
	return datatype{}, false
}

// Concatenated types pack each field's magic in 6 bits, first field highest.
const concatTypeBits = 6

// keyType is the type of a set's key: one datatype or a concatenation, in
// which every field is padded to a 4-byte register.
type keyType struct {
	name   string
	fields []datatype
	offs   []int
	len    int
	magic  uint32
}

func newKeyType(fields []datatype) *keyType {
	kt := &keyType{fields: fields, offs: make([]int, len(fields))}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
		kt.offs[i] = kt.len
		if len(fields) > 1 {
			kt.len += (f.size + 3) &^ 3
		} else {
			kt.len += f.size
		}
		kt.magic = kt.magic<<concatTypeBits | f.magic
	}
	kt.name = strings.Join(names, " . ")
	return kt
}

// parseKeyType parses a key type in nft syntax ("ipv4_addr . inet_service").
func parseKeyType(s string) (*keyType, error) {
	parts := strings.Split(s, " . ")
	if len(parts) > 32/concatTypeBits {
		return nil, fmt.Errorf("set type %q: more than %d fields", s, 32/concatTypeBits)
	}
	fields := make([]datatype, len(parts))
	for i, p := range parts {
		d, ok := datatypeByName(strings.TrimSpace(p))
		if !ok {
			return nil, fmt.Errorf("set type %q: unsupported datatype %q", s, p)
		}
		fields[i] = d
	}
	return newKeyType(fields), nil
}

// keyTypeFromKernel rebuilds a key type from NFTA_SET_KEY_TYPE and
// NFTA_SET_KEY_LEN; a type netctl does not know becomes one opaque field.
func keyTypeFromKernel(magic uint32, keyLen int) *keyType {
	var fields []datatype
	for m := magic; m != 0; m >>= concatTypeBits {
		d, ok := datatypeByMagic(m & (1<<concatTypeBits - 1))
		if !ok {
			fields = nil
			break
		}
		fields = append([]datatype{d}, fields...)
	}
	if len(fields) > 0 {
		if kt := newKeyType(fields); kt.len == keyLen {
			return kt
		}
	}
	kt := newKeyType([]datatype{{name: "opaque", size: keyLen, kind: kindHex}})
	kt.name = fmt.Sprintf("unknown (type 0x%x, %d bytes)", magic, keyLen)
	kt.magic = magic
	return kt
}

// parseKey parses an element's key text into key and keyEnd, both of
// kt.len bytes and zeroed. It accepts only the canonical text, the one
// renderKey writes, so that the two round-trip and a desired key that is
// not canonical is an error, not a difference that never goes away.
func (kt *keyType) parseKey(text string, key, keyEnd []byte, scratch []byte) ([]byte, error) {
	rest := text
	for i, f := range kt.fields {
		var field string
		if i == len(kt.fields)-1 {
			field, rest = rest, ""
		} else {
			j := strings.Index(rest, " . ")
			if j < 0 {
				return scratch, fmt.Errorf("element %q: want %d fields (%s)", text, len(kt.fields), kt.name)
			}
			field, rest = rest[:j], rest[j+3:]
		}
		o := kt.offs[i]
		if err := parseField(f, field, key[o:o+f.size], keyEnd[o:o+f.size]); err != nil {
			return scratch, fmt.Errorf("element %q: %s: %w", text, f.name, err)
		}
	}
	scratch = kt.renderKey(scratch[:0], key, keyEnd)
	if string(scratch) != text {
		return scratch, fmt.Errorf("element %q is not in canonical form (write %q)", text, scratch)
	}
	return scratch, nil
}

// renderKey appends the canonical text of the element [key, keyEnd].
func (kt *keyType) renderKey(dst, key, keyEnd []byte) []byte {
	for i, f := range kt.fields {
		if i > 0 {
			dst = append(dst, " . "...)
		}
		o := kt.offs[i]
		dst = renderField(dst, f, key[o:o+f.size], keyEnd[o:o+f.size])
	}
	return dst
}

func parseField(f datatype, s string, lo, hi []byte) error {
	if f.kind != kindHex && strings.HasPrefix(s, "0x") && f.kind != kindIfname {
		return parseHexField(s, lo, hi)
	}
	switch f.kind {
	case kindIPv4, kindIPv6:
		return parseAddrField(s, lo, hi)
	case kindProto:
		a, b, err := parseRange(s, parseProto)
		if err != nil {
			return err
		}
		lo[0], hi[0] = byte(a), byte(b)
		return nil
	case kindService:
		a, b, err := parseRange(s, parsePort)
		if err != nil {
			return err
		}
		binary.BigEndian.PutUint16(lo, uint16(a))
		binary.BigEndian.PutUint16(hi, uint16(b))
		return nil
	case kindIfname:
		return parseIfname(s, lo, hi)
	default:
		return parseHexField(s, lo, hi)
	}
}

func renderField(dst []byte, f datatype, lo, hi []byte) []byte {
	switch f.kind {
	case kindIPv4, kindIPv6:
		return renderAddr(dst, lo, hi)
	case kindProto:
		if lo[0] == hi[0] {
			return appendProto(dst, lo[0])
		}
		if lo[0] < hi[0] {
			dst = strconv.AppendUint(dst, uint64(lo[0]), 10)
			dst = append(dst, '-')
			return strconv.AppendUint(dst, uint64(hi[0]), 10)
		}
	case kindService:
		a, b := binary.BigEndian.Uint16(lo), binary.BigEndian.Uint16(hi)
		if a <= b {
			dst = strconv.AppendUint(dst, uint64(a), 10)
			if a == b {
				return dst
			}
			dst = append(dst, '-')
			return strconv.AppendUint(dst, uint64(b), 10)
		}
	case kindIfname:
		if d, ok := renderIfname(dst, lo, hi); ok {
			return d
		}
	}
	return renderHex(dst, lo, hi)
}

func renderHex(dst, lo, hi []byte) []byte {
	dst = append(dst, "0x"...)
	dst = hex.AppendEncode(dst, lo)
	if !bytes.Equal(lo, hi) {
		dst = append(dst, "-0x"...)
		dst = hex.AppendEncode(dst, hi)
	}
	return dst
}

func parseHexField(s string, lo, hi []byte) error {
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		b = a
	}
	for _, x := range []struct {
		s   string
		dst []byte
	}{{a, lo}, {b, hi}} {
		h, ok := strings.CutPrefix(x.s, "0x")
		if !ok || len(h) != 2*len(x.dst) {
			return fmt.Errorf("%q: want 0x and %d hex digits", x.s, 2*len(x.dst))
		}
		if _, err := hex.Decode(x.dst, []byte(h)); err != nil {
			return fmt.Errorf("%q: %w", x.s, err)
		}
	}
	return nil
}

// Addresses: a single address, a prefix, or a range a-b.

func parseAddrField(s string, lo, hi []byte) error {
	if a, b, ok := strings.Cut(s, "-"); ok {
		x, err := netip.ParseAddr(a)
		if err != nil {
			return err
		}
		y, err := netip.ParseAddr(b)
		if err != nil {
			return err
		}
		if err := putAddr(lo, x); err != nil {
			return err
		}
		return putAddr(hi, y)
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return err
		}
		if err := putAddr(lo, p.Addr()); err != nil {
			return err
		}
		copy(hi, lo)
		for i := p.Bits(); i < len(hi)*8; i++ {
			hi[i/8] |= 0x80 >> (i % 8)
		}
		return nil
	}
	x, err := netip.ParseAddr(s)
	if err != nil {
		return err
	}
	if err := putAddr(lo, x); err != nil {
		return err
	}
	copy(hi, lo)
	return nil
}

func putAddr(dst []byte, a netip.Addr) error {
	if a.BitLen() != len(dst)*8 {
		return fmt.Errorf("%s: want an IPv%d address", a, map[int]int{4: 4, 16: 6}[len(dst)])
	}
	if a.Is4() {
		b := a.As4()
		copy(dst, b[:])
	} else {
		b := a.As16()
		copy(dst, b[:])
	}
	return nil
}

func addrOf(b []byte) netip.Addr {
	if len(b) == 4 {
		return netip.AddrFrom4([4]byte(b))
	}
	return netip.AddrFrom16([16]byte(b))
}

func renderAddr(dst, lo, hi []byte) []byte {
	a := addrOf(lo)
	if bytes.Equal(lo, hi) {
		return a.AppendTo(dst)
	}
	if bits, ok := prefixBits(lo, hi); ok {
		dst = a.AppendTo(dst)
		dst = append(dst, '/')
		return strconv.AppendInt(dst, int64(bits), 10)
	}
	if bytes.Compare(lo, hi) < 0 {
		dst = a.AppendTo(dst)
		dst = append(dst, '-')
		return addrOf(hi).AppendTo(dst)
	}
	return renderHex(dst, lo, hi)
}

// prefixBits reports whether [lo, hi] is exactly a prefix, and its length.
func prefixBits(lo, hi []byte) (int, bool) {
	n := 0
	for n < len(lo) && lo[n] == hi[n] {
		n++
	}
	bitsSame := n * 8
	if n < len(lo) {
		diff := lo[n] ^ hi[n]
		bitsSame += bits.LeadingZeros8(diff)
	}
	for i := bitsSame; i < len(lo)*8; i++ {
		m := byte(0x80 >> (i % 8))
		if lo[i/8]&m != 0 || hi[i/8]&m == 0 {
			return 0, false
		}
	}
	return bitsSame, true
}

// Protocols and ports.

var protoNames = map[string]uint8{"tcp": 6, "udp": 17, "sctp": 132}

func parseProto(s string) (uint64, error) {
	if p, ok := protoNames[s]; ok {
		return uint64(p), nil
	}
	return strconv.ParseUint(s, 10, 8)
}

func appendProto(dst []byte, p byte) []byte {
	switch p {
	case 6:
		return append(dst, "tcp"...)
	case 17:
		return append(dst, "udp"...)
	case 132:
		return append(dst, "sctp"...)
	}
	return strconv.AppendUint(dst, uint64(p), 10)
}

func parsePort(s string) (uint64, error) { return strconv.ParseUint(s, 10, 16) }

func parseRange(s string, one func(string) (uint64, error)) (uint64, uint64, error) {
	a, b, isRange := strings.Cut(s, "-")
	x, err := one(a)
	if err != nil || !isRange {
		return x, x, err
	}
	y, err := one(b)
	return x, y, err
}

// Interface names: "docker0", a wildcard "veth*" (prefix, then NUL bytes up to
// 0xff bytes), or anything else in hex.

func parseIfname(s string, lo, hi []byte) error {
	if !strings.HasPrefix(s, `"`) {
		return parseHexField(s, lo, hi)
	}
	name, ok := strings.CutSuffix(s[1:], `"`)
	if !ok || strings.Contains(name, `"`) {
		return fmt.Errorf("%s: want a quoted interface name", s)
	}
	wild := strings.HasSuffix(name, "*")
	name = strings.TrimSuffix(name, "*")
	if len(name) >= len(lo) {
		return fmt.Errorf("%s: interface names are at most %d bytes", s, len(lo)-1)
	}
	copy(lo, name)
	copy(hi, name)
	if wild {
		for i := len(name); i < len(hi); i++ {
			hi[i] = 0xff
		}
	}
	return nil
}

func printableName(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || c == '"' || c == '*' || c == '\\' {
			return false
		}
	}
	return true
}

func renderIfname(dst, lo, hi []byte) ([]byte, bool) {
	n := bytes.IndexByte(lo, 0)
	if n < 0 || !printableName(lo[:n]) || !bytes.Equal(lo[:n], hi[:n]) {
		return dst, false
	}
	for _, c := range lo[n:] {
		if c != 0 {
			return dst, false
		}
	}
	exact, wild := true, true
	for _, c := range hi[n:] {
		exact = exact && c == 0
		wild = wild && c == 0xff
	}
	if !exact && !wild {
		return dst, false
	}
	dst = append(dst, '"')
	dst = append(dst, lo[:n]...)
	if !exact {
		dst = append(dst, '*')
	}
	return append(dst, '"'), true
}
