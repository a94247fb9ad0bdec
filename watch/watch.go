// Package watch keeps a namespace converged: it re-plans when the kernel
// reports a change (or a polled sysctl moved), reports drift one structured
// line per change, and with Repair applies the file through package apply's
// transaction. It coalesces bursts, stops repairing an object that another
// writer keeps changing, and reloads the file on request. It talks to the
// kernel only through its Planner.
package watch

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/netctl/netctl/plan"
)

// Trigger is one reason to look again: a kernel notification or a poll.
type Trigger struct {
	// Kind: nftables, link, address, lost (notifications dropped), or
	// sysctl, reload, start.
	Kind string
	// Name is the link a link or address notification is about ("" when
	// unknown).
	Name string
	// Who committed an nftables change ("nft (pid 1234)").
	Who string
	// Port: a link notification of a bridge port (a link with a master)
	// appearing or changing.
	Port bool
}

// Planner is what the loop needs of the kernel and the transaction.
type Planner interface {
	// Plan reads the live state and diffs desired against it (apply.Plan).
	Plan(desired plan.State) (*plan.Plan, error)
	// Repair takes the transaction's lock, plans desired under it, lets
	// decide what to do with the plan, and applies it as one transaction
	// (journal, verify, rollback). It returns the plan it applied, nil
	// when decide said not to.
	Repair(desired plan.State, decide func(*plan.Plan) Decision) (*plan.Plan, error)
	// Sysctls reads the named sysctls only.
	Sysctls(names []string) (map[string]string, error)
}

// Options configure a Watcher.
type Options struct {
	Planner Planner
	// Desired is the file's state at start; Load makes it again on Reload.
	Desired plan.State
	Load    func() (plan.State, error)
	// Repair: apply the file when it drifted; without, only report.
	Repair bool
	// Coalesce is how long after a first notification the loop waits for
	// the rest of the burst before it plans (default 5ms: one batch, such
	// as `nft -f` of a whole ruleset, is one notification already).
	Coalesce time.Duration
	// SysctlInterval is the sysctl poll (default 10s; sysctls send no
	// notifications).
	SysctlInterval time.Duration
	// MaxRepairs of one object within Window; one more and its repair is
	// suppressed (default 5 per minute).
	MaxRepairs int
	Window     time.Duration
	Log        *slog.Logger
	Metrics    *Metrics
	// Now is the clock of the suppression window (time.Now by default).
	Now func() time.Time
}

// Watcher is the loop's state; Run drives it, the tests call its steps.
type Watcher struct {
	o       Options
	desired plan.State
	sup     *suppressor
	// reported holds the drift already logged, by change address and
	// action: a drift is logged when it appears, not at every re-plan.
	reported map[string]string
	inSync   bool
	polled   map[string]string // sysctls as last polled
	retry    bool              // the last check's plan or repair failed
	warnings []string
}

// New makes a Watcher; Options' zero values get their defaults.
func New(o Options) *Watcher {
	if o.Coalesce <= 0 {
		o.Coalesce = 5 * time.Millisecond
	}
	if o.SysctlInterval <= 0 {
		o.SysctlInterval = 10 * time.Second
	}
	if o.MaxRepairs <= 0 {
		o.MaxRepairs = 5
	}
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Watcher{o: o, desired: o.Desired, sup: newSuppressor(o.MaxRepairs, o.Window), reported: map[string]string{}}
}

// Run checks once, calls ready, then re-checks at every burst of events,
// every sysctl poll that found a change, and reloads the file at every
// value on reload, until ctx ends. It returns nil then.
func (w *Watcher) Run(ctx context.Context, events <-chan Trigger, reload <-chan struct{}, ready func()) error {
	w.Check(Trigger{Kind: "start"})
	if ready != nil {
		ready()
	}
	poll := time.NewTicker(w.o.SysctlInterval)
	defer poll.Stop()
	var burst <-chan time.Time
	var pending Burst
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return errors.New("the kernel's notifications ended")
			}
			pending.Add(ev)
			if burst == nil {
				burst = time.After(w.o.Coalesce)
			}
		case <-burst:
			burst = nil
			Drain(events, &pending)
			if t, ok := pending.Trigger(w.bridgeNames(), w.portsMatter()); ok {
				w.Check(t)
			}
			pending = Burst{}
		case <-poll.C:
			switch {
			case w.SysctlsMoved():
				w.Check(Trigger{Kind: "sysctl"})
			case w.retry:
				// The last plan or repair failed (another apply held the
				// lock, say): try again rather than wait for a change.
				w.Check(Trigger{Kind: "retry"})
			}
		case <-reload:
			w.Reload()
		}
	}
}

