package fanout

import (
	"errors"
	"net"
	"syscall"
)

var (
	errPollerClosed = errors.New("fanout: poller closed")
	errNoPoller     = errors.New("fanout: no poller on this platform")
)

// poller returns the core's poller, starting it on first use, or nil
// where there is none (see poller_linux.go): subscribers then keep a
// reader goroutine each.
func (c *core) poller() *poller {
	c.pollOnce.Do(func() {
		p, err := newPoller()
		if err != nil {
			if !errors.Is(err, errNoPoller) {
				c.opts.Logger.Warn("fanout: no poller for idle connections", "err", err)
			}
			return
		}
		c.poll = p
	})
	return c.poll
}

// closePoller stops the poller, once no subscription is left.
func (c *core) closePoller() {
	c.pollOnce.Do(func() {}) // none is started after this
	if c.poll != nil {
		c.poll.close()
	}
}

// pollable returns the socket of c when the poller can watch it: a plain
// TCP connection (not TLS, not wrapped: their bytes may wait in a buffer
// of theirs that the socket's readiness does not show).
func pollable(c net.Conn) (syscall.RawConn, bool) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil, false
	}
	rc, err := tc.SyscallConn()
	return rc, err == nil
}
