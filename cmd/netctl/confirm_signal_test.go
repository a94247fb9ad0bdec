package main

// --confirm-timeout protects in the common cases: a hangup (the SSH
// connection lost), Ctrl-C and SIGTERM during the wait roll back; a timeout
// of 0 or less is refused; confirm says so when no apply waits.

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netctl/netctl/internal/nstest"
)

func TestConfirmTimeoutSignals(t *testing.T) {
	nstest.RequireRoot(t)
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM} {
		for _, asJSON := range []bool{false, true} {
			name := sig.String()
			if asJSON {
				name += "/json"
			}
			t.Run(name, func(t *testing.T) {
				ns, _, changed := confirmSetup(t)
				before := kernelText(t, ns)
				args := []string{"apply", "-f", changed, "--netns", ns, "--auto-approve", "--confirm-timeout", "10m"}
				if asJSON {
					args = append(args, "--json")
				}
				p := start(t, args...)
				// Printed once the journal is marked as waiting.
				p.waitLine(t, "Confirm within", 30*time.Second)
				if !strings.Contains(nstest.Run(t, "ip", "-n", ns, "link", "show", "docker0"), "mtu 1400") {
					t.Fatal("the change is not live while waiting")
				}
				if err := p.cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				if code := p.wait(t, 60*time.Second); code != 1 {
					t.Errorf("exit %d, want 1:\n%s\n%s", code, p.stdout.String(), p.errText())
				}
				if got := kernelText(t, ns); got != before {
					t.Fatalf("not rolled back:\n%s\nbefore:\n%s", got, before)
				}
				if asJSON {
					var doc struct {
						Changed      bool    `json:"changed"`
						Confirmation string  `json:"confirmation"`
						RolledBack   bool    `json:"rolled_back"`
						Error        *string `json:"error"`
					}
					if err := json.Unmarshal(p.stdout.Bytes(), &doc); err != nil {
						t.Fatalf("apply --json: %v\n%s", err, p.stdout.String())
					}
					if doc.Changed || doc.Confirmation != "rolled back" || !doc.RolledBack || doc.Error == nil || !strings.Contains(*doc.Error, "Interrupted by SIG") {
						t.Errorf("document: %s", p.stdout.String())
					}
				} else if want := "while waiting for confirmation: the change was rolled back."; !strings.Contains(p.errText(), want) {
					t.Errorf("stderr does not say %q:\n%s", want, p.errText())
				}
				// Nothing is left for the next apply to roll back.
				r := mustExit(t, 2, "plan", "-f", changed, "--netns", ns, "--detailed-exitcode")
				if strings.Contains(r.stdout+r.stderr, "did not finish") {
					t.Errorf("a journal is left:\n%s", r)
				}
			})
		}
	}
}

// TestConfirmTimeoutTerminalClosed: the terminal netctl waits on goes away
// (the SSH connection lost, as closing tmux does it): the kernel hangs it
// up, and the change is rolled back though nothing can be printed any more.
func TestConfirmTimeoutTerminalClosed(t *testing.T) {
	nstest.RequireRoot(t)
	ns, _, changed := confirmSetup(t)
	before := kernelText(t, ns)
	x := newTmux(t, fmt.Sprintf("%s apply -f %s --netns %s --auto-approve --confirm-timeout 10m", opsBin, changed, ns))
	x.waitFor("Confirm within", 30*time.Second)
	if kernelText(t, ns) == before {
		t.Fatal("the change is not live while waiting")
	}
	x.run("kill-server")
	// Wait for the outcome (the process is not ours to wait for).
	for deadline := time.Now().Add(60 * time.Second); kernelText(t, ns) != before; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not rolled back after the terminal closed:\n%s", kernelText(t, ns))
		}
	}
	// Rolled back by the waiting process itself: no journal is left.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r := mustExit(t, 2, "plan", "-f", changed, "--netns", ns, "--detailed-exitcode")
		if !strings.Contains(r.stdout+r.stderr, "did not finish") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the journal is left:\n%s", r)
		}
	}
}

func TestConfirmTimeoutNotPositive(t *testing.T) {
	nstest.RequireRoot(t)
	ns, _, changed := confirmSetup(t)
	before := kernelText(t, ns)
	for _, d := range []string{"-5s", "0s", "0"} {
		r := mustExit(t, 1, "apply", "-f", changed, "--netns", ns, "--auto-approve", "--confirm-timeout", d)
		if !strings.Contains(r.stderr, "--confirm-timeout") || !strings.Contains(r.stderr, "must be more than 0") {
			t.Errorf("--confirm-timeout %s: %s", d, r)
		}
		if got := kernelText(t, ns); got != before {
			t.Fatalf("--confirm-timeout %s changed the kernel:\n%s", d, got)
		}
	}
}

// TestConfirmWithNoWaiter: an apply waiting for confirmation was killed;
// its journal says it waits, but nobody does. confirm says so, exit 1, and
// the change is still rolled back by the next apply.
func TestConfirmWithNoWaiter(t *testing.T) {
	nstest.RequireRoot(t)
	ns, before, changed := confirmSetup(t)
	if r := netctl(t, "confirm", "--netns", ns); r.code != 1 || !strings.Contains(r.stderr, "no apply is waiting") {
		t.Errorf("confirm before any wait: %s", r)
	}
	p := start(t, "apply", "-f", changed, "--netns", ns, "--auto-approve", "--confirm-timeout", "10m")
	p.waitLine(t, "Confirm within", 30*time.Second)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(t, 30*time.Second)
	r := netctl(t, "confirm", "--netns", ns)
	if r.code != 1 || !strings.Contains(r.stderr, "no apply is waiting for confirmation") || !strings.Contains(r.stderr, "did not finish") ||
		strings.Contains(r.stdout, "Confirmation sent") {
		t.Errorf("confirm with the waiter dead: %s", r)
	}
	// Not confirmed: the next apply rolls it back.
	mustExit(t, 0, "apply", "-f", writeFile(t, t.TempDir(), "base.yaml", confirmBase), "--netns", ns, "--auto-approve")
	if got := liveState(t, ns, "docker0", "br-new"); got != before {
		t.Errorf("the unconfirmed change was kept:\n%s", got)
	}
}