// Burst is what a burst of notifications amounts to: counts and the first
// relevant trigger, a fixed-size value however long the burst.
type Burst struct {
	N     int
	Links []string // link names seen, at most burstNames
	Other *Trigger // the first notification that needs no name check
	Named int      // notifications about a named link past burstNames
	Port  *Trigger // the first notification of a bridge port
}

const burstNames = 16

// Add counts ev into the burst.
func (b *Burst) Add(ev Trigger) {
	b.N++
	if ev.Port && b.Port == nil {
		t := ev
		b.Port = &t
	}
	if (ev.Kind == "link" || ev.Kind == "address") && ev.Name != "" {
		if len(b.Links) < burstNames {
			if !slices.Contains(b.Links, ev.Name) {
				b.Links = append(b.Links, ev.Name)
			}
		} else {
			b.Named++
		}
		return
	}
	if b.Other == nil {
		t := ev
		b.Other = &t
	}
}

// Trigger says whether the burst is worth a plan: a notification about the
// firewall, an unnamed one, one dropped, or a link that is (or is named as)
// one of netctl's bridges. Links of containers coming and going are not,
// unless ports matter: a bridge of the file has publications, so a port
// that joins needs its hairpin flag (plan/ports.go).
func (b *Burst) Trigger(bridges map[string]bool, ports bool) (Trigger, bool) {
	if b.Other != nil {
		return *b.Other, true
	}
	if ports && b.Port != nil {
		return *b.Port, true
	}
	if b.Named > 0 {
		return Trigger{Kind: "link"}, true // too many names kept: look
	}
	for _, n := range b.Links {
		if bridges[n] {
			return Trigger{Kind: "link", Name: n}, true
		}
	}
	return Trigger{}, false
}

// Drain adds what is queued on events to b without waiting.
func Drain(events <-chan Trigger, b *Burst) {
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			b.Add(ev)
		default:
			return
		}
	}
}

// portsMatter: some bridge of the file has publications, so its ports
// carry the hairpin flag and a port that joins is drift to look at.
func (w *Watcher) portsMatter() bool {
	for _, b := range w.desired.Bridges {
		if b.Hairpin {
			return true
		}
	}
	return false
}

// bridgeNames are the bridges a link notification may concern: those of the
// file and those of the last plan's live state.
func (w *Watcher) bridgeNames() map[string]bool {
	m := map[string]bool{}
	for n := range w.desired.Bridges {
		m[n] = true
	}
	for _, n := range w.sup.knownBridges {
		m[n] = true
	}
	return m
}

// SysctlsMoved polls the file's sysctls and reports whether any differs
// from the file and from the last poll (a drift already seen is not looked
// at again until it moves).
func (w *Watcher) SysctlsMoved() bool {
	names := slices.Sorted(maps.Keys(w.desired.Sysctls))
	if len(names) == 0 {
		return false
	}
	got, err := w.o.Planner.Sysctls(names)
	if err != nil {
		w.o.Log.Error("reading sysctls", "error", err.Error())
		return false
	}
	moved := false
	for _, n := range names {
		if got[n] != w.desired.Sysctls[n] && got[n] != w.polled[n] {
			moved = true
		}
	}
	w.polled = got
	return moved
}

// Reload loads the file again; an invalid file is logged with its
// positions and the running state kept.
func (w *Watcher) Reload() {
	d, err := w.o.Load()
	if err != nil {
		w.o.Metrics.reloads.WithLabelValues("error").Inc()
		w.o.Log.Error("reload failed: the file is invalid, the running state is kept", "error", err.Error())
		return
	}
	w.o.Metrics.reloads.WithLabelValues("ok").Inc()
	w.desired = d
	w.sup.reset()
	w.o.Metrics.resetSuppressed()
	w.reported = map[string]string{}
	w.polled = nil
	w.o.Log.Info("reloaded the file")
	w.Check(Trigger{Kind: "reload"})
}

