package kernel

import "github.com/netctl/netctl/plan"

// The DNAT statements of published ports over IPv6, as nft 1.0.6 writes
// them in an inet table (nft --debug=netlink): the IPv4 ones' shape with
// 16-byte addresses, so that every field starts at the register after the
// previous one's last, and the NAT expression of family ipv6:
//
//	dnat ip6 to ip6 saddr . ip6 daddr . meta l4proto . th dport map @publish6
//	                          (meta nfproto ipv6, unless an ip6 match came before)
//	                          payload 16b @ network + 8 => reg 1; payload 16b @ network + 24 => reg 2;
//	                          meta load l4proto => reg 3; byteorder reg 3 = hton(reg 3, 2, 1);
//	                          payload 2b @ transport + 2 => reg 17; lookup reg 1 set publish6 dreg 1;
//	                          nat dnat ip6 addr_min reg 1 proto_min reg 2
//	dnat ip6 to meta l4proto . th dport map @publish_any6
//	                          (no meta nfproto, as for IPv4: the kernel's
//	                          ip6 NAT does nothing to an IPv4 packet)
//	                          meta load l4proto => reg 1; payload 2b @ transport + 2 => reg 9;
//	                          lookup reg 1 set publish_any6 dreg 1;
//	                          nat dnat ip6 addr_min reg 1 proto_min reg 2
//
// The maps' data (ipv6_addr . inet_service) are 20 bytes: the address in
// reg 1, the port in reg 2. routed_ports6 is a set of plan.Links6KeyType
// looked up with the links6 match (rule6.go).
var dnatStmts6 = []dnatStmt{
	{plan.VerdictDNATPublish6, plan.SetPublish6, family6, true},
	{plan.VerdictDNATPublishAny6, plan.SetPublishAny6, family6, false},
}
