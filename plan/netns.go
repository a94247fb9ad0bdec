package plan

import "fmt"

// NamespaceID is a network namespace's identity: the device and inode of its
// nsfs file. Two names (or a name and the current namespace) with one
// identity are one namespace. Locks, journals and saved plan files are keyed
// by it, never by the name a person typed.
type NamespaceID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// String is the identity as a file-name-safe key, e.g. "netns-4-4026532451".
func (id NamespaceID) String() string { return fmt.Sprintf("netns-%d-%d", id.Dev, id.Ino) }

// IsZero reports an identity that was never read.
func (id NamespaceID) IsZero() bool { return id == NamespaceID{} }