// Check plans, reports new drift, and with Repair repairs what is not
// suppressed.
func (w *Watcher) Check(t Trigger) {
	w.o.Metrics.checks.WithLabelValues(t.Kind).Inc()
	w.retry = false
	start := time.Now()
	if !w.o.Repair {
		p, err := w.o.Planner.Plan(w.desired)
		w.o.Metrics.planDuration.Set(time.Since(start).Seconds())
		if err != nil {
			w.planFailed(t, err)
			return
		}
		w.observe(p, t)
		return
	}
	// With Repair the plan is made under the transaction's lock, once: the
	// plan that finds the drift is the plan that repairs it.
	var planned *plan.Plan
	var held []string
	var repairStart time.Time
	applied, err := w.o.Planner.Repair(w.desired, func(p *plan.Plan) Decision {
		w.o.Metrics.planDuration.Set(time.Since(start).Seconds())
		planned, repairStart = p, time.Now()
		if !w.observe(p, t) {
			return Decision{}
		}
		todo := 0
		for obj := range objectsOf(p.Changes) {
			if w.sup.suppressed(obj) {
				held = append(held, obj)
			} else {
				todo++
			}
		}
		if todo == 0 {
			return Decision{}
		}
		if len(held) > 0 {
			slices.Sort(held)
			d := WithLive(w.desired, p.Live, held)
			return Decision{Apply: true, Desired: &d}
		}
		return Decision{Apply: true}
	})
	switch {
	case err != nil && planned == nil:
		w.planFailed(t, err)
		return
	case err != nil:
		w.retry = true
		w.o.Metrics.repairFailures.Inc()
		w.o.Log.Error("repair failed", "trigger", t.Kind, "error", err.Error())
		return
	case applied == nil:
		return // in sync, or only suppressed drift
	}
	d := time.Since(repairStart)
	now := w.o.Now()
	w.o.Metrics.lastRepair.Set(d.Seconds())
	for i, c := range applied.Changes {
		if i == logLimit {
			w.o.Log.Info("repaired more", "changes", len(applied.Changes)-logLimit, "trigger", t.Kind)
			break
		}
		w.o.Log.Info("repaired", "address", c.Address, "type", c.Type, "action", string(c.Action), "object", objectOf(c), "trigger", t.Kind, "duration", d.String())
	}
	for obj := range objectsOf(applied.Changes) {
		w.o.Metrics.repairs.WithLabelValues(objectType(obj)).Inc()
		if w.sup.record(obj, now) {
			w.o.Metrics.suppressed.WithLabelValues(objectType(obj)).Inc()
			w.o.Metrics.suppressions.WithLabelValues(objectType(obj)).Inc()
			w.o.Log.Warn("repair suppressed", "object", obj, "repairs", w.sup.max+1, "window", w.sup.window.String(),
				"why", "another writer keeps changing it: reported, not repaired, until the file is reloaded (SIGHUP)")
		}
	}
	// What was repaired is no longer drift; what was held back still is.
	w.reported = map[string]string{}
	w.setInSync(len(held) == 0, t)
}

// Decision is what a check makes of the plan it found: whether to apply,
// and, when some objects are suppressed, the desired state to plan again
// and apply instead (WithLive).
type Decision struct {
	Apply   bool
	Desired *plan.State
}

func (w *Watcher) planFailed(t Trigger, err error) {
	w.retry = true
	w.o.Metrics.errors.Inc()
	w.o.Log.Error("plan failed", "trigger", t.Kind, "error", err.Error())
}

// observe takes in a plan: warnings, bridges seen, drift reported, the
// in-sync gauge. It reports whether there is drift.
func (w *Watcher) observe(p *plan.Plan, t Trigger) bool {
	w.sup.knownBridges = slices.Sorted(maps.Keys(p.Live.Bridges))
	w.logWarnings(p.Warnings)
	if p.Empty() {
		w.setInSync(true, t)
		w.reported = map[string]string{}
		return false
	}
	w.report(p, t)
	w.setInSync(false, t)
	return true
}

// report logs each drifted change not logged before, and counts it.
func (w *Watcher) report(p *plan.Plan, t Trigger) {
	now := make(map[string]string, len(p.Changes))
	logged, more := 0, 0
	for _, c := range p.Changes {
		now[c.Address] = string(c.Action)
		if w.reported[c.Address] == string(c.Action) {
			continue
		}
		obj := objectOf(c)
		w.o.Metrics.drift.WithLabelValues(objectType(obj)).Inc()
		if logged == logLimit {
			more++
			continue
		}
		logged++
		attrs := []any{"address", c.Address, "type", c.Type, "action", string(c.Action), "object", obj, "trigger", t.Kind}
		if t.Who != "" {
			attrs = append(attrs, "by", t.Who)
		}
		if w.sup.suppressed(obj) {
			attrs = append(attrs, "suppressed", true)
		}
		w.o.Log.Warn("drift", attrs...)
	}
	if more > 0 {
		w.o.Log.Warn("drift more", "changes", more, "trigger", t.Kind)
	}
	w.reported = now
}

