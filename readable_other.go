//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package fanout

import "syscall"

// peekReadable reports the socket readable at once where MSG_PEEK is not
// at hand: the read then blocks as it would have.
func peekReadable(uintptr) bool { return true }

// recvNow is not needed where there is no poller.
func recvNow(syscall.RawConn, []byte, bool) (int, error) { return 0, errNoPoller }
