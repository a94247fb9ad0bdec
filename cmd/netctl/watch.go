package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/netctl/netctl/apply"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
	"github.com/netctl/netctl/watch"
)

type watchFlags struct {
	file           string
	netns          string
	repair         bool
	metricsListen  string
	logFormat      string
	sysctlInterval time.Duration
	maxRepairs     int
}

func newWatchCmd() *cobra.Command {
	var f watchFlags
	c := &cobra.Command{
		Use:   "watch [-f FILE] [--netns NAME] [--repair]",
		Short: "Report drift as it happens, and with --repair put the file back",
		Long: `Watch the namespace's kernel change notifications (nftables, links,
addresses; sysctls are polled) and re-plan after every burst of changes.
Each drifted change is logged as one line (log/slog, text or JSON, on stderr).

With --repair the file is applied again, through the same transaction as
'netctl apply' (lock, journal, verify, rollback). An object repaired more
than --max-repairs times in a minute is fought over by another writer: its
repair is suppressed (logged, counted in netctl_repair_suppressed) and it is
only reported, until the file is reloaded. Only one 'watch --repair' runs per
namespace.

SIGHUP reloads the file (an invalid one is logged and the running state
kept); SIGTERM and SIGINT end watch with status 0. Under systemd
(Type=notify) it reports ready after its first check.

Exit status: 0 when stopped by a signal, 1 error (invalid file, another
watch --repair on the namespace, kernel not readable).`,
		Example: `  netctl watch --repair --metrics-listen 127.0.0.1:9731
  netctl watch --netns ci-test --log-format json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runWatch(&f) },
	}
	c.Flags().StringVarP(&f.file, "file", "f", schema.DefaultFile, "the netctl YAML file")
	addNetnsFlag(c, &f.netns, "the named network namespace (/run/netns/NAME); default: netctl's own")
	c.Flags().BoolVar(&f.repair, "repair", false, "apply the file when the kernel drifted from it (default: only report)")
	c.Flags().StringVar(&f.metricsListen, "metrics-listen", "", "serve Prometheus metrics on this address's /metrics (e.g. 127.0.0.1:9731; default: off)")
	c.Flags().StringVar(&f.logFormat, "log-format", "text", "log lines as text or json")
	c.Flags().DurationVar(&f.sysctlInterval, "sysctl-interval", 10*time.Second, "how often to read the sysctls (they send no notifications)")
	c.Flags().IntVar(&f.maxRepairs, "max-repairs", 5, "repairs of one object per minute before its repair is suppressed")
	return c
}

func runWatch(f *watchFlags) error {
	var h slog.Handler
	switch f.logFormat {
	case "text":
		h = slog.NewTextHandler(os.Stderr, nil)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, nil)
	default:
		return fmt.Errorf("--log-format %q: text or json", f.logFormat)
	}
	if f.sysctlInterval <= 0 || f.maxRepairs <= 0 {
		return errors.New("--sysctl-interval and --max-repairs must be more than 0")
	}
	log := slog.New(h)
	if f.file == "-" {
		return errors.New("watch reads its file again on SIGHUP: give a file, not standard input")
	}
	desired, err := loadDesired(f.file)
	if err != nil {
		return err
	}
	k, err := openKernel(f.netns)
	if err != nil {
		return err
	}
	defer k.Close()
	opts := txnOptions(k, f.netns)
	opts.Log = slogWriter{log}
	// A repair waits this long for a person's apply; then it is logged as
	// failed and tried again at the next change.
	opts.LockWait = 10 * time.Second
	if f.repair {
		wl, err := apply.HoldWatch(opts)
		if err != nil {
			return err
		}
		defer wl.Release()
	}
	// Subscribed before the first check: nothing that changes after it is
	// missed.
	notes, err := k.Subscribe()
	if err != nil {
		return err
	}
	defer notes.Close()
	events := make(chan watch.Trigger, 64)
	go func() {
		defer close(events)
		for ev := range notes.C {
			t := watch.Trigger{Kind: string(ev.Kind), Name: ev.Name, Port: ev.Port}
			if ev.PID != 0 {
				t.Who = ev.Comm + " (pid " + strconv.Itoa(int(ev.PID)) + ")"
			}
			events <- t
		}
	}()

	m := watch.NewMetrics()
	if f.metricsListen != "" {
		ln, err := net.Listen("tcp", f.metricsListen)
		if err != nil {
			return fmt.Errorf("--metrics-listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", m.Handler())
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		log.Info("serving metrics", "address", ln.Addr().String(), "path", "/metrics")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default: // one reload pending is enough
			}
		}
	}()

	w := watch.New(watch.Options{
		Planner:        watch.Txn{K: k, Opts: opts},
		Desired:        desired,
		Load:           func() (plan.State, error) { return loadDesired(f.file) },
		Repair:         f.repair,
		SysctlInterval: f.sysctlInterval,
		MaxRepairs:     f.maxRepairs,
		Log:            log,
		Metrics:        m,
	})
	log.Info("watching", "file", f.file, "netns", f.netns, "repair", f.repair, "pid", os.Getpid())
	err = w.Run(ctx, events, reload, func() { sdNotify(log, "READY=1") })
	sdNotify(log, "STOPPING=1")
	if err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// slogWriter passes apply's messages (a recovered apply) to the log.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(b []byte) (int, error) {
	w.l.Warn(string(trimNL(b)))
	return len(b), nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	return b
}

// sdNotify tells systemd (Type=notify) about the service's state: one
// datagram on $NOTIFY_SOCKET, by hand rather than with a library, as
// sd_notify(3) describes (a leading @ is an abstract socket).
func sdNotify(log *slog.Logger, state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err == nil {
		_, err = c.Write([]byte(state))
		c.Close()
	}
	if err != nil {
		log.Warn("notifying systemd", "state", state, "error", err.Error())
	}
}
