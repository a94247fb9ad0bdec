package plan

import "fmt"

// ForeignTableError is the refusal of a plan that needs netctl's table when
// a table of that name exists that netctl did not make.
type ForeignTableError struct{}

func (ForeignTableError) Error() string {
	return fmt.Sprintf("table %s %s exists and was not created by netctl (it lacks the comment %q); "+
		"netctl will not take it over or delete it: if it may go, delete it (nft delete table %s %s) and run netctl again",
		TableFamily, TableName, Owner, TableFamily, TableName)
}

// Conflicts returns why desired must not be planned against live at all:
// the file wants netctl's table and a table of that name is someone else's.
// Without a firewall in the file, such a table is simply not netctl's, and
// left alone.
func Conflicts(desired, live State) error {
	if desired.Firewall != nil && live.Firewall != nil && !live.Firewall.Owned() {
		return ForeignTableError{}
	}
	return nil
}
