package apply

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/netctl/netctl/plan"
)

// fakeKernel is an in-memory Kernel, in the spirit of knftables' Fake: it
// holds a plan.State, applies every write to it, and can be told to fail
// any write (before or after doing it), to lose one (report success and
// change nothing), or to crash (panic, as a killed process stops) before or
// after one, or in a read. It checks what a real kernel would refuse: a
// write whose "from" is not the current value, creating what exists,
// deleting what does not.
//
// It is for the transaction's logic; the root tests in apply_test.go are the
// proof against the real kernel.
type fakeKernel struct {
	mu sync.Mutex
	// state is the whole namespace, including what Read does not show
	// (bridges neither owned nor in the scope).
	state plan.State
	// writes logs every write call, in order, faulty ones included.
	writes []string
	// faults by write number, from 1.
	faults map[int]fault
	// reads counts Read calls; readFaults by read number, from 1.
	reads      int
	readFaults map[int]fault
}

type fault int

const (
	failBefore  fault = iota + 1 // error, nothing written
	failAfter                    // written, then an error
	lose                         // success reported, nothing written
	crashBefore                  // the process dies before the write
	crashAfter                   // the process dies after the write
)

func (f fault) String() string {
	return [...]string{"", "fail before", "fail after", "lose", "crash before", "crash after"}[f]
}

// crash is the panic value of a simulated kill.
type crash struct{ at string }

var errInjected = errors.New("injected fault")

func newFake(s plan.State) *fakeKernel {
	return &fakeKernel{state: clone(s), faults: map[int]fault{}, readFaults: map[int]fault{}}
}

func clone(s plan.State) plan.State {
	data, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	var out plan.State
	if err := json.Unmarshal(data, &out); err != nil {
		panic(err)
	}
	return out
}

// snapshot is the whole state, for comparisons.
func (k *fakeKernel) snapshot() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	data, err := json.MarshalIndent(k.state, "", " ")
	if err != nil {
		panic(err)
	}
	return string(data)
}

// log returns the writes so far.
func (k *fakeKernel) log() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.writes)
}

// heal clears every fault still pending.
func (k *fakeKernel) heal() {
	k.mu.Lock()
	k.faults, k.readFaults = map[int]fault{}, map[int]fault{}
	k.mu.Unlock()
}

func (k *fakeKernel) Read(scope plan.Scope) (plan.State, error) {
	k.mu.Lock()
	k.reads++
	f := k.readFaults[k.reads]
	k.mu.Unlock()
	switch f {
	case failBefore, failAfter, lose:
		return plan.State{}, fmt.Errorf("%w: read %d", errInjected, k.reads)
	case crashBefore, crashAfter:
		panic(crash{fmt.Sprintf("read %d", k.reads)})
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var s plan.State
	for _, name := range scope.Sysctls {
		if v, ok := k.state.Sysctls[name]; ok {
			if s.Sysctls == nil {
				s.Sysctls = map[string]string{}
			}
			s.Sysctls[name] = v
		}
	}
	for name, b := range k.state.Bridges {
		if b.Owner == plan.Owner || slices.Contains(scope.Bridges, name) {
			if s.Bridges == nil {
				s.Bridges = map[string]plan.Bridge{}
			}
			s.Bridges[name] = b
		}
	}
	s = clone(s)
	s.Firewall = cloneFirewall(k.state.Firewall)
	return s, nil
}

// write runs do as write number n with that write's fault.
func (k *fakeKernel) write(name string, do func() error) error {
	k.mu.Lock()
	k.writes = append(k.writes, name)
	n := len(k.writes)
	f := k.faults[n]
	k.mu.Unlock()
	switch f {
	case failBefore:
		return fmt.Errorf("%w: write %d (%s) failed before writing", errInjected, n, name)
	case lose:
		return nil
	case crashBefore:
		panic(crash{fmt.Sprintf("before write %d (%s)", n, name)})
	}
	k.mu.Lock()
	err := do()
	k.mu.Unlock()
	if err != nil {
		return err
	}
	switch f {
	case failAfter:
		return fmt.Errorf("%w: write %d (%s) failed after writing", errInjected, n, name)
	case crashAfter:
		panic(crash{fmt.Sprintf("after write %d (%s)", n, name)})
	}
	return nil
}

func (k *fakeKernel) SetSysctl(name, value string) error {
	return k.write("sysctl "+name+"="+value, func() error {
		if _, ok := k.state.Sysctls[name]; !ok {
			return fmt.Errorf("sysctl %s: no such file", name)
		}
		k.state.Sysctls[name] = value
		return nil
	})
}

func (k *fakeKernel) SyncBridge(from, to *plan.Bridge) error {
	name, verb := "", "update"
	switch {
	case from == nil && to == nil:
		return nil // nothing to nothing: no write, as in the kernel package
	case from == nil:
		name, verb = to.Name, "create"
	case to == nil:
		name, verb = from.Name, "delete"
	default:
		name = to.Name
	}
	return k.write("bridge "+name+" "+verb, func() error {
		have, exists := k.state.Bridges[name]
		switch {
		case from == nil && exists:
			return fmt.Errorf("bridge %s: create: it exists", name)
		case from != nil && !exists:
			return fmt.Errorf("bridge %s: %s: no such interface", name, verb)
		case from != nil && !plan.BridgeEqual(*from, have):
			return fmt.Errorf("bridge %s: %s from a value that is not the live one", name, verb)
		}
		if to == nil {
			delete(k.state.Bridges, name)
			return nil
		}
		b := clone(plan.State{Bridges: map[string]plan.Bridge{name: *to}}).Bridges[name]
		if exists {
			b.Ports = have.Ports // an update leaves the ports attached
		}
		if k.state.Bridges == nil {
			k.state.Bridges = map[string]plan.Bridge{}
		}
		k.state.Bridges[name] = b
		return nil
	})
}

func (k *fakeKernel) SyncFirewall(from, to *plan.Firewall) error {
	verb := "update"
	switch {
	case from == nil:
		verb = "create"
	case to == nil:
		verb = "delete"
	}
	return k.write("firewall "+verb, func() error {
		if !plan.FirewallsEqual(from, k.state.Firewall) {
			return errors.New("firewall: written from a value that is not the live one")
		}
		k.state.Firewall = cloneFirewall(to)
		return nil
	})
}

func cloneFirewall(f *plan.Firewall) *plan.Firewall {
	if f == nil {
		return nil
	}
	return clone(plan.State{Firewall: f}).Firewall
}