// logLimit bounds the lines of one check: a flushed table of 10,000 links
// is 10,000 changes; the first logLimit are logged, then their number.
const logLimit = 20

func (w *Watcher) setInSync(in bool, t Trigger) {
	if in && !w.inSync {
		w.o.Log.Info("in sync", "trigger", t.Kind)
	}
	w.inSync = in
	v := 0.0
	if in {
		v = 1
	}
	w.o.Metrics.inSync.Set(v)
}

func (w *Watcher) logWarnings(ws []string) {
	if slices.Equal(ws, w.warnings) {
		return
	}
	for _, s := range ws {
		if !slices.Contains(w.warnings, s) {
			w.o.Log.Warn("warning", "message", s)
		}
	}
	w.warnings = slices.Clone(ws)
}

// InSync reports whether the last check found the kernel as the file says.
func (w *Watcher) InSync() bool { return w.inSync }

// objectOf is the unit of repair and of suppression a change belongs to:
// sysctl.NAME, bridge.NAME, or firewall (netctl's table is written as one
// batch: its parts are one object).
func objectOf(c plan.Change) string {
	switch c.Type {
	case "sysctl", "bridge":
		return c.Address
	}
	return "firewall"
}

// objectType is the metrics label of an object: sysctl, bridge, firewall.
func objectType(obj string) string {
	switch {
	case obj == "firewall":
		return "firewall"
	case len(obj) > 7 && obj[:7] == "sysctl.":
		return "sysctl"
	}
	return "bridge"
}

func objectsOf(cs []plan.Change) map[string]bool {
	m := map[string]bool{}
	for _, c := range cs {
		m[objectOf(c)] = true
	}
	return m
}

// WithLive is desired with the held objects as they are live: a repair of
// it leaves them alone. The forward memory goes with the firewall: held
// while the table is gone (flushed again and again), it is kept as it is,
// not forgotten as a destroy forgets it.
func WithLive(desired, live plan.State, held []string) plan.State {
	d := plan.State{Sysctls: maps.Clone(desired.Sysctls), Bridges: maps.Clone(desired.Bridges), Firewall: desired.Firewall, ForwardOthers: desired.ForwardOthers}
	for _, obj := range held {
		switch objectType(obj) {
		case "firewall":
			d.Firewall = live.Firewall
			if live.Firewall == nil {
				d.ForwardMemory = slices.Clone(live.ForwardMemory)
			}
		case "sysctl":
			name := obj[len("sysctl."):]
			if v, ok := live.Sysctls[name]; ok {
				d.Sysctls[name] = v
			} else {
				delete(d.Sysctls, name)
			}
		case "bridge":
			name := obj[len("bridge."):]
			if b, ok := live.Bridges[name]; ok {
				if d.Bridges == nil {
					d.Bridges = map[string]plan.Bridge{}
				}
				d.Bridges[name] = b
			} else {
				delete(d.Bridges, name)
			}
		}
	}
	return d
}

// suppressor counts repairs per object within a sliding window; an object
// repaired more than max times in it is suppressed until reset. Its memory
// is bounded: at most max+1 times per object, objects being those of the
// file and of netctl's own state.
type suppressor struct {
	max    int
	window time.Duration
	times  map[string][]time.Time
	held   map[string]bool
	// knownBridges are the live state's bridges at the last plan.
	knownBridges []string
}

func newSuppressor(max int, window time.Duration) *suppressor {
	return &suppressor{max: max, window: window, times: map[string][]time.Time{}, held: map[string]bool{}}
}

func (s *suppressor) suppressed(obj string) bool { return s.held[obj] }

// record counts a repair of obj at now; it reports whether that made obj
// suppressed.
func (s *suppressor) record(obj string, now time.Time) bool {
	ts := s.times[obj]
	keep := ts[:0]
	for _, t := range ts {
		if now.Sub(t) < s.window {
			keep = append(keep, t)
		}
	}
	keep = append(keep, now)
	if len(keep) > s.max+1 {
		keep = keep[len(keep)-(s.max+1):]
	}
	s.times[obj] = keep
	if len(keep) > s.max && !s.held[obj] {
		s.held[obj] = true
		return true
	}
	return false
}

func (s *suppressor) reset() {
	s.times = map[string][]time.Time{}
	s.held = map[string]bool{}
}

// size is the number of repair times the suppressor keeps (tests).
func (s *suppressor) size() int {
	n := 0
	for _, ts := range s.times {
		n += len(ts)
	}
	return n
}
