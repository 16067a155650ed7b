package bolt

import "time"

// OpenClock is Open with a clock of the test's, for the age bound.
func OpenClock(path string, opts *Options, now func() time.Time) (*Store, error) {
	return open(path, opts, now)
}
