package sock

import "net"

// A connection whose peer does not read keeps, once closed normally, its
// unsent data in the kernel: the socket lingers, orphaned in FIN-WAIT-1,
// with its send buffer full (megabytes, with autotuning), for as long as
// the peer keeps the connection open. Closing it with SO_LINGER 0 instead
// aborts it (RST): the kernel frees it at once. The peer loses what it had
// not read, which it was not reading anyway.

// AbortOnClose makes closing c abort it with a reset instead of the normal
// close, where c is (or wraps, through NetConn, as *tls.Conn does) a TCP
// connection. It is best effort: other connections close normally.
func AbortOnClose(c net.Conn) {
	if l, ok := TCPOf(c).(interface{ SetLinger(int) error }); ok {
		_ = l.SetLinger(0)
	}
}

// TCPOf returns the connection under c's wrappers (those with a NetConn
// method, like *tls.Conn, or an Unwrap method, see Unwrap), or c. Unlike
// Pollable it follows wrappers that buffer reads: it is for the socket's
// options and counters, not its bytes.
func TCPOf(c net.Conn) net.Conn {
	for range 8 { // wrappers do not nest deeper; a cycle must not hang us
		var inner net.Conn
		switch u := c.(type) {
		case interface{ NetConn() net.Conn }:
			inner = u.NetConn()
		case interface{ Unwrap() net.Conn }:
			inner = u.Unwrap()
		}
		if inner == nil {
			break
		}
		c = inner
	}
	return c
}
