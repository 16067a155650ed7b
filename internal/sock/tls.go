package sock

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// PollableTLS returns the *tls.Conn under c's read-transparent wrappers
// (see Unwrap) and the socket under it, when a Poller can watch that
// socket (see Pollable: the connection tc.NetConn returns may itself be
// wrapped). The socket's readiness says nothing of what tc has already
// read off it, records whole or in part: a reader hands the socket to the
// Poller only once ReadBuffered finds nothing above it.
func PollableTLS(c net.Conn) (*tls.Conn, syscall.RawConn, bool) {
	tc, ok := Unwrap(c).(*tls.Conn)
	if !ok {
		return nil, nil, false
	}
	rc, ok := Pollable(tc.NetConn())
	return tc, rc, ok
}

// ReadBuffered reads into b what tc can return without reading its
// socket: plaintext it holds, or records it holds whole, decrypted. It
// returns 0, nil when there is none: a record that has arrived only in
// part stays in tc's buffer, and the socket becomes readable when more of
// it comes.
//
// It reads with a read deadline already past, which the socket's Read
// reports before it reads anything, and which crypto/tls does not keep as
// the connection's error (its readRecord keeps only errors that are not
// Temporary, and a deadline's is); then it clears the deadline. It must
// not run alongside another Read of tc, nor while a read deadline set by
// someone else must hold.
func ReadBuffered(tc *tls.Conn, b []byte) (int, error) {
	if err := tc.SetReadDeadline(time.Unix(1, 0)); err != nil {
		return 0, err
	}
	n, err := tc.Read(b)
	_ = tc.SetReadDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return n, err
}
