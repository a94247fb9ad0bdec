package kernel

// Measurements behind kernel/nfwire's doc comment: what google/nftables
// v0.3.0's Conn and mdlayher/netlink's attribute codecs do for netctl's
// writes and reads, against the kernel and against netctl's own wire code.

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/kernel/nfwire"
	"github.com/netctl/netctl/plan"
)

// libElements converts link elements into the library's form.
func libElements(t testing.TB, kt *keyType, es []plan.Element) []nftables.SetElement {
	out := make([]nftables.SetElement, len(es))
	for i, e := range es {
		key, end := make([]byte, kt.len), make([]byte, kt.len)
		if _, err := kt.parseKey(e.Key, key, end, nil); err != nil {
			t.Fatal(err)
		}
		out[i] = nftables.SetElement{Key: key, KeyEnd: end, Comment: e.Comment}
	}
	return out
}

// libElemSize is what one element adds to the library's element list.
func libElemSize(e nftables.SetElement) int {
	n := 4 + 4 + 4 + nfwire.Align(len(e.Key)) // item, key nest, data value
	if len(e.KeyEnd) > 0 {
		n += 4 + 4 + nfwire.Align(len(e.KeyEnd))
	}
	if e.Comment != "" {
		n += 4 + nfwire.Align(2+len(e.Comment)+1)
	}
	return n
}

// libAddElements splits elements over as many SetAddElements calls as the
// 16-bit attribute length needs, in the same batch.
func libAddElements(c *nftables.Conn, s *nftables.Set, es []nftables.SetElement) error {
	for len(es) > 0 {
		n, size := 0, 0
		for n < len(es) && size+libElemSize(es[n]) < nfwire.ListMax {
			size += libElemSize(es[n])
			n++
		}
		if err := c.SetAddElements(s, es[:n]); err != nil {
			return err
		}
		es = es[n:]
	}
	return nil
}

var libTable = &nftables.Table{Family: nftables.TableFamilyINet, Name: plan.TableName}

func libLinksSet() *nftables.Set {
	return &nftables.Set{
		Table: libTable, Name: plan.SetLinks, ID: 1, Interval: true, Concatenation: true,
		KeyType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService),
	}
}

func bigBuffers(c *netlink.Conn) error { return nfwire.SetBuffers(c, nfwire.SockBuf) }

// TestLibraryConnWritesLargeSets: through the library's Conn, 100,000 link
// elements in one batch arrive whole when split over several
// SetAddElements calls; in one call, 10,000 do not.
func TestLibraryConnWritesLargeSets(t *testing.T) {
	h, ns := openNS(t)
	nsh, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer nsh.Close()
	kt, _ := parseKeyType(plan.LinksKeyType)
	write := func(n int, split bool) (int, error) {
		c, err := nftables.New(nftables.WithNetNSFd(int(nsh)), nftables.WithSockOptions(bigBuffers))
		if err != nil {
			t.Fatal(err)
		}
		c.DelTable(libTable)
		_ = c.Flush()
		c.AddTable(libTable)
		s := libLinksSet()
		if err := c.AddSet(s, nil); err != nil {
			t.Fatal(err)
		}
		es := libElements(t, kt, linkElements(n))
		if split {
			err = libAddElements(c, s, es)
		} else {
			err = c.SetAddElements(s, es)
		}
		if err == nil {
			err = c.Flush()
		}
		if err != nil {
			return 0, err
		}
		fw := read(t, h, plan.Scope{}).Firewall
		return len(fw.Set(plan.SetLinks).Elements), nil
	}
	got, err := write(100000, true)
	if err != nil || got != 100000 {
		t.Errorf("100,000 elements split over calls: %d arrived, %v", got, err)
	}
	got, err = write(10000, false)
	t.Logf("10,000 elements in one SetAddElements: %d arrived, error %v", got, err)
	if err == nil && got == 10000 {
		t.Errorf("one SetAddElements of 10,000 elements worked: the library no longer needs splitting")
	}
}

