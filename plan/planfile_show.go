package plan

import "fmt"

// Plan is the saved plan as `netctl show PLANFILE` renders it: the changes
// recomputed from the file's desired and live states, which are the
// changes the file shows (checked, as apply checks them), now with their
// values typed as netctl plan had them. name is the file's name for the
// errors.
func (f File) Plan(name string) (*Plan, error) {
	desired, err := Resolve(f.Desired, f.Live)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := Diff(desired, f.Live)
	diff, err := f.DiffChanges(p.Changes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if diff != "" {
		return nil, fmt.Errorf("%s: this netctl does not make the changes the plan file shows: %s", name, diff)
	}
	return p, nil
}
