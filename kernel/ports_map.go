package kernel

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Maps: a set whose type is "KEY : DATA" in nft syntax (the map publish:
// "ipv4_addr . ipv4_addr . inet_proto . inet_service : ipv4_addr .
// inet_service"). The data is a concatenation like a key, every field
// padded to 4 bytes; an element's Value is its canonical text, as Key is.

const (
	udataSetDataByteorder = 1 // NFTNL_UDATA_SET_DATABYTEORDER
	nftSetMap             = 0x8
)

// parseSetType parses a set's or a map's type; data is nil for a set.
func parseSetType(s string) (key, data *keyType, err error) {
	k, d, isMap := strings.Cut(s, " : ")
	if key, err = parseKeyType(k); err != nil {
		return nil, nil, err
	}
	if isMap {
		if data, err = parseKeyType(d); err != nil {
			return nil, nil, fmt.Errorf("map data: %w", err)
		}
	}
	return key, data, nil
}

// parseValue parses a map element's value into buf (dt.len bytes, zeroed).
func (dt *keyType) parseValue(text string, buf, scratch []byte) ([]byte, error) {
	end := make([]byte, len(buf))
	scratch, err := dt.parseKey(text, buf, end, scratch)
	if err != nil {
		return scratch, err
	}
	for i := range buf {
		if buf[i] != end[i] {
			return scratch, fmt.Errorf("value %q: a map's value is not a range", text)
		}
	}
	return scratch, nil
}

// dataKeyType is the type of a map's data, nil for a set or a verdict map
// (whose data netctl does not read).
func (s *setInfo) dataKeyType() *keyType {
	if s.flags&nftSetMap == 0 || s.dataType == unix.NFT_DATA_VERDICT {
		return nil
	}
	return keyTypeFromKernel(s.dataType, int(s.dataLen))
}

// renderValue appends the canonical text of a map element's data.
func renderValue(dst []byte, dt *keyType, data []byte) []byte {
	if len(data) != dt.len {
		return renderHex(dst, data, data)
	}
	return dt.renderKey(dst, data, data)
}
