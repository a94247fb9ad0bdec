package apply

import (
	"errors"
	"fmt"
	"strings"

	"github.com/netctl/netctl/plan"
)

// dropPolicyReader is what a Kernel may also tell: base chains of other
// tables whose drop policy defeats netctl's accepts.
type dropPolicyReader interface {
	ForwardDropPolicies() ([]string, error)
}

// Plan reads the live state for desired, settles what netctl may touch (an
// error when the file names what is not netctl's: plan.Conflicts for the
// table, plan.Resolve for bridges), diffs it, and adds the warnings: facts
// that may defeat the plan. It takes no lock: a plan only reads.
func Plan(k Kernel, desired plan.State, opts Options) (*plan.Plan, error) {
	k = remembering(k, opts)
	live, err := k.Read(desired.Scope())
	if err != nil {
		return nil, err
	}
	// Everything the file names that is not netctl's, at once.
	resolved, err := plan.Resolve(desired, live)
	if err := errors.Join(plan.Conflicts(desired, live), err); err != nil {
		return nil, err
	}
	desired = resolved
	var notKept []string
	if !memoryKept(k) && len(desired.ForwardMemory) > 0 {
		// Only the table's rule remembers: say what a flush then does.
		notKept = append(notKept, fmt.Sprintf("netctl cannot keep its memory that it switched %s on outside its table (the kernel does not tell the namespace's cookie, SO_NETNS_COOKIE, before Linux 5.14): after a flush of the ruleset, the next apply finds forwarding already on and leaves forwarding between other interfaces open.",
			strings.Join(desired.ForwardMemory, ", ")))
		desired.ForwardMemory = nil
	}
	p := plan.Diff(desired, live)
	p.Warnings = append(append(append(warnings(unwrap(k), opts), plan.ForwardWarnings(desired, live)...), notKept...), plan.IPv4OnlyNotes(desired, live)...)
	return p, nil
}

// unwrap is the Kernel remembering wrapped, for what else it may tell.
func unwrap(k Kernel) Kernel {
	if r, ok := k.(*rememberingKernel); ok {
		return r.Kernel
	}
	return k
}

func warnings(k Kernel, opts Options) []string {
	var ws []string
	if j := journalPending(opts, cookieOf(k)); j != "" {
		ws = append(ws, j)
	}
	d, ok := k.(dropPolicyReader)
	if !ok {
		return ws
	}
	drops, err := d.ForwardDropPolicies()
	if err != nil {
		ws = append(ws, "could not read other tables' forward chains: "+err.Error())
	}
	for _, drop := range drops {
		ws = append(ws, drop+": it drops forwarded packets that netctl accepts (every base chain on the hook must accept).")
	}
	return ws
}

// staleError names what changed in the live state since a saved plan.
func staleError(then, now plan.State) error {
	var what []string
	for _, c := range plan.Diff(then, now).Changes {
		if len(what) == 5 {
			what = append(what, "and more")
			break
		}
		what = append(what, c.Address)
	}
	if len(what) == 0 {
		what = []string{"objects netctl owns"}
	}
	return fmt.Errorf("saved plan is stale: the live state changed since the plan was made (%s); run netctl plan again",
		strings.Join(what, ", "))
}
