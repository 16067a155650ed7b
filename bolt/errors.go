package bolt

import "errors"

var (
	// ErrDamaged is wrapped by the error of an Open (or a Read) that
	// found the file damaged: not a bbolt file, cut short, pages
	// overwritten, or contents that do not follow this package's layout.
	// Delete the file to start over; clients then resync.
	ErrDamaged = errors.New("fanout/bolt: store file is damaged")

	// ErrLocked is wrapped by the error of an Open that waited
	// Options.LockTimeout for another process (or another Store of this
	// one) to close the file.
	ErrLocked = errors.New("fanout/bolt: store file is locked by another process")
)
