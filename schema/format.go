package schema

import (
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The netctl file format as it is written, described once: the loader
// takes each mapping's field names, in this order, from these types' yaml
// tags (see fields); JSONSchema describes them for editors; netctl show
// writes a File. The loader is the authority on what is valid (it checks
// what a JSON Schema cannot: subnets, overlaps, link targets) and compiles
// a file to a Config; TestDefaults holds the default tags to it.
//
// Struct tags read by JSONSchema: yaml (the field's name), doc (its
// description), default (a JSON value), min and max (integer bounds),
// required ("true").

// File is a whole netctl.yaml.
type File struct {
	IPForward     *bool                   `yaml:"ip_forward,omitempty" doc:"net.ipv4.ip_forward: true sets it to 1, false to 0. Omitted, netctl leaves the sysctl alone."`
	IP6Forward    *bool                   `yaml:"ip6_forward,omitempty" doc:"net.ipv6.conf.all.forwarding: true sets it to 1, false to 0. Omitted, netctl leaves the sysctl alone."`
	ForwardOthers ForwardOthers           `yaml:"forward_others,omitempty" doc:"Forwarded traffic between interfaces that are not netctl's bridges: drop or accept (Docker's --ip-forward-no-drop). Omitted: dropped, per family, when netctl is the one that switches ip_forward (or ip6_forward) from 0 to 1, as dockerd does; left alone when forwarding was already on."`
	Firewall      *bool                   `yaml:"firewall,omitempty" default:"true" doc:"Docker's --iptables. false: netctl writes no firewall at all (then icc: false, masquerade, allowed_sources and links are refused)."`
	Bridges       Map[IfName, FileBridge] `yaml:"bridges,omitempty" doc:"The bridges netctl manages, by Linux interface name: Docker's default bridge (docker0) and user-defined networks."`
}

// FileBridge is one bridge network.
type FileBridge struct {
	Address           Gateway                           `yaml:"address" required:"true" doc:"The bridge's gateway address with the subnet's prefix length (Docker's --bip), e.g. 172.17.0.1/16. The containers live in that subnet."`
	Address6          Gateway6                          `yaml:"address6,omitempty" doc:"The bridge's IPv6 gateway address with the subnet's prefix length, e.g. fd00:17::1/64. Present, the bridge is dual-stack: every promise holds for IPv6 too. Omitted, netctl's firewall drops all IPv6 forwarded to, from or across the bridge, link-local included."`
	MTU               int                               `yaml:"mtu,omitempty" default:"1500" min:"68" max:"65535" doc:"The bridge's MTU."`
	ICC               *bool                             `yaml:"icc,omitempty" default:"true" doc:"Docker's --icc: whether containers on this bridge may talk to each other freely. false: only links are allowed (needs the firewall)."`
	Masquerade        *bool                             `yaml:"masquerade,omitempty" default:"true" doc:"Docker's --ip-masq: masquerade traffic from the subnet that leaves through another interface. Default true with the firewall, false without."`
	Masquerade6       *bool                             `yaml:"masquerade6,omitempty" default:"false" doc:"NAT66: masquerade IPv6 traffic from the bridge's IPv6 subnet that leaves through another interface (Docker's ip6tables default is true; netctl's is false). Needs address6 and the firewall."`
	ExternalInterface IfName                            `yaml:"external_interface,omitempty" doc:"Where outside traffic enters (e.g. eth0). Omitted: any interface other than the bridge."`
	AllowedSources    Flow[Source]                      `yaml:"allowed_sources,omitempty" doc:"When present, only these IPv4 or IPv6 addresses or CIDRs (IPv6 ones on a dual-stack bridge) may reach the containers from outside (Docker's DROP rule negated on a source)."`
	Containers        Map[ContainerName, FileContainer] `yaml:"containers,omitempty" doc:"The containers attached to this bridge, by name."`
	Links             []FileLink                        `yaml:"links,omitempty" doc:"Docker's --link: 'from' may open connections to 'to' on the listed ports."`
	GatewayMode       GatewayMode                       `yaml:"gateway_mode,omitempty" default:"\"nat\"" doc:"Docker 28's gateway modes. nat: masquerade (default); from outside only published ports reach the containers, packets routed straight to a container's address are dropped. routed: no masquerade (masquerade: true is an error); the containers' addresses are reachable from outside, only on their published ports. nat-unprotected: everything routed to a container is forwarded (subject to allowed_sources), as netctl did before gateway modes."`
	Adopt             bool                              `yaml:"adopt,omitempty" default:"false" doc:"true: a bridge of this name that netctl did not create is adopted (marked netctl:adopted) and managed; when it leaves the file, or on destroy, it is released (mark and addresses removed, link kept), never deleted. false: such a bridge is a plan error. A bridge that does not exist is created either way."`
}

// FileContainer is a container attached to a bridge.
type FileContainer struct {
	Address  HostAddress       `yaml:"address" required:"true" doc:"The container's IPv4 address in its bridge's subnet, without prefix length, e.g. 172.17.0.2."`
	Address6 HostAddress6      `yaml:"address6,omitempty" doc:"The container's IPv6 address in its bridge's IPv6 subnet (the bridge needs address6), without prefix length, e.g. fd00:17::3."`
	Expose   Flow[FilePort]    `yaml:"expose,omitempty" doc:"What the container's Dockerfile EXPOSEs: PORT, PORT/PROTO or START-END/PROTO; protocol tcp (default), udp or sctp."`
	Publish  Flow[FilePublish] `yaml:"publish,omitempty" doc:"Docker's -p: [HOST_ADDRESS:]HOST_PORT:CONTAINER_PORT[/PROTO] (same-size ranges allowed; an IPv6 host address in brackets, [2001:db8::1]:8080:80), or a mapping with port and allowed_sources. No address: every host address, IPv6 ones too when the container has address6; 0.0.0.0: IPv4 only; [::]: IPv6 only. Connections to the host's address and port reach the container's port, with the client's own source address."`
}

// MarshalYAML writes a container on one line: {address: 172.17.0.2, expose: [80/tcp]}.
func (c FileContainer) MarshalYAML() (any, error) {
	type plain FileContainer
	var n yaml.Node
	if err := n.Encode(plain(c)); err != nil {
		return nil, err
	}
	n.Style = yaml.FlowStyle
	return &n, nil
}

// FileLink is Docker's --link between two containers of one bridge.
type FileLink struct {
	From  ContainerName  `yaml:"from" required:"true" doc:"The container that opens connections."`
	To    ContainerName  `yaml:"to" required:"true" doc:"The container it may connect to."`
	Alias ContainerName  `yaml:"alias,omitempty" doc:"The name From knows To by, as in Docker's --link db:database; no firewall effect: netctl hosts prints it."`
	Ports Flow[FilePort] `yaml:"ports,omitempty" doc:"A subset of To's exposed ports. Omitted: all of them."`
}

// Map is a YAML mapping that keeps its order: bridges are compiled in file
// order, which is the order of their firewall rules.
type Map[K ~string, V any] []Entry[K, V]

// Entry is one key of a Map. Comment, when set, is written above the key.
type Entry[K ~string, V any] struct {
	Name    K
	Comment string
	Value   V
}

// MarshalYAML writes the entries as a mapping in order.
func (m Map[K, V]) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, e := range m {
		var v yaml.Node
		if err := v.Encode(e.Value); err != nil {
			return nil, err
		}
		key := scalar(string(e.Name))
		key.HeadComment = e.Comment
		n.Content = append(n.Content, key, &v)
	}
	return n, nil
}

