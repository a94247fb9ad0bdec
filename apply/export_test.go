package apply

import "github.com/netctl/netctl/schema"

// SampleConfig is the file the fake-kernel tests use; the root tests of
// apply_test use the same one.
func SampleConfig() *schema.Config { return fakeConfig() }

// FailConfirmingJournal makes the write of a journal marked as waiting for
// confirmation fail with err (a full disk), until restore is called.
func FailConfirmingJournal(err error) (restore func()) {
	old := writeJournalFile
	writeJournalFile = func(path string, j journal) error {
		if j.Confirming {
			return err
		}
		return old(path, j)
	}
	return func() { writeJournalFile = old }
}

// ConfirmPath is where netctl confirm drops its confirmation.
func ConfirmPath(opts Options) string { return confirmPath(opts.StateDir, opts.NetnsID) }
