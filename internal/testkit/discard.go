package testkit

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Discarder is a benchmark's raw client: it sends a request head itself
// and then reads the connection's bytes into a fixed buffer and throws
// them away. It parses nothing and allocates nothing per read, so what a
// benchmark measures is the server's work, not a client library's.
type Discarder struct {
	conn net.Conn
	done chan struct{} // closed when the read loop has ended
}

// DialDiscard sends a GET for url (http://host/path) with the extra
// header lines (each ending in "\r\n"), checks the response head with
// check, and then reads and discards the connection's bytes until it is
// closed. Close stops it.
func DialDiscard(url, header string, check func(*http.Response) error) (*Discarder, error) {
	host, path, _ := strings.Cut(strings.TrimPrefix(url, "http://"), "/")
	conn, err := net.DialTimeout("tcp", host, 10*time.Second)
	if err != nil {
		return nil, err
	}
	req := fmt.Sprintf("GET /%s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, host, header)
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	fail := func(err error) (*Discarder, error) {
		_ = conn.Close()
		return nil, err
	}
	if _, err := conn.Write([]byte(req)); err != nil {
		return fail(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fail(err)
	}
	if err := check(resp); err != nil {
		return fail(err)
	}
	// Not resp.Body.Close: for a streaming response it would read on.
	_ = conn.SetDeadline(time.Time{})
	d := &Discarder{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		// Larger than br's buffer: once br is empty, each Read goes
		// straight to the socket into buf.
		buf := make([]byte, 16<<10)
		for {
			if _, err := br.Read(buf); err != nil {
				return
			}
		}
	}()
	return d, nil
}

// Close closes the connection and waits for the read loop to end.
func (d *Discarder) Close() {
	_ = d.conn.Close()
	<-d.done
}
