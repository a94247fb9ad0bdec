package explain

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/netctl/netctl/plan"
)

// Published ports: a new connection to one of the host's own addresses
// (the fib daddr type local of netctl's DNAT rules) whose protocol and
// port a publication holds is translated, in prerouting, to the
// container's address and port before the forward hook sees it. explain
// looks the flow up as the DNAT rules do — the interval map (client, host
// address) first, then the hash map — in the live maps of the flow's
// family, and walks the translated flow, conntrack's dnat status set.

// publication is a translation found for a flow.
type publication struct {
	set, key, comment string
	addr              netip.Addr
	port              uint16
}

// findPublication looks the flow up in the live maps of its family.
func (w *walker) findPublication() (publication, bool) {
	fw := w.in.Live.Firewall
	if fw == nil {
		return publication{}, false
	}
	sets := [2]string{plan.SetPublish, plan.SetPublishAny}
	if w.f.Is6() {
		sets = [2]string{plan.SetPublish6, plan.SetPublishAny6}
	}
	for i, name := range sets {
		set := fw.Set(name)
		if set == nil {
			continue
		}
		fields := []func(string) bool{
			func(s string) bool { return s == w.f.Proto },
			func(s string) bool { return portField(s, w.f.Port) },
		}
		if i == 0 {
			fields = append([]func(string) bool{
				func(s string) bool { return addrField(s, w.f.From.Addr) },
				func(s string) bool { return addrField(s, w.f.To.Addr) },
			}, fields...)
		}
		for _, e := range set.Elements {
			if !keyMatches(e.Key, fields) {
				continue
			}
			addr, port, ok := strings.Cut(e.Value, " . ")
			a, err := netip.ParseAddr(addr)
			p, err2 := strconv.ParseUint(port, 10, 16)
			if !ok || err != nil || err2 != nil {
				continue
			}
			return publication{set: name, key: e.Key, comment: e.Comment, addr: a, port: uint16(p)}, true
		}
	}
	return publication{}, false
}

// translate applies a publication to the flow: its destination becomes
// the container (named by the file when it is one of its containers).
func (w *walker) translate(p publication) {
	to := Endpoint{Name: p.addr.String(), Kind: KindAddress, Addr: p.addr}
	if w.in.Config != nil {
		if e, err := resolveAddr(w.in.Config, p.addr.String(), p.addr); err == nil {
			if e.Container != "" {
				e.Name = e.Container
			}
			to = e
		}
	}
	w.step(Step{
		Text:   "published: " + w.f.To.Addr.String() + " port " + strconv.Itoa(int(w.f.Port)) + "/" + w.f.Proto + " is translated to " + to.Name + " port " + strconv.Itoa(int(p.port)),
		Item:   p.comment,
		Object: "table " + plan.TableFamily + " " + plan.TableName + " map " + p.set + " element " + p.key,
	})
	w.f.To, w.f.Port, w.f.dnat = to, p.port, true
}
