//go:build linux || darwin || freebsd || netbsd || openbsd

package sock

import (
	"io"
	"syscall"
)

// PeekReadable is a syscall.RawConn.Read callback that reports whether fd
// has data (or an end) to read, without taking any: false makes the
// runtime park the caller until the socket is readable, then ask again.
func PeekReadable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
}

// RecvNow reads what the socket rc holds now into b, without waiting:
// with peek set it leaves the bytes there. It returns io.EOF when the
// peer has closed its side, and 0, nil when there is nothing.
func RecvNow(rc syscall.RawConn, b []byte, peek bool) (int, error) {
	flags := syscall.MSG_DONTWAIT
	if peek {
		flags |= syscall.MSG_PEEK
	}
	var n int
	var rerr error
	err := rc.Control(func(fd uintptr) {
		for {
			n, _, rerr = syscall.Recvfrom(int(fd), b, flags)
			if rerr != syscall.EINTR {
				return
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK:
		return 0, nil
	case rerr != nil:
		return 0, rerr
	case n == 0 && len(b) > 0:
		return 0, io.EOF
	}
	return n, nil
}
