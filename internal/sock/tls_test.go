package sock_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/fanout-go/fanout/internal/sock"
	"github.com/fanout-go/fanout/internal/testkit"
)

// tlsPair returns both ends of a TLS connection over loopback TCP, after
// their handshake; the client writes through cut (see cutConn).
func tlsPair(t *testing.T) (client *tls.Conn, server *tls.Conn, cut *cutConn, serverTCP *net.TCPConn) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.StartTLS() // for its certificate
	cert, roots := srv.TLS.Certificates[0], x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	srv.Close()

	c, s := testkit.TCPPair(t)
	cut = &cutConn{Conn: c}
	client = tls.Client(cut, &tls.Config{RootCAs: roots, ServerName: "example.com"})
	server = tls.Server(s, &tls.Config{Certificates: []tls.Certificate{cert}})
	done := make(chan error, 1)
	go func() { done <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return client, server, cut, s
}

// cutConn writes the first at bytes of its next Write, then waits for
// resume before it writes the rest.
type cutConn struct {
	net.Conn
	at     int
	cut    chan struct{} // closed once the first part is written
	resume chan struct{}
}

func (c *cutConn) Write(p []byte) (int, error) {
	if c.at <= 0 || c.at >= len(p) {
		return c.Conn.Write(p)
	}
	n, err := c.Conn.Write(p[:c.at])
	c.at = 0
	close(c.cut)
	if err != nil {
		return n, err
	}
	<-c.resume
	m, err := c.Conn.Write(p[n:])
	return n + m, err
}

// queued returns how many bytes wait in the server's socket.
func queued(t *testing.T, rc syscall.RawConn) int {
	t.Helper()
	var b [4096]byte
	n, err := sock.RecvNow(rc, b[:], true)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// readAll reads what ReadBuffered returns, until it returns nothing.
func readAll(t *testing.T, tc *tls.Conn) string {
	t.Helper()
	var out []byte
	var b [3]byte // small: what a Read leaves behind is read by the next
	for {
		n, err := sock.ReadBuffered(tc, b[:])
		if err != nil {
			t.Fatalf("ReadBuffered: %v", err)
		}
		if n == 0 {
			return string(out)
		}
		out = append(out, b[:n]...)
	}
}

// TestReadBuffered: ReadBuffered returns what crypto/tls holds, never
// reads the socket, and leaves the connection readable: its deadline's
// timeout is not kept as the connection's error; and a record that has
// arrived in part stays in crypto/tls while the socket, empty, becomes
// readable when the rest comes.
func TestReadBuffered(t *testing.T) {
	client, server, cut, stcp := tlsPair(t)
	tc, rc, ok := sock.PollableTLS(server)
	if !ok || tc != server {
		t.Fatal("PollableTLS refuses a *tls.Conn over TCP")
	}
	if _, _, ok := sock.PollableTLS(stcp); ok {
		t.Fatal("PollableTLS takes a plain TCP connection")
	}
	if _, ok := sock.Pollable(server); ok {
		t.Fatal("Pollable takes a *tls.Conn")
	}
	waitQueued := func(n int) {
		t.Helper()
		testkit.Eventually(t, 10*time.Second, func() bool { return queued(t, rc) >= n }, "%d bytes in the socket", n)
	}

	if got := readAll(t, server); got != "" {
		t.Fatalf("nothing sent: ReadBuffered returned %q", got)
	}
	// A record in the socket, none above it: ReadBuffered does not read it.
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	waitQueued(1)
	if got := readAll(t, server); got != "" {
		t.Fatalf("ReadBuffered read the socket: %q", got)
	}
	var b [64]byte
	n, err := server.Read(b[:]) // the deadline's timeout was not kept
	if err != nil || string(b[:n]) != "hello" {
		t.Fatalf("Read after ReadBuffered: %q, %v", b[:n], err)
	}

	// Two records, both read off the socket by a Read that returns part
	// of the first: ReadBuffered returns the rest of both.
	if _, err := client.Write([]byte("abcdef")); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("ghij")); err != nil {
		t.Fatal(err)
	}
	waitQueued((5 + 6 + 1 + 16) + (5 + 4 + 1 + 16)) // two TLS 1.3 records: header, data, type, tag
	n, err = server.Read(b[:2])
	if err != nil || string(b[:n]) != "ab" {
		t.Fatalf("Read: %q, %v", b[:n], err)
	}
	if queued(t, rc) != 0 {
		t.Fatal("crypto/tls left bytes in the socket") // the premise of the next check
	}
	if got := readAll(t, server); got != "cdefghij" {
		t.Fatalf("ReadBuffered after a part of a record: %q, want %q", got, "cdefghij")
	}

	// A record that arrives in part: a Read takes the part, ReadBuffered
	// finds nothing whole, the socket is empty until the rest comes, then
	// readable, and the record is read whole.
	cut.at, cut.cut, cut.resume = 9, make(chan struct{}), make(chan struct{})
	wrote := make(chan error, 1)
	go func() { _, err := client.Write([]byte("split record")); wrote <- err }()
	<-cut.cut
	waitQueued(9)
	_ = server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := server.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read of a record in part: %v, want a timeout", err)
	}
	_ = server.SetReadDeadline(time.Time{})
	if queued(t, rc) != 0 {
		t.Fatal("the part is still in the socket")
	}
	if got := readAll(t, server); got != "" {
		t.Fatalf("ReadBuffered of a record in part: %q", got)
	}
	close(cut.resume)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	waitQueued(1) // the rest makes the socket readable
	n, err = server.Read(b[:])
	if err != nil || string(b[:n]) != "split record" {
		t.Fatalf("Read of the record's rest: %q, %v", b[:n], err)
	}
}
