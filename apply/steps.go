package apply

import (
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/go-multierror"

	"github.com/netctl/netctl/plan"
)

// step is one write of an apply: one sysctl, one bridge, or the whole
// firewall (one atomic nftables batch).
type step struct {
	name string
	kind string // plan.TypeSysctl, plan.TypeBridge or plan.TypeTable
	obj  string // the sysctl's or the bridge's name
	do   func(Kernel) error
}

// stepsFor returns the steps that take live to target, in an order that never
// opens a window: forwarding is switched off first and on last, the
// br_netfilter switches precede the firewall, and the firewall is in place
// before any bridge is created or brought up.
func stepsFor(target, live plan.State) []step {
	var off, brnf, fw, bridges, on []step
	for _, name := range slices.Sorted(maps.Keys(target.Sysctls)) {
		want, have := target.Sysctls[name], live.Sysctls[name]
		if want == have {
			continue
		}
		s := step{name: fmt.Sprintf("sysctl %s=%s", name, want), kind: plan.TypeSysctl, obj: name,
			do: func(k Kernel) error { return k.SetSysctl(name, want) }}
		switch {
		case want == "0":
			off = append(off, s)
		case name == plan.SysctlBridgeNFIptables || name == plan.SysctlBridgeNFIp6tables:
			brnf = append(brnf, s)
		default:
			on = append(on, s)
		}
	}
	if !plan.FirewallsEqual(target.Firewall, live.Firewall) {
		from, to := live.Firewall, restorable(target.Firewall)
		fw = append(fw, step{name: "firewall", kind: plan.TypeTable,
			do: func(k Kernel) error { return k.SyncFirewall(from, to) }})
	}
	// The forward memory goes with the rule that is the first memory: right
	// after the firewall, before forwarding is switched on.
	if !slices.Equal(target.ForwardMemory, live.ForwardMemory) {
		to := target.ForwardMemory
		fw = append(fw, step{name: "forward memory", kind: kindMemory,
			do: func(k Kernel) error { return setMemory(k, to) }})
	}
	names := plan.Names(target.Bridges, live.Bridges)
	var deletes []step
	for _, name := range names {
		want, inTarget := target.Bridges[name]
		have, exists := live.Bridges[name]
		if inTarget && exists && plan.BridgeEqual(want, have) {
			continue
		}
		from, to := ptrIf(have, exists), ptrIf(want, inTarget)
		verb := "update"
		switch {
		case !exists:
			verb = "create"
		case !inTarget:
			verb = "delete"
		}
		s := step{name: fmt.Sprintf("%s bridge %s", verb, name), kind: plan.TypeBridge, obj: name,
			do: func(k Kernel) error { return k.SyncBridge(from, to) }}
		if verb == "delete" {
			deletes = append(deletes, s)
		} else {
			bridges = append(bridges, s)
		}
	}
	return slices.Concat(off, brnf, fw, deletes, bridges, on)
}

// kindMemory is the kind of the step that writes the forward memory.
const kindMemory = "forward_memory"

// setMemory writes the forward memory when k keeps it (remembering).
func setMemory(k Kernel, switched []string) error {
	if w, ok := k.(memoryWriter); ok {
		return w.SetForwardMemory(switched)
	}
	return nil
}

// restore brings a step's object from its current value back to before.
func (s step) restore(k Kernel, current, before plan.State) error {
	switch s.kind {
	case kindMemory:
		return setMemory(k, before.ForwardMemory)
	case plan.TypeSysctl:
		if v, ok := before.Sysctls[s.obj]; ok {
			return k.SetSysctl(s.obj, v)
		}
		return nil
	case plan.TypeBridge:
		have, exists := current.Bridges[s.obj]
		want, existed := before.Bridges[s.obj]
		return k.SyncBridge(ptrIf(have, exists), ptrIf(want, existed))
	default:
		return k.SyncFirewall(current.Firewall, restorable(before.Firewall))
	}
}

// undo brings back, newest first, the object of every step that ran, then
// re-reads: it succeeds only when the re-read proves the state before.
func undo(k Kernel, ran []step, before plan.State, scope plan.Scope) error {
	current, err := k.Read(scope)
	if err != nil {
		return fmt.Errorf("undo: reading the live state: %w", err)
	}
	var errs *multierror.Error
	for i := len(ran) - 1; i >= 0; i-- {
		if err := ran[i].restore(k, current, before); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("undo %q: %w", ran[i].name, err))
		}
	}
	if err := proveRestored(k, before, scope); err != nil {
		errs = multierror.Append(errs, err)
	}
	return errs.ErrorOrNil()
}

// restorable drops the rules netctl cannot write back: rules whose
// expressions the kernel package could not decode. They were drift, not
// netctl's; a rollback cannot recreate them.
func restorable(f *plan.Firewall) *plan.Firewall {
	if f == nil {
		return nil
	}
	out := *f
	out.Chains = slices.Clone(f.Chains)
	for i := range out.Chains {
		out.Chains[i].Rules = slices.DeleteFunc(slices.Clone(out.Chains[i].Rules),
			func(r plan.Rule) bool { return r.Unknown != "" })
	}
	return &out
}

func ptrIf[T any](v T, ok bool) *T {
	if !ok {
		return nil
	}
	return &v
}
