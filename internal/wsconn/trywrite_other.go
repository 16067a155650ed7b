//go:build !unix

package wsconn

// canTry: sockets are not Unix file descriptors here, so no tryWriter is
// made, and every write waits as net.Conn.Write does, under a deadline.
const canTry = false

func (t *tryWriter) writeFd(uintptr) bool { return true } // never called
