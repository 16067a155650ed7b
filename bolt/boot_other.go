//go:build !linux

package bolt

// bootID returns "" where the boot cannot be told apart from the last one:
// a NoSync session that ended without Close then always starts a new
// epoch.
func bootID() string { return "" }