// TestLibraryConnErrorsDoNotNameTheMessage: the error Flush returns for a
// refused element (an overlap) does not say which message failed; netctl's
// batch writer names it ("add 1 elements of set links").
func TestLibraryConnErrorsDoNotNameTheMessage(t *testing.T) {
	_, ns := openNS(t)
	nsh, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer nsh.Close()
	kt, _ := parseKeyType(plan.LinksKeyType)
	c, err := nftables.New(nftables.WithNetNSFd(int(nsh)))
	if err != nil {
		t.Fatal(err)
	}
	c.AddTable(libTable)
	s := libLinksSet()
	if err := c.AddSet(s, nil); err != nil {
		t.Fatal(err)
	}
	es := libElements(t, kt, []plan.Element{{Key: "172.17.0.2 . 172.17.0.3 . tcp . 1000-2000"}, {Key: "172.17.0.2 . 172.17.0.3 . tcp . 1500"}})
	if err := c.SetAddElements(s, es[:1]); err != nil {
		t.Fatal(err)
	}
	if err := c.SetAddElements(s, es[1:]); err != nil {
		t.Fatal(err)
	}
	err = c.Flush()
	t.Logf("library Flush error: %v", err)
	if err == nil || strings.Contains(err.Error(), "links") {
		t.Errorf("Flush error %v: want one that does not name the set", err)
	}
}

