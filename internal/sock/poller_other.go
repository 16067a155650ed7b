//go:build !linux

package sock

import "syscall"

// Poller is Linux's epoll set; elsewhere there is none (NewPoller fails
// with ErrNoPoller), and each connection keeps a reader goroutine.
type Poller struct{}

func NewPoller() (*Poller, error) { return nil, ErrNoPoller }

func (*Poller) watch(syscall.RawConn, *Reader, bool) error { return ErrNoPoller }
func (*Poller) rearm(syscall.RawConn, uint64) error        { return ErrNoPoller }
func (*Poller) forget(uint64)                              {}
func (*Poller) Close()                                     {}