// mapTypes tells JSONSchema what a Map holds.
func (Map[K, V]) mapTypes() (key, value reflect.Type) {
	return reflect.TypeFor[K](), reflect.TypeFor[V]()
}

// Flow is a list written on one line: [80/tcp, 53/udp].
type Flow[T any] []T

// MarshalYAML writes the list in flow style.
func (f Flow[T]) MarshalYAML() (any, error) {
	var n yaml.Node
	if err := n.Encode([]T(f)); err != nil {
		return nil, err
	}
	n.Style = yaml.FlowStyle
	return &n, nil
}

// Leaf types: strings with a syntax. Each describes itself to JSONSchema.

// IfName is a Linux interface name.
type IfName string

// MarshalYAML writes the name so that it loads back as itself.
func (n IfName) MarshalYAML() (any, error) { return scalar(string(n)), nil }

// scalar is s as a YAML string that loads back as s, whatever the YAML
// library's resolver thinks: plain when s is a word of letters, digits and
// "_.-" starting with a letter or digit (the encoder itself quotes those
// that read as null, booleans or numbers), double-quoted otherwise ("<<"
// unquoted is a merge key, "~" null, "?a" a complex key, "&a" an anchor).
func scalar(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if !plainWord(s) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

func plainWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return s != ""
}

// ContainerName is a Docker container name.
type ContainerName string

// Gateway is an IPv4 address with prefix length.
type Gateway string

// HostAddress is an IPv4 address.
type HostAddress string

// Gateway6 is an IPv6 address with prefix length.
type Gateway6 string

// HostAddress6 is an IPv6 address.
type HostAddress6 string

// Source is an IPv4 or IPv6 address or CIDR.
type Source string

// FilePort is PORT, PORT/PROTO or START-END/PROTO; a YAML integer is a tcp port.
type FilePort string

// fields are the yaml names of T's fields, in order: the keys the loader
// accepts in the mapping T describes.
func fields[T any]() []string {
	t := reflect.TypeFor[T]()
	var out []string
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// FilePublish is one published port: written as its -p string, or as a
// mapping when it has allowed_sources.
type FilePublish struct {
	Port           PublishSpec  `yaml:"port" required:"true" doc:"The publication in Docker's -p syntax, e.g. 8443:443."`
	AllowedSources Flow[Source] `yaml:"allowed_sources,omitempty" doc:"When present, only these IPv4 or IPv6 addresses or CIDRs reach this published port (the host's and the containers' own connections included), checked on the address and port the client connected to. Each family admits clients of its own: a list of IPv4 entries only admits no IPv6 client."`
}

// MarshalYAML writes a publication without sources as its -p string.
func (p FilePublish) MarshalYAML() (any, error) {
	if len(p.AllowedSources) == 0 {
		return p.Port.MarshalYAML()
	}
	type plain FilePublish
	var n yaml.Node
	if err := n.Encode(plain(p)); err != nil {
		return nil, err
	}
	n.Style = yaml.FlowStyle
	return &n, nil
}

// PublishSpec is Docker's -p: [HOST_ADDRESS:]HOST_PORT:CONTAINER_PORT[/PROTO].
type PublishSpec string

// MarshalYAML quotes the spec: 8080:80 unquoted is a base-60 integer to
// YAML 1.1 readers.
func (s PublishSpec) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: string(s), Style: yaml.DoubleQuotedStyle}, nil
}

// GatewayMode is nat, routed or nat-unprotected.
type GatewayMode string
