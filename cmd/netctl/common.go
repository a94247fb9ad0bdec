package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/netctl/netctl/apply"
	"github.com/netctl/netctl/kernel"
	"github.com/netctl/netctl/plan"
	"github.com/netctl/netctl/schema"
)

// lockWait bounds how long an apply waits for another on the same namespace.
const lockWait = 30 * time.Second

// target is what every kernel command works on.
type target struct {
	file    string
	netns   string
	noColor bool
	json    bool
}

func (t *target) addFileFlag(c *cobra.Command) {
	c.Flags().StringVarP(&t.file, "file", "f", schema.DefaultFile, "the netctl YAML file, or - for standard input")
}

func (t *target) addKernelFlags(c *cobra.Command) {
	addNetnsFlag(c, &t.netns, "the named network namespace (/run/netns/NAME)")
	c.Flags().BoolVar(&t.noColor, "no-color", false, "never colour the output")
	c.Flags().BoolVar(&t.json, "json", false, "print one JSON document instead of text")
}

// loadDesired loads and validates the file and compiles it. An invalid file
// ends netctl with its problems, before the kernel is touched.
func loadDesired(file string) (plan.State, error) {
	cfg, err := schema.Load(file)
	if err != nil {
		return plan.State{}, &exitError{code: 1, msg: err.Error(), cause: err}
	}
	return plan.Desired(cfg), nil
}

// netnsValue is the --netns flag: a namespace name as `ip netns add` makes
// it, checked as the flag is parsed, so a path or "." or ".." is refused
// before any file is opened, whatever the command.
type netnsValue struct{ p *string }

func (v netnsValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v netnsValue) Set(s string) error {
	if err := kernel.CheckNetnsName(s); err != nil {
		return err
	}
	*v.p = s
	return nil
}

func (netnsValue) Type() string { return "name" }

// netnsDefault ends every --netns help: without the flag, netctl works on
// the namespace it runs in, whatever its name.
const netnsDefault = "default: the current network namespace"

// addNetnsFlag gives c the --netns flag, stored in p. Its help is usage
// followed by netnsDefault, on every command (a default named in usage is
// replaced by it).
func addNetnsFlag(c *cobra.Command, p *string, usage string) {
	if i := strings.Index(usage, "; default:"); i >= 0 {
		usage = usage[:i]
	}
	c.Flags().Var(netnsValue{p}, "netns", usage+"; "+netnsDefault)
}

// openKernel opens the namespace and removes a trace chain left by a
// killed `netctl explain --trace`, as a journal is recovered.
func openKernel(netns string) (*kernel.Handle, error) {
	k, err := kernel.Open(netns)
	if err != nil {
		return nil, err
	}
	if removed, err := k.RemoveStaleTrace(); err != nil {
		k.Close()
		return nil, err
	} else if removed {
		fmt.Fprintln(os.Stderr, "netctl: removed the trace chain a killed 'netctl explain --trace' left in table inet netctl")
	}
	return k, nil
}

// txnOptions are the transaction's options in the namespace k is bound to:
// its lock, journal and confirmation are those of k's namespace identity,
// whatever name (or alias) reached it.
func txnOptions(k *kernel.Handle, netns string) apply.Options {
	return apply.Options{Netns: netns, NetnsID: k.NamespaceID(), LockWait: lockWait, Log: os.Stderr}
}

// confirmOptions are those of `netctl confirm`, which needs the namespace's
// identity but no handle on it.
func confirmOptions(netns string) (apply.Options, error) {
	id, err := kernel.NamespaceIDOf(netns)
	if err != nil {
		return apply.Options{}, err
	}
	return apply.Options{Netns: netns, NetnsID: id}, nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func useColor(t *target) bool {
	return colorWanted(t.noColor, os.Getenv, isTerminal(os.Stdout))
}

// colorWanted: colour only on a terminal that can show it, and only when
// neither --no-color nor NO_COLOR (https://no-color.org: set and not empty)
// says no. TERM=dumb (Emacs shells, some CI logs) or no TERM at all is a
// terminal without escapes.
func colorWanted(noColor bool, getenv func(string) string, terminal bool) bool {
	term := getenv("TERM")
	return !noColor && getenv("NO_COLOR") == "" && terminal && term != "" && term != "dumb"
}

// confirm asks on the terminal; only "yes" is accepted.
func confirm(in io.Reader, out io.Writer, question string) bool {
	fmt.Fprintf(out, "\n%s Only 'yes' will be accepted: ", question)
	line, _ := bufio.NewReader(in).ReadString('\n')
	fmt.Fprintln(out)
	return strings.TrimSpace(line) == "yes"
}
