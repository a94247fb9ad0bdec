// Package apply is netctl's transaction: it makes a desired state real, all
// of it or, after an automatic rollback, none of it. Lock, journal, ordered
// steps with their undo, verification by re-reading, rollback.
package apply

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/netctl/netctl/plan"
)

// Kernel is what a transaction needs of the kernel package: one namespace's
// live state and the primitive writes. Every write takes the object from one
// value to another, so its undo is the same call with the values swapped.
type Kernel interface {
	Read(scope plan.Scope) (plan.State, error)
	SetSysctl(name, value string) error
	SyncBridge(from, to *plan.Bridge) error
	SyncFirewall(from, to *plan.Firewall) error
}

// Options configure a transaction.
type Options struct {
	// Netns names the namespace, for messages ("" is netctl's own).
	Netns string
	// NetnsID is the namespace's identity; locks, journals and confirmations are keyed by it.
	NetnsID plan.NamespaceID
	// StateDir holds locks and journals; DefaultStateDir when empty.
	StateDir string
	// LockWait bounds the wait for another apply on the same namespace.
	LockWait time.Duration
	// Log receives what the user must know (a recovered apply).
	Log io.Writer
}

// Txn is a transaction on one namespace: it holds the namespace's lock from
// Begin to Close.
type Txn struct {
	k       Kernel
	opts    Options
	lock    *lock
	journal string
	cookie  uint64 // the namespace's cookie (cookieOf), 0 if unknown
	// Recovered describes an interrupted apply that Begin rolled back.
	Recovered string
}

// Begin takes the namespace's lock, waiting at most opts.LockWait, and rolls
// back an apply that was killed before it finished.
func Begin(k Kernel, opts Options) (*Txn, error) {
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.NetnsID.IsZero() {
		return nil, errNoIdentity
	}
	l, err := acquire(opts.StateDir, opts.NetnsID, opts.Netns, opts.LockWait)
	if err != nil {
		return nil, err
	}
	rk := remembering(k, opts)
	t := &Txn{k: rk, opts: opts, lock: l, journal: journalPath(opts.StateDir, opts.NetnsID), cookie: cookieOf(k)}
	if err := t.recover(); err != nil {
		l.release()
		return nil, err
	}
	rk.(*rememberingKernel).dropStaleMemory()
	return t, nil
}

// Close releases the lock, and removes the forward memories of namespaces
// that no longer exist (sweepMemories).
func (t *Txn) Close() {
	if t.lock != nil {
		t.lock.release()
		t.lock = nil
		sweepMemories(t.opts.StateDir, unwrap(t.k), t.opts.NetnsID)
	}
}

var errNoIdentity = errors.New("apply: the namespace's identity is unknown (Options.NetnsID): its lock and journal cannot be found")

// JournalPending reports, for plan to warn about, what the next apply will
// find in the namespace's journal: an interrupted apply it rolls back, or a
// journal it refuses (unreadable, or another namespace's) and why. "" when
// there is none.
func JournalPending(opts Options) string { return journalPending(opts, 0) }

// namespaceCookie is what a Kernel may also tell: its namespace's cookie,
// which, unlike the inode in its identity, the kernel never gives to another
// namespace once it is deleted.
type namespaceCookie interface{ NamespaceCookie() uint64 }

// cookieOf is k's namespace cookie, 0 when k does not tell.
func cookieOf(k Kernel) uint64 {
	if c, ok := k.(namespaceCookie); ok {
		return c.NamespaceCookie()
	}
	return 0
}

// journalPending is JournalPending, with the namespace's cookie when known.
func journalPending(opts Options, cookie uint64) string {
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir
	}
	if opts.NetnsID.IsZero() {
		return errNoIdentity.Error()
	}
	if exists, err := checkStateDir(opts.StateDir, false); err != nil || !exists {
		if err != nil {
			return err.Error() + "; apply refuses to run until then."
		}
		return ""
	}
	path := journalPath(opts.StateDir, opts.NetnsID)
	j, err := readJournal(path)
	if err == nil && j != nil {
		err = j.checkNamespace(path, opts.NetnsID, cookie, opts.Netns)
	}
	if err == nil {
		err = checkLegacyJournal(opts.StateDir, opts.Netns)
	}
	switch {
	case err != nil:
		return err.Error() + "."
	case j == nil:
		return ""
	}
	return describe(j) + ": the next apply rolls it back before anything else."
}

func describe(j *journal) string {
	what := "an apply"
	if j.Confirming {
		what = "an apply waiting for confirmation"
	}
	return fmt.Sprintf("%s (pid %d, started %s) did not finish", what, j.PID, j.Started.Format(time.RFC3339))
}

