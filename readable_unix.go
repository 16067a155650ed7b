//go:build linux || darwin || freebsd || netbsd || openbsd

package fanout

import "syscall"

// peekReadable is a syscall.RawConn.Read callback that reports whether fd
// has data (or an end) to read, without taking any: false makes the
// runtime park the caller until the socket is readable, then ask again.
func peekReadable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
}
