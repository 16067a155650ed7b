//go:build unix

package wsconn

import "syscall"

// canTry: a socket is a file descriptor, which tryWriter writes to.
const canTry = true

// writeFd writes t.p to the non-blocking socket fd once, and reports that
// it is done, whatever happened: the caller waits, if need be, itself.
func (t *tryWriter) writeFd(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), t.p)
		if err == syscall.EINTR {
			continue
		}
		t.n, t.err = max(n, 0), err
		return true
	}
}