func (t *Txn) recover() error {
	if err := checkLegacyJournal(t.opts.StateDir, t.opts.Netns); err != nil {
		return err
	}
	j, err := readJournal(t.journal)
	if err != nil || j == nil {
		return err
	}
	if err := j.checkNamespace(t.journal, t.opts.NetnsID, t.cookie, t.opts.Netns); err != nil {
		return err
	}
	t.Recovered = describe(j)
	fmt.Fprintf(t.opts.Log, "netctl: %s; rolling back to the state before it.\n", t.Recovered)
	if err := converge(t.k, j.Before, j.rollbackScope()); err != nil {
		return fmt.Errorf("rolling back the interrupted apply: %w (journal kept at %s)", err, t.journal)
	}
	return removeJournal(t.journal)
}

// Plan reads the live state and diffs the desired state against it, under
// the transaction's lock: the plan shown is the plan Apply runs.
func (t *Txn) Plan(desired plan.State) (*plan.Plan, error) {
	return Plan(t.k, desired, t.opts)
}

// PlanSaved recomputes a saved plan file's changes from what it records
// (its desired state against the live state now) and refuses it unless they
// are exactly the changes the file shows, the ones a reviewer read. It also
// refuses a plan made in another namespace, and a stale one: the live state
// is no longer the one the file was made against.
func (t *Txn) PlanSaved(f plan.File) (*plan.Plan, error) {
	switch {
	case f.NetnsID.IsZero():
		return nil, errors.New("the plan file does not record its namespace's identity: make it again with netctl plan --out")
	case t.opts.NetnsID.IsZero():
		return nil, errNoIdentity
	case f.NetnsID != t.opts.NetnsID:
		return nil, fmt.Errorf("the plan file was made for namespace %s, this is namespace %s: a plan applies only where it was made; run netctl plan --out here",
			displayNS(f.Netns, f.NetnsID), displayNS(t.opts.Netns, t.opts.NetnsID))
	}
	p, err := t.Plan(f.Desired)
	if err != nil {
		return nil, err
	}
	if plan.Fingerprint(p.Live) != f.Fingerprint {
		return nil, staleError(f.Live, p.Live)
	}
	diff, err := f.DiffChanges(p.Changes)
	if err != nil {
		return nil, err
	}
	if diff != "" {
		return nil, fmt.Errorf("the plan file's changes are not those its desired state makes (was it edited?): %s; netctl applies only the changes a reviewer read: make the plan again with netctl plan --out", diff)
	}
	return p, nil
}

// StepError is the failure of one step of an apply.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %q: %v", e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

// Failure is a failed apply: the first error, and whether the rollback
// brought the state back: RolledBack only when a re-read after the undo
// proved the state before the apply; RollbackErr says what differs.
type Failure struct {
	Err         error
	RolledBack  bool
	RollbackErr error
}

func (f *Failure) Error() string {
	var b strings.Builder
	b.WriteString(f.Err.Error())
	if f.RolledBack {
		b.WriteString("; rolled back: a re-read shows the live state as it was before the apply")
	} else {
		var m *multierror.Error
		if errors.As(f.RollbackErr, &m) {
			m.ErrorFormat = func(es []error) string {
				lines := make([]string, len(es))
				for i, e := range es {
					lines[i] = "  - " + e.Error()
				}
				return strings.Join(lines, "\n")
			}
		}
		fmt.Fprintf(&b, "; ROLLBACK FAILED, the live state is partly changed:\n%v", f.RollbackErr)
	}
	return b.String()
}

func (f *Failure) Unwrap() error { return f.Err }

// ApplyOptions tune one apply.
type ApplyOptions struct {
	// KeepJournal leaves the journal in place after success, marked as
	// waiting for confirmation: Confirm removes it, Rollback undoes the apply.
	KeepJournal bool
}

