package fanout

import (
	"errors"

	"github.com/fanout-go/fanout/internal/sock"
)

// poller returns the core's poller, starting it on first use, or nil
// where there is none (see internal/sock): subscribers then keep a
// reader goroutine each.
func (c *core) poller() *sock.Poller {
	c.pollOnce.Do(func() {
		p, err := sock.NewPoller()
		if err != nil {
			if !errors.Is(err, sock.ErrNoPoller) {
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
		c.poll.Close()
	}
}
