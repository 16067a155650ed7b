package main

import (
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// countingListener counts the Write calls made on the connections it
// accepts: the server's socket writes. One Write counts once however many
// system calls the kernel needs for it, and so does one writev.
//
// Wrapping a connection hides its concrete type (*net.TCPConn). Peers that
// write through a bufio.Writer or http.ResponseWriter do not care, but
// fanout's Hub does: it writes a batch with one writev only to a
// *net.TCPConn and would copy the batch into one buffer for anything else.
// The fanout Hub rows are therefore served by a bare listener, and their
// writes are read from Hub.Stats().Writes, which counts the same thing (one
// per writev that carried data). syscalls() gives every row a second,
// wrapper-free count.
type countingListener struct {
	net.Listener
	writes atomic.Uint64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: &l.writes}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Uint64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}

// syscalls returns the process's count of write system calls (write and
// writev) from /proc/self/io, or 0 where there is none. During a run only
// the servers write (the clients send nothing after their handshake), but
// the Go runtime's own wake-ups of its network poller are counted too, so
// it is a cross-check, not the figure.
func syscalls() uint64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
