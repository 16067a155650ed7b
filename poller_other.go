//go:build !linux

package fanout

import "syscall"

// poller is Linux's epoll set; elsewhere there is none, and each idle
// subscriber keeps a reader goroutine.
type poller struct{}

func newPoller() (*poller, error) { return nil, errNoPoller }

func (*poller) watch(syscall.RawConn, *pollReader, bool) error { return errNoPoller }
func (*poller) rearm(syscall.RawConn, uint64) error            { return errNoPoller }
func (*poller) forget(uint64)                                  {}
func (*poller) close()                                         {}
