package apply

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/netctl/netctl/internal/atomicfile"
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
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Netns   string    `json:"netns"`
	// NetnsID is the identity of the namespace the apply ran in: a journal
	// is rolled back only there.
	NetnsID plan.NamespaceID `json:"netns_id"`
	// NetnsCookie is the namespace's cookie, 0 if unknown: the kernel
	// gives a deleted namespace's identity to the next one, never its
	// cookie.
	NetnsCookie uint64     `json:"netns_cookie,omitempty"`
	Before      plan.State `json:"before"`
	Scope       plan.Scope `json:"desired_scope"`
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

func journalPath(dir string, id plan.NamespaceID) string {
	return stateFile(dir, id, ".journal")
}

// writeJournal replaces the journal atomically, never through a file or
// symlink planted in the state directory (atomicfile).
func writeJournal(path string, j journal) error {
	data, err := json.Marshal(j)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o600)
}

// journalUnreadable is what plan warns and apply refuses with: a journal
// netctl cannot use is neither rolled back nor removed, it is for a person
// to look at.
func journalUnreadable(path string, err error) error {
	return fmt.Errorf("journal %s is unreadable (%v): check the live state and remove %s by hand; apply refuses to run until then", path, err, path)
}

// readJournal reads the journal at path: nil when there is none.
func readJournal(path string) (*journal, error) {
	f, err := openStateFile(path, os.O_RDONLY)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if errors.Is(err, os.ErrPermission) {
		// Not the journal's fault: netctl runs without root.
		return nil, fmt.Errorf("reading the journal: %w (netctl must run as root)", err)
	}
	if err != nil {
		return nil, journalUnreadable(path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, journalUnreadable(path, err)
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, journalUnreadable(path, err)
	}
	return &j, nil
}

// checkNamespace refuses a journal written for another namespace than the
// one at hand: rolling it back would write one namespace's old state into
// another. cookie is the namespace's cookie, 0 if unknown.
func (j *journal) checkNamespace(path string, id plan.NamespaceID, cookie uint64, netns string) error {
	if j.NetnsID == id && (j.NetnsCookie == 0 || cookie == 0 || j.NetnsCookie == cookie) {
		return nil
	}
	if j.NetnsID == id {
		return fmt.Errorf("journal %s was written for namespace %s, which no longer exists: the kernel gave its identity to namespace %s; netctl touched nothing; remove %s by hand; apply refuses to run until then",
			path, displayNS(j.Netns, j.NetnsID), displayNS(netns, id), path)
	}
	return fmt.Errorf("journal %s was written for namespace %s, not for namespace %s: netctl touched nothing; roll that namespace back with it or remove %s by hand; apply refuses to run until then",
		path, displayNS(j.Netns, j.NetnsID), displayNS(netns, id), path)
}

// legacyJournalPath is where a netctl before identity keying kept the
// journal of the namespace named netns.
func legacyJournalPath(dir, netns string) string {
	key := strings.ReplaceAll(netns, "..", "_")
	if netns == "" {
		key = "default"
	}
	return filepath.Join(dir, key+".journal")
}

// checkLegacyJournal refuses to run while a journal an older netctl left
// under the namespace's name is there: its namespace cannot be proved (the
// name was its only key), and ignoring it would leave a killed apply's
// change in place unannounced.
func checkLegacyJournal(dir, netns string) error {
	path := legacyJournalPath(dir, netns)
	if _, err := os.Lstat(path); err != nil {
		return nil
	}
	return fmt.Errorf("journal %s was left by an older netctl, which named journals by namespace name: it may be of another namespace, so netctl touched nothing; roll it back with that netctl, or check the live state and remove %s by hand; apply refuses to run until then",
		path, path)
}

func removeJournal(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(path))
}