// Apply runs the plan's steps. p must come from this transaction's Plan: the
// lock has been held since it was read. On failure every step that ran is
// undone, newest first, and the error is a *Failure.
func (t *Txn) Apply(p *plan.Plan, o ApplyOptions) error {
	if p.Empty() && slices.Equal(p.Desired.ForwardMemory, p.Live.ForwardMemory) {
		return nil
	}
	steps := stepsFor(p.Desired, p.Live)
	j := journal{PID: os.Getpid(), Started: time.Now(), Netns: t.opts.Netns, NetnsID: t.opts.NetnsID, NetnsCookie: t.cookie, Before: p.Live, Scope: p.Desired.Scope()}
	for _, s := range steps {
		j.Steps = append(j.Steps, s.name)
	}
	if err := writeJournalFile(t.journal, j); err != nil {
		return fmt.Errorf("writing the journal: %w", err)
	}
	var ran []step
	var failure error
	for _, s := range steps {
		ran = append(ran, s)
		if err := s.do(t.k); err != nil {
			failure = &StepError{Step: s.name, Err: err}
			break
		}
	}
	if failure == nil {
		failure = t.verify(p.Desired)
	}
	if failure != nil {
		f := &Failure{Err: failure}
		f.RollbackErr = undo(t.k, ran, p.Live, scopeOf(p.Live, p.Desired))
		f.RolledBack = f.RollbackErr == nil
		if f.RolledBack {
			_ = removeJournal(t.journal)
		}
		return f
	}
	if o.KeepJournal {
		// A confirmation, or an answer, left from before is not one for
		// this apply.
		_ = os.Remove(confirmPath(t.opts.StateDir, t.opts.NetnsID))
		_ = os.Remove(answerPath(t.opts.StateDir, t.opts.NetnsID))
		j.Confirming = true
		if err := writeJournalFile(t.journal, j); err != nil {
			// Without a journal that says it waits, the change would not be
			// rolled back if netctl died while waiting: undo it now.
			return t.undoNow(fmt.Errorf("writing the journal for the wait for confirmation: %w", err), ran, p)
		}
		return nil
	}
	return removeJournal(t.journal)
}

// writeJournalFile is writeJournal; a test replaces it to make a write fail.
var writeJournalFile = writeJournal

// undoNow undoes the steps that ran after err; undo says whether a re-read
// proved the state before.
func (t *Txn) undoNow(err error, ran []step, p *plan.Plan) *Failure {
	f := &Failure{Err: err}
	f.RollbackErr = undo(t.k, ran, p.Live, scopeOf(p.Live, p.Desired))
	f.RolledBack = f.RollbackErr == nil
	if f.RolledBack {
		_ = removeJournal(t.journal)
	}
	return f
}

// Confirm keeps an apply made with KeepJournal.
func (t *Txn) Confirm() error { return removeJournal(t.journal) }

// Rollback undoes an apply made with KeepJournal, from its journal.
func (t *Txn) Rollback() error {
	j, err := readJournal(t.journal)
	if err != nil {
		return err
	}
	if j == nil {
		return errors.New("no applied change to roll back")
	}
	if err := j.checkNamespace(t.journal, t.opts.NetnsID, t.cookie, t.opts.Netns); err != nil {
		return err
	}
	// converge succeeds only when a re-read proves the state before.
	if err := converge(t.k, j.Before, j.rollbackScope()); err != nil {
		return fmt.Errorf("%w (journal kept at %s)", err, t.journal)
	}
	return removeJournal(t.journal)
}

func (t *Txn) verify(desired plan.State) error {
	live, err := t.k.Read(desired.Scope())
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if left := plan.Diff(desired, live); !left.Empty() || !slices.Equal(desired.ForwardMemory, live.ForwardMemory) {
		addrs := make([]string, 0, len(left.Changes))
		for _, c := range left.Changes {
			addrs = append(addrs, c.Address+" ("+string(c.Action)+")")
		}
		if !slices.Equal(desired.ForwardMemory, live.ForwardMemory) {
			addrs = append(addrs, fmt.Sprintf("forward memory %q (want %q)", live.ForwardMemory, desired.ForwardMemory))
		}
		if len(addrs) > 5 {
			addrs = append(addrs[:5], fmt.Sprintf("and %d more", len(addrs)-5))
		}
		return fmt.Errorf("verify: after the apply the live state still differs: %s", strings.Join(addrs, ", "))
	}
	return nil
}

// converge brings every object of scope back to target, in the order that
// never opens a window; it is the rollback of a journal. It succeeds only
// when a re-read proves target.
func converge(k Kernel, target plan.State, scope plan.Scope) error {
	live, err := k.Read(scope)
	if err != nil {
		return err
	}
	var errs *multierror.Error
	for _, s := range stepsFor(target, live) {
		if err := s.do(k); err != nil {
			errs = multierror.Append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	if err := proveRestored(k, target, scope); err != nil {
		errs = multierror.Append(errs, err)
	}
	return errs.ErrorOrNil()
}

// scopeOf is what a rollback must look at: everything either state names.
func scopeOf(a, b plan.State) plan.Scope { return mergeScopes(a.Scope(), b.Scope()) }

func mergeScopes(a, b plan.Scope) plan.Scope {
	return plan.Scope{
		Sysctls: mergeNames(a.Sysctls, b.Sysctls),
		Bridges: mergeNames(a.Bridges, b.Bridges),
	}
}

func mergeNames(a, b []string) []string {
	set := map[string]bool{}
	for _, n := range append(slices.Clone(a), b...) {
		set[n] = true
	}
	return slices.Sorted(maps.Keys(set))
}