// TestLibraryAddSetUserdata: the library marks every interval set's key
// big-endian; nft (and netctl) mark a concatenation's byte order invalid (0).
func TestLibraryAddSetUserdata(t *testing.T) {
	var sent []netlink.Message
	c, err := nftables.New(nftables.WithTestDial(func(req []netlink.Message) ([]netlink.Message, error) {
		sent = append(sent, req...)
		return nil, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddSet(libLinksSet(), nil); err != nil {
		t.Fatal(err)
	}
	_ = c.Flush()
	var ud []byte
	for _, m := range sent {
		if m.Header.Type == netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWSET) {
			a := nfwire.Attrs{B: m.Data[4:]}
			for typ, d, ok := a.Next(); ok; typ, d, ok = a.Next() {
				if typ == unix.NFTA_SET_USERDATA {
					ud = d
				}
			}
		}
	}
	if len(ud) < 6 || ud[0] != udataSetKeyByteorder {
		t.Fatalf("userdata %x", ud)
	}
	order := binary.NativeEndian.Uint32(ud[2:])
	t.Logf("library's key byteorder for %s: %d (nft: 0)", plan.LinksKeyType, order)
	if order == 0 {
		t.Error("the library now writes nft's byte order for concatenations")
	}
}

// BenchmarkLibraryEncodeLinks is BenchmarkEncodeLinks through the
// library's SetAddElements (split as above): building the messages only.
func BenchmarkLibraryEncodeLinks(b *testing.B) {
	kt, _ := parseKeyType(plan.LinksKeyType)
	es := libElements(b, kt, linkElements(100000))
	dial := nltest.Func(func(req []netlink.Message) ([]netlink.Message, error) { return nil, nil })
	b.ReportAllocs()
	for b.Loop() {
		c, err := nftables.New(nftables.WithTestDial(dial))
		if err != nil {
			b.Fatal(err)
		}
		if err := libAddElements(c, libLinksSet(), es); err != nil {
			b.Fatal(err)
		}
	}
}

// linksDump is a NEWSETELEM payload's attributes as a dump returns them:
// the elements of one message of netctl's batch.
func linksDump(b *testing.B) []byte {
	fw := fixture()
	s := fw.Set(plan.SetLinks)
	kt, _ := parseKeyType(s.Type)
	bt := &nfwire.Batch{}
	if err := addElements(bt, unix.NFT_MSG_NEWSETELEM, s, kt, nil, 0, linkElements(1000)); err != nil {
		b.Fatal(err)
	}
	return bt.Msgs[0].Data[4:]
}

// BenchmarkWalkElements reads keys and comments of ~900 elements (one
// message) with netctl's in-place walker (attrs) and with mdlayher/netlink's
// AttributeDecoder.
func BenchmarkWalkElements(b *testing.B) {
	data := linksDump(b)
	b.Run("attrs", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			if err := forEachElement(data, func(r rawElem) error { n += len(r.key) + len(r.comment); return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AttributeDecoder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			ad, err := netlink.NewAttributeDecoder(data)
			if err != nil {
				b.Fatal(err)
			}
			for ad.Next() {
				if ad.Type() != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
					continue
				}
				ad.Nested(func(list *netlink.AttributeDecoder) error {
					for list.Next() {
						list.Nested(func(e *netlink.AttributeDecoder) error {
							for e.Next() {
								switch e.Type() {
								case unix.NFTA_SET_ELEM_KEY:
									e.Nested(func(k *netlink.AttributeDecoder) error {
										for k.Next() {
											n += len(k.Bytes())
										}
										return nil
									})
								case unix.NFTA_SET_ELEM_USERDATA:
									n += len(udataBytes(e.Bytes(), udataElemComment))
								}
							}
							return nil
						})
					}
					return nil
				})
			}
			if err := ad.Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWriteElements encodes 600 link elements with attrWriter and with
// mdlayher/netlink's AttributeEncoder.
func BenchmarkWriteElements(b *testing.B) {
	kt, _ := parseKeyType(plan.LinksKeyType)
	es := libElements(b, kt, linkElements(600)) // one message: under 64 KiB
	b.Run("attrWriter", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w := &nfwire.Writer{}
			l := w.Begin(unix.NFTA_SET_ELEM_LIST_ELEMENTS)
			for _, e := range es {
				n := w.Begin(unix.NFTA_LIST_ELEM)
				w.Value(unix.NFTA_SET_ELEM_KEY, e.Key)
				w.Value(nftaSetElemEnd, e.KeyEnd)
				w.Binary(unix.NFTA_SET_ELEM_USERDATA, commentUserdata(e.Comment))
				w.End(n)
			}
			w.End(l)
		}
	})
	b.Run("AttributeEncoder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ae := netlink.NewAttributeEncoder()
			ae.Nested(unix.NFTA_SET_ELEM_LIST_ELEMENTS, func(list *netlink.AttributeEncoder) error {
				for _, e := range es {
					list.Nested(unix.NFTA_LIST_ELEM, func(el *netlink.AttributeEncoder) error {
						el.Nested(unix.NFTA_SET_ELEM_KEY, func(k *netlink.AttributeEncoder) error {
							k.Bytes(1, e.Key)
							return nil
						})
						el.Nested(nftaSetElemEnd, func(k *netlink.AttributeEncoder) error {
							k.Bytes(1, e.KeyEnd)
							return nil
						})
						el.Bytes(unix.NFTA_SET_ELEM_USERDATA, commentUserdata(e.Comment))
						return nil
					})
				}
				return nil
			})
			if _, err := ae.Encode(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestLibraryMessagesAgainstOurs compares, message by message, what the
// library's Conn builds for netctl's operations with netctl's own: most are
// byte-identical, which is why the goldens would not move if a batch could
// mix the two; the table (no comment; a delete adds NFTA_TABLE_FLAGS), rules
// (NLM_F_ECHO), a policy change (NLM_F_CREATE) and sets (byte order, concat
// description) differ.
func TestLibraryMessagesAgainstOurs(t *testing.T) {
	table := &nftables.Table{Family: nftables.TableFamilyINet, Name: plan.TableName}
	fwd := fixture().Chain(plan.ChainForward)
	hook, prio, pol := nftables.ChainHookForward, nftables.ChainPriority(0), nftables.ChainPolicyAccept
	drop := nftables.ChainPolicyDrop
	rule := plan.Rule{Comment: "bridge.docker0.icc", Match: []plan.Match{m(plan.KeyIIFName, false, "docker0"), m(plan.KeyOIFName, false, "docker0")}, Verdict: plan.VerdictDrop}
	es, err := encodeRule(rule, func(string) uint32 { return 0 })
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		op   plan.Op
		lib  func(c *nftables.Conn)
		same bool
	}{
		{"delete table", plan.Op{Kind: plan.OpDeleteTable}, func(c *nftables.Conn) { c.DelTable(table) }, false}, // + NFTA_TABLE_FLAGS 0
		{"delete chain", plan.Op{Kind: plan.OpDeleteChain, Chain: plan.Chain{Name: "x"}}, func(c *nftables.Conn) { c.DelChain(&nftables.Chain{Table: table, Name: "x"}) }, true},
		{"flush chain", plan.Op{Kind: plan.OpFlushChain, Chain: plan.Chain{Name: "x"}}, func(c *nftables.Conn) { c.FlushChain(&nftables.Chain{Table: table, Name: "x"}) }, true},
		{"delete set", plan.Op{Kind: plan.OpDeleteSet, Set: plan.Set{Name: "links"}}, func(c *nftables.Conn) { c.DelSet(&nftables.Set{Table: table, Name: "links"}) }, true},
		{"add chain", plan.Op{Kind: plan.OpAddChain, Chain: plan.Chain{Name: "user"}}, func(c *nftables.Conn) { c.AddChain(&nftables.Chain{Table: table, Name: "user"}) }, true},
		{"add base chain", plan.Op{Kind: plan.OpAddChain, Chain: plan.Chain{Name: fwd.Name, Type: fwd.Type, Hook: fwd.Hook, Policy: fwd.Policy}}, func(c *nftables.Conn) {
			c.AddChain(&nftables.Chain{Table: table, Name: fwd.Name, Type: nftables.ChainTypeFilter, Hooknum: hook, Priority: &prio, Policy: &pol})
		}, true},
		{"set policy", plan.Op{Kind: plan.OpSetPolicy, Chain: plan.Chain{Name: fwd.Name, Policy: "drop"}}, func(c *nftables.Conn) {
			c.AddChain(&nftables.Chain{Table: table, Name: fwd.Name, Policy: &drop})
		}, false},
		{"add rule", plan.Op{Kind: plan.OpAddRule, Chain: plan.Chain{Name: fwd.Name}, Rule: rule}, func(c *nftables.Conn) {
			c.AddRule(&nftables.Rule{Table: table, Chain: &nftables.Chain{Name: fwd.Name}, Exprs: es, UserData: commentUserdata(rule.Comment)})
		}, false},
		{"add table", plan.Op{Kind: plan.OpAddTable}, func(c *nftables.Conn) { c.CreateTable(table) }, false},
	} {
		var sent []netlink.Message
		lc, err := nftables.New(nftables.WithTestDial(func(req []netlink.Message) ([]netlink.Message, error) {
			sent = append(sent, req...)
			return nil, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		c.lib(lc)
		_ = lc.Flush()
		h := &Handle{}
		b, err := h.encodeOps([]plan.Op{c.op})
		if err != nil {
			t.Fatal(err)
		}
		if len(sent) != 3 || len(b.Msgs) != 1 {
			t.Fatalf("%s: %d library messages, %d ours", c.name, len(sent), len(b.Msgs))
		}
		lib, ours := sent[1], b.Msgs[0]
		same := lib.Header.Type == ours.Header.Type && lib.Header.Flags == ours.Header.Flags && string(lib.Data) == string(ours.Data)
		t.Logf("%-15s identical %-5v flags library 0x%04x netctl 0x%04x, data equal %v", c.name, same, uint16(lib.Header.Flags), uint16(ours.Header.Flags), string(lib.Data) == string(ours.Data))
		if same != c.same {
			t.Errorf("%s: identical = %v, want %v", c.name, same, c.same)
		}
	}
}
