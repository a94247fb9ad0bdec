package show

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// Published ports and gateway modes, read back from the live table.

// publishFacts is one publication of a container, from its elements.
type publishFacts struct {
	pub     schema.Publish
	sources []netip.Prefix
}

// publishChain accepts the chains of published ports when their rules are
// the ones a file writes.
func (w *writer) publishChain(c plan.Chain) {
	for _, r := range c.Rules {
		if r.Unknown == "" && (r.Comment == plan.CommentLoopbackGuard || publishRuleComment(r.Comment)) {
			continue
		}
		w.note("rule in chain %s not from a netctl file: %s", c.Name, describeRule(r))
	}
}

// publishRuleComment reports whether a comment is a DNAT rule's of
// either family: firewall.publish.tcp, firewall.publish_any6.udp.host.
func publishRuleComment(c string) bool {
	for _, m := range []string{plan.SetPublish, plan.SetPublishAny, plan.SetPublish6, plan.SetPublishAny6} {
		if strings.HasPrefix(c, "firewall."+m+".") {
			return true
		}
	}
	return false
}

// publishElement reads "SOURCE . HOST . PROTO . PORT : ADDR . PORT"
// commented bridge.B.container.C.publish.SPEC, an element of publish or
// publish_any (family 4: the container's address) or of their IPv6 twins
// (family 6: its address6).
func (w *writer) publishElement(e plan.Element, family int) bool {
	name, rest, ok := w.bridgeOf(e.Comment)
	if !ok {
		return false
	}
	rest, ok = strings.CutPrefix(rest, "container.")
	i := strings.LastIndex(rest, ".publish.")
	if !ok || i < 0 {
		return false
	}
	cname, spec := rest[:i], rest[i+len(".publish."):]
	pub, err := schema.ParsePublish(spec)
	key, val := strings.Split(e.Key, " . "), strings.Split(e.Value, " . ")
	anyAddr := map[int]string{4: "0.0.0.0/0", 6: "::/0"}[family]
	if len(key) == 2 { // publish_any: every client, every host address
		key = append([]string{anyAddr, anyAddr}, key...)
	}
	if err != nil || !validName(cname) || len(key) != 4 || len(val) != 2 || pub.String() != spec {
		return false
	}
	src, err := netip.ParsePrefix(key[0])
	if err != nil {
		a, err2 := netip.ParseAddr(key[0])
		if err2 != nil {
			return false
		}
		src = netip.PrefixFrom(a, a.BitLen())
	}
	addr, err := netip.ParseAddr(val[0])
	if err != nil || addr.Is4() != (family == 4) || addr.Is4In6() || src.Addr().Is4() != (family == 4) {
		return false
	}
	fa := w.facts[name]
	containers, byAddr := &fa.containers, &fa.byAddr
	if family == 6 {
		if fa.ipv6.containers == nil {
			fa.ipv6.containers, fa.ipv6.byAddr = map[string]netip.Addr{}, map[netip.Addr]string{}
		}
		containers, byAddr = &fa.ipv6.containers, &fa.ipv6.byAddr
	}
	if have, ok := (*containers)[cname]; ok && have != addr {
		w.note("publication %s: container %q has two addresses, %s and %s: element %s left out", e.Comment, cname, have, addr, e.Key)
		return true
	}
	(*containers)[cname], (*byAddr)[addr] = addr, cname
	if fa.publish == nil {
		fa.publish = map[string][]*publishFacts{}
	}
	list := fa.publish[cname]
	k := slices.IndexFunc(list, func(p *publishFacts) bool { return p.pub.String() == spec })
	if k < 0 {
		list = append(list, &publishFacts{pub: pub})
		k = len(list) - 1
		fa.publish[cname] = list
	}
	if src.Bits() > 0 && !slices.Contains(list[k].sources, src) {
		list[k].sources = append(list[k].sources, src)
	}
	return true
}

// routedElement accepts an element of routed_ports that a publication
// wrote (the publication itself is read from publish).
func (w *writer) routedElement(e plan.Element) bool {
	name, rest, ok := w.bridgeOf(e.Comment)
	return ok && strings.HasPrefix(rest, "container.") && strings.Contains(rest, ".publish.") && w.facts[name] != nil
}

// gatewayMode is what the bridge's forward rules say of its mode.
func (fa *facts) gatewayMode() string {
	switch {
	case fa.routed:
		return schema.GatewayRouted
	case fa.gatewayDrop:
		return schema.GatewayNAT
	}
	return schema.GatewayNATUnprotected
}

// publications are a container's publications as the file writes them.
func (fa *facts) publications(container string) schema.Flow[schema.FilePublish] {
	list := slices.Clone(fa.publish[container])
	slices.SortFunc(list, func(a, b *publishFacts) int {
		if a.pub.Proto != b.pub.Proto {
			return strings.Compare(a.pub.Proto, b.pub.Proto)
		}
		return int(a.pub.Host[0]) - int(b.pub.Host[0])
	})
	var out schema.Flow[schema.FilePublish]
	for _, p := range list {
		fp := schema.FilePublish{Port: schema.PublishSpec(p.pub.String())}
		slices.SortFunc(p.sources, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		for _, s := range p.sources {
			fp.AllowedSources = append(fp.AllowedSources, schema.Source(plan.CanonicalPrefix(s)))
		}
		out = append(out, fp)
	}
	return out
}
