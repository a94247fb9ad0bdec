// Package hosts writes the /etc/hosts lines that Docker's --link gives the
// linking container: for each link from it, the linked container's address
// followed by the link's alias and the linked container's name. Docker
// writes them into the container's /etc/hosts; netctl only prints them, for
// a runtime or a person to install. Pure: it reads the file, not the kernel
// (the addresses are the file's).
package hosts

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/netctl/netctl/internal/plural"
	"github.com/netctl/netctl/schema"
)

// Entry is one link's hosts line: an address and the names it answers
// to, the link's alias first (as Docker writes them), then the container's
// name; and a second line with Address6 when both ends of the link have
// one.
type Entry struct {
	Address  netip.Addr
	Address6 netip.Addr // invalid: no IPv6 line
	Names    []string
}

// Links are the entries of one container.
type Links struct {
	// Bridge and Container name the linking container.
	Bridge, Container string
	Entries           []Entry
}

// For returns the entries of the container named by spec: "web", or
// "docker0/web" when the name is used on more than one bridge (as explain
// names containers). One entry per link from it, in the file's order; a
// link without an alias is known by the linked container's name alone, as
// Docker's --link db is --link db:db.
func For(cfg *schema.Config, spec string) (Links, error) {
	br, name, scoped := strings.Cut(spec, "/")
	if !scoped {
		name, br = spec, ""
	}
	var found []Links
	for _, b := range cfg.Bridges {
		if scoped && b.Name != br {
			continue
		}
		if _, ok := b.Container(name); !ok {
			continue
		}
		l := Links{Bridge: b.Name, Container: name, Entries: []Entry{}}
		for _, link := range b.Links {
			if link.From != name {
				continue
			}
			from, _ := b.Container(name)
			to, _ := b.Container(link.To) // validated: the target exists
			names := []string{link.To}
			if link.Alias != "" && link.Alias != link.To {
				names = []string{link.Alias, link.To}
			}
			e := Entry{Address: to.Address, Names: names}
			if from.Address6.IsValid() && to.Address6.IsValid() {
				// The link opens the same ports over IPv6 (links6), as
				// Docker writes a linked container's IPv6 address too.
				e.Address6 = to.Address6
			}
			l.Entries = append(l.Entries, e) // validate refuses a second link web → db
		}
		found = append(found, l)
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Links{}, fmt.Errorf("%q is not a container of %s", spec, cfg.File)
	}
	var on []string
	for _, l := range found {
		on = append(on, l.Bridge+"/"+name)
	}
	return Links{}, fmt.Errorf("%q is a container on %s: write %s", spec, plural.S(len(found), "bridge"), strings.Join(on, " or "))
}

// Write writes the entries as /etc/hosts lines, address and names separated
// by a tab as Docker writes them, after a comment saying where they come
// from.
func (l Links) Write(w io.Writer, file string) error {
	bw := bufio.NewWriter(w)
	if strings.ContainsAny(file, "\n\r") {
		file = strconv.Quote(file) // one comment line, whatever the path
	}
	fmt.Fprintf(bw, "# netctl hosts: the links of %s (bridge %s) in %s: %s\n",
		l.Container, l.Bridge, file, plural.S(len(l.Entries), "link"))
	for _, e := range l.Entries {
		fmt.Fprintf(bw, "%s\t%s\n", e.Address, strings.Join(e.Names, " "))
		if e.Address6.IsValid() {
			fmt.Fprintf(bw, "%s\t%s\n", e.Address6, strings.Join(e.Names, " "))
		}
	}
	return bw.Flush()
}
