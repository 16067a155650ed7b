//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package fanout

// peekReadable reports the socket readable at once where MSG_PEEK is not
// at hand: the read then blocks as it would have.
func peekReadable(uintptr) bool { return true }
