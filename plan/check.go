package plan

import (
	"errors"
	"fmt"
	"strings"
)

// maxAlias is the longest interface alias the kernel keeps (IFALIASZ - 1).
const maxAlias = 255

// IsAdopted reports whether an alias is the mark of a bridge netctl adopted.
func IsAdopted(alias string) bool {
	return alias == Adopted || strings.HasPrefix(alias, Adopted+":")
}

// IsOwned reports whether an alias marks an interface as netctl's, created
// or adopted.
func IsOwned(alias string) bool { return alias == Owner || IsAdopted(alias) }

// priorAlias is the alias an adopted bridge had before netctl adopted it.
func priorAlias(mark string) string {
	return strings.TrimPrefix(strings.TrimPrefix(mark, Adopted), ":")
}

// Resolve settles, for each bridge, what netctl may do with it, and returns
// desired as it applies to live, or an error naming every bridge of the
// file netctl must not touch:
//
//   - a name in the file held by an interface that is not a bridge is an
//     error: netctl never replaces (deletes) a veth, VLAN or WireGuard link;
//   - a bridge in the file that netctl neither created nor adopted is an
//     error unless the file says adopt: true; then it is adopted: it carries
//     the Adopted mark from now on;
//   - a bridge netctl created keeps its mark; one it adopted keeps its
//     mark, which says it is to be released, not deleted;
//   - an adopted bridge that is not in desired is released: desired holds
//     it without netctl's mark (its alias from before the adoption) and
//     without addresses; the link, its MTU, up flag and ports stay;
//   - a bridge netctl created that is not in desired is deleted (left out);
//   - anything else live holds is left as it is.
//
// Resolve is pure, and Resolve of its own result against the same live
// state returns it unchanged: a saved plan's desired state resolves again.
func Resolve(desired, live State) (State, error) {
	out := desired
	out.Bridges = make(map[string]Bridge, len(desired.Bridges))
	var problems []string
	for _, name := range Names(desired.Bridges, live.Bridges) {
		want, inFile := desired.Bridges[name]
		have, exists := live.Bridges[name]
		switch {
		case !exists:
			out.Bridges[name] = want
		case have.Kind != "bridge":
			if inFile && want.Kind == "bridge" {
				problems = append(problems, fmt.Sprintf("bridge.%s: %s exists and is a %s, not a bridge; netctl will not replace it", name, name, kindName(have.Kind)))
			} else {
				// Not netctl's to delete either, whatever its alias
				// says: kept as it is.
				out.Bridges[name] = have
			}
		case !inFile:
			switch {
			case have.Owner == Owner: // created by netctl: deleted
			case IsAdopted(have.Owner):
				out.Bridges[name] = released(have)
			default:
				out.Bridges[name] = have
			}
		case want.Owner != Owner && !IsAdopted(want.Owner):
			out.Bridges[name] = want // a release or a keep Resolve made
		case have.Owner == Owner:
			want.Owner = Owner
			out.Bridges[name] = want
		case IsAdopted(have.Owner):
			want.Owner = have.Owner
			out.Bridges[name] = want
		case !want.Adopt:
			problems = append(problems, fmt.Sprintf("bridge.%s: %s exists and netctl did not create it%s; netctl will not take it over unless the file says adopt: true for it", name, name, aliasNote(have.Owner)))
		default:
			mark := Adopted
			if have.Owner != "" {
				mark += ":" + have.Owner
			}
			if len(mark) > maxAlias {
				problems = append(problems, fmt.Sprintf("bridge.%s: its alias %q is too long to keep in netctl's mark (%d bytes at most): shorten or clear it to adopt the bridge", name, have.Owner, maxAlias-len(Adopted)-1))
				break
			}
			want.Owner = mark
			out.Bridges[name] = want
		}
	}
	if len(problems) > 0 {
		return desired, errors.New(strings.Join(problems, "\n"))
	}
	// Forwarding between other interfaces: decided from the live sysctl and
	// the memory in netctl's table (forward.go).
	out, _ = ResolveForward(out, live)
	return out, nil
}

// released is an adopted bridge given back: netctl's mark replaced by the
// alias it had, netctl's addresses gone, the rest as it is.
func released(b Bridge) Bridge {
	b.Owner = priorAlias(b.Owner)
	b.Addresses = nil
	b.Adopt = false
	return b
}

func kindName(kind string) string {
	if kind == "" {
		return "link of unknown kind"
	}
	return kind
}

func aliasNote(alias string) string {
	if alias == "" {
		return ""
	}
	return fmt.Sprintf(" (its alias is %q)", alias)
}
