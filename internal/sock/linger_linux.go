package sock

import (
	"net"
	"syscall"
	"unsafe"
)

// Unacked returns how many bytes written to c its peer has not yet
// acknowledged (sent or not), or 0 when that cannot be told.
func Unacked(c net.Conn) int {
	sc, ok := TCPOf(c).(syscall.Conn)
	if !ok {
		return 0
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	var n int32
	_ = rc.Control(func(fd uintptr) {
		_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n)))
		if errno != 0 {
			n = 0
		}
	})
	return int(n)
}
