package kernel

import (
	"bytes"
	"strings"
	"testing"

	"github.com/netctl/netctl/kernel/nfwire"
	"github.com/netctl/netctl/plan"
)

func TestKeyTypeMagic(t *testing.T) {
	for _, tc := range []struct {
		typ   string
		magic uint32
		len   int
	}{
		// The values nft 1.0.6 writes for the same `type ...` declaration.
		{plan.LinksKeyType, 0x1c730d, 16},
		{plan.AllowedSourcesKeyType, 41<<6 | 7, 20},
		{"ipv4_addr", 7, 4},
		{"inet_service", 13, 2},
	} {
		kt, err := parseKeyType(tc.typ)
		if err != nil {
			t.Fatal(err)
		}
		if kt.magic != tc.magic || kt.len != tc.len || kt.name != tc.typ {
			t.Errorf("%s: magic 0x%x len %d name %q, want 0x%x %d", tc.typ, kt.magic, kt.len, kt.name, tc.magic, tc.len)
		}
		back := keyTypeFromKernel(kt.magic, kt.len)
		if back.name != tc.typ {
			t.Errorf("%s: from kernel: %q", tc.typ, back.name)
		}
	}
	if kt := keyTypeFromKernel(63, 4); !strings.HasPrefix(kt.name, "unknown") {
		t.Errorf("unknown magic: %q", kt.name)
	}
	if _, err := parseKeyType("ipv4_addr . nonsense"); err == nil {
		t.Error("unknown datatype accepted")
	}
}

func TestKeyRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		keys []string
	}{
		{plan.LinksKeyType, []string{
			"172.17.0.2 . 172.17.0.3 . tcp . 5432",
			"172.17.0.2 . 172.17.0.3 . udp . 53",
			"172.17.0.2 . 172.17.0.3 . sctp . 1000-2000",
			"172.17.0.2 . 172.17.0.3 . 1 . 0",
			"10.0.0.0/8 . 172.17.0.0-172.17.0.5 . 6-17 . 0-65535",
			"0.0.0.0/0 . 255.255.255.255 . tcp . 65535",
			"0x0a000002-0x0a000001 . 172.17.0.3 . tcp . 22",
		}},
		{plan.AllowedSourcesKeyType, []string{
			`"docker0" . 198.51.100.0/24`,
			`"docker0" . 203.0.113.7`,
			`"veth*" . 192.0.2.0-192.0.2.9`,
			`"*" . 192.0.2.1`,
			`"" . 192.0.2.1`,
			`"abcdefghijklmno" . 192.0.2.1`,
			`0x646f636b657230000000000000000000-0x646f636b657231000000000000000000 . 192.0.2.1`,
		}},
	} {
		kt, err := parseKeyType(tc.typ)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range tc.keys {
			key, end := make([]byte, kt.len), make([]byte, kt.len)
			if _, err := kt.parseKey(k, key, end, nil); err != nil {
				t.Errorf("%s: %v", k, err)
				continue
			}
			if got := string(kt.renderKey(nil, key, end)); got != k {
				t.Errorf("render(parse(%q)) = %q", k, got)
			}
		}
	}
}

func TestKeyBytes(t *testing.T) {
	kt, _ := parseKeyType(plan.LinksKeyType)
	key, end := make([]byte, kt.len), make([]byte, kt.len)
	if _, err := kt.parseKey("172.17.0.2 . 10.0.0.0/8 . tcp . 1000-2000", key, end, nil); err != nil {
		t.Fatal(err)
	}
	// Every field padded to 4 bytes, values big-endian (as nft writes them).
	wantKey := []byte{172, 17, 0, 2, 10, 0, 0, 0, 6, 0, 0, 0, 0x03, 0xe8, 0, 0}
	wantEnd := []byte{172, 17, 0, 2, 10, 255, 255, 255, 6, 0, 0, 0, 0x07, 0xd0, 0, 0}
	if !bytes.Equal(key, wantKey) || !bytes.Equal(end, wantEnd) {
		t.Errorf("key % x end % x", key, end)
	}
	kt, _ = parseKeyType(plan.AllowedSourcesKeyType)
	key, end = make([]byte, kt.len), make([]byte, kt.len)
	if _, err := kt.parseKey(`"eth*" . 1.2.3.4`, key, end, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(key[:16], append([]byte("eth"), make([]byte, 13)...)) || !bytes.Equal(end[:4], []byte{'e', 't', 'h', 0xff}) || end[15] != 0xff {
		t.Errorf("wildcard key % x end % x", key, end)
	}
}

func TestKeyNotCanonical(t *testing.T) {
	for _, tc := range []struct{ typ, key string }{
		{plan.LinksKeyType, "172.17.0.2 . 172.17.0.3 . 6 . 22"},                   // tcp by number
		{plan.LinksKeyType, "172.17.0.2/32 . 172.17.0.3 . tcp . 22"},              // /32
		{plan.LinksKeyType, "10.0.0.1/8 . 172.17.0.3 . tcp . 22"},                 // host bits
		{plan.LinksKeyType, "10.0.0.0-10.0.0.255 . 172.17.0.3 . tcp . 22"},        // a prefix as a range
		{plan.LinksKeyType, "172.17.0.2 . 172.17.0.3 . tcp . 22-22"},              // empty range
		{plan.LinksKeyType, "172.17.0.2 . 172.17.0.3 . tcp . 022"},                // leading zero
		{plan.LinksKeyType, "172.17.0.2 . 172.17.0.3 . tcp"},                      // fields missing
		{plan.LinksKeyType, "172.17.0.2 . 172.17.0.3 . tcp . 22 . 1"},             // one too many
		{plan.LinksKeyType, "172.17.0.2 . 172.17.0.3 . tcp . 70000"},              // out of range
		{plan.LinksKeyType, "172.17.0.2  . 172.17.0.3 . tcp . 22"},                // spacing
		{plan.AllowedSourcesKeyType, `docker0 . 198.51.100.0/24`},                 // unquoted
		{plan.AllowedSourcesKeyType, `"docker0" . 2001:db8::1`},                   // IPv6 in IPv4
		{plan.AllowedSourcesKeyType, `"averyveryverylongname" . 198.51.100.0/24`}, // > 15 bytes
	} {
		kt, _ := parseKeyType(tc.typ)
		key, end := make([]byte, kt.len), make([]byte, kt.len)
		if _, err := kt.parseKey(tc.key, key, end, nil); err == nil {
			t.Errorf("%q accepted", tc.key)
		}
	}
}

// BenchmarkEncodeLinks is the userspace share of SyncFirewall: parsing
// 100,000 canonical keys and encoding the element messages.
func BenchmarkEncodeLinks(b *testing.B) {
	fw := fixture()
	s := fw.Set(plan.SetLinks)
	s.Elements = linkElements(100000)
	kt, _ := parseKeyType(s.Type)
	b.ReportAllocs()
	for b.Loop() {
		if err := addElements(&nfwire.Batch{}, 0, s, kt, nil, 1, s.Elements); err != nil {
			b.Fatal(err)
		}
	}
}
