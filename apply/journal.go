package apply

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/netctl/netctl/plan"
)

// journal is written, and synced, before an apply's first step. It holds the
// live state before the apply: the undo of every step is to bring that step's
// object back to it. It is removed after success; found at start, it means an
// apply was killed.
//
// Of the desired state it holds only the scope (the sysctls and bridges it
// names): a rollback must look at them too, and needs nothing else of it.
// With 100,000 links to create, the desired state was most of the journal.
type journal struct {
	PID     int        `json:"pid"`
	Started time.Time  `json:"started"`
	Netns   string     `json:"netns"`
	Before  plan.State `json:"before"`
	Scope   plan.Scope `json:"desired_scope"`
	// Desired is read from the journal of an older netctl, for its scope.
	Desired *plan.State `json:"desired,omitempty"`
	Steps   []string    `json:"steps"`
	// Confirming is set while an applied change waits for confirmation
	// (apply --confirm-timeout): the journal is kept until then.
	Confirming bool `json:"confirming,omitempty"`
}

// rollbackScope is what the rollback of this journal must look at:
// everything the state before and the desired state name.
func (j *journal) rollbackScope() plan.Scope {
	scope := j.Scope
	if j.Desired != nil {
		scope = mergeScopes(scope, j.Desired.Scope())
	}
	return mergeScopes(j.Before.Scope(), scope)
}

func journalPath(dir, netns string) string {
	return filepath.Join(dir, nsKey(netns)+".journal")
}

func writeJournal(path string, j journal) error {
	data, err := json.Marshal(j)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func readJournal(path string) (*journal, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("journal %s is unreadable (%v): remove it by hand after checking the state", path, err)
	}
	return &j, nil
}

func removeJournal(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(path))
}
