package sock_test

import (
	"net"
	"testing"

	"github.com/fanout-go/fanout/internal/sock"
	"github.com/fanout-go/fanout/internal/testkit"
)

// unwrapper promises, by Unwrap, to keep no read bytes of its own.
type unwrapper struct{ net.Conn }

func (u unwrapper) Unwrap() net.Conn { return u.Conn }

// netConner gives its connection only through NetConn, as *tls.Conn does.
type netConner struct{ net.Conn }

func (u netConner) NetConn() net.Conn { return u.Conn }

// cycle unwraps to itself.
type cycle struct{ net.Conn }

func (c *cycle) Unwrap() net.Conn { return c }

// TestPollable_Unwrap: Pollable sees through Unwrap wrappers, nested, but
// not through NetConn (which promises nothing about buffering), a wrapper
// without either, a nil Unwrap or a cycle; TCPOf sees through both.
func TestPollable_Unwrap(t *testing.T) {
	_, tc := testkit.TCPPair(t)
	for _, c := range []struct {
		name     string
		conn     net.Conn
		pollable bool
		tcp      bool // TCPOf reaches tc
	}{
		{"bare", tc, true, true},
		{"unwrap", unwrapper{tc}, true, true},
		{"unwrap twice", unwrapper{unwrapper{tc}}, true, true},
		{"netconn", netConner{tc}, false, true},
		{"unwrap over netconn", unwrapper{netConner{tc}}, false, true},
		{"opaque", struct{ net.Conn }{tc}, false, false},
		{"nil unwrap", unwrapper{}, false, false},
		{"cycle", &cycle{tc}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, ok := sock.Pollable(c.conn); ok != c.pollable {
				t.Errorf("Pollable: %v, want %v", ok, c.pollable)
			}
			if got := sock.TCPOf(c.conn) == net.Conn(tc); got != c.tcp {
				t.Errorf("TCPOf reaches the socket: %v, want %v", got, c.tcp)
			}
		})
	}
}
