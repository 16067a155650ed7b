//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package sock

import "syscall"

// PeekReadable reports the socket readable at once where MSG_PEEK is not
// at hand: the read then blocks as it would have.
func PeekReadable(uintptr) bool { return true }

// RecvNow is not needed where there is no Poller.
func RecvNow(syscall.RawConn, []byte, bool) (int, error) { return 0, ErrNoPoller }
