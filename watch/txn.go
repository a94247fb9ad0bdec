package watch

import (
	"github.com/netctl/netctl/apply"
	"github.com/netctl/netctl/plan"
)

// SysctlReader is what a kernel handle offers beyond apply.Kernel: a read of
// the sysctls only, for the poll.
type SysctlReader interface {
	ReadSysctls(names []string) (map[string]string, error)
}

// Kernel is a namespace handle watch plans and repairs through.
type Kernel interface {
	apply.Kernel
	SysctlReader
}

// Txn is the Planner of a real namespace: plans are apply.Plan, repairs
// apply's transaction — the same lock, journal, verification and rollback
// as `netctl apply`.
type Txn struct {
	K    Kernel
	Opts apply.Options
}

func (t Txn) Plan(desired plan.State) (*plan.Plan, error) { return apply.Plan(t.K, desired, t.Opts) }

func (t Txn) Repair(desired plan.State, decide func(*plan.Plan) Decision) (*plan.Plan, error) {
	txn, err := apply.Begin(t.K, t.Opts)
	if err != nil {
		return nil, err
	}
	defer txn.Close()
	p, err := txn.Plan(desired)
	if err != nil {
		return nil, err
	}
	d := decide(p)
	if !d.Apply {
		return nil, nil
	}
	if d.Desired != nil {
		if p, err = txn.Plan(*d.Desired); err != nil {
			return nil, err
		}
	}
	if err := txn.Apply(p, apply.ApplyOptions{}); err != nil {
		return nil, err
	}
	return p, nil
}

func (t Txn) Sysctls(names []string) (map[string]string, error) { return t.K.ReadSysctls(names) }
