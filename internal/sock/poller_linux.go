package sock

import (
	"errors"
	"sync"
	"syscall"
)

// Poller watches sockets for readability with one epoll instance and one
// goroutine, so that an idle connection holds no goroutine at all: its
// Reader exists only while the peer is sending something. Sockets are
// watched one-shot: after a callback, nothing more comes until the
// Reader re-arms.
//
// Every epoll_ctl on a socket runs inside syscall.RawConn.Control, which
// holds the file open meanwhile: a closed socket's number, reused by
// another connection, can never be touched. Closing a socket removes it
// from the epoll set by itself.
type Poller struct {
	epfd   int
	wakeR  int // a pipe's read end, in the set: a byte on it stops the loop
	wakeW  int
	mu     sync.Mutex
	next   uint64
	ready  map[uint64]*Reader // key → reader, called back on the Poller's goroutine
	closed bool
	done   chan struct{}
}

const wakeKey = 0

func NewPoller() (*Poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		_ = syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	setKey(&ev, wakeKey)
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p[0], &ev); err != nil {
		_ = syscall.Close(epfd)
		_ = syscall.Close(p[0])
		_ = syscall.Close(p[1])
		return nil, err
	}
	pl := &Poller{epfd: epfd, wakeR: p[0], wakeW: p[1], next: wakeKey + 1,
		ready: make(map[uint64]*Reader), done: make(chan struct{})}
	go pl.loop()
	return pl, nil
}

// setKey and key store a 64-bit key in an event's data (Fd and Pad).
func setKey(ev *syscall.EpollEvent, k uint64) {
	ev.Fd, ev.Pad = int32(uint32(k)), int32(uint32(k>>32))
}

func keyOf(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// watch adds the socket rc to the set, to call r.fire (on the Poller's
// goroutine: it must not block) when it is readable, and sets r.key, to
// re-arm and forget it with, before that can happen. Unless armed is set
// the socket is added as a one-shot watch that has already fired: no
// event comes (not even a hang-up) until rearm.
func (p *Poller) watch(rc syscall.RawConn, r *Reader, armed bool) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrPollerClosed
	}
	k := p.next
	p.next++
	p.ready[k] = r
	r.key = k
	p.mu.Unlock()
	events := uint32(pollEvents)
	if !armed {
		events = syscall.EPOLLONESHOT // no event bit: disabled, as after a one-shot event
	}
	err := p.ctl(rc, syscall.EPOLL_CTL_ADD, k, events)
	if err != nil {
		p.forget(k)
	}
	return err
}

// rearm watches the socket rc again, once, after a callback.
func (p *Poller) rearm(rc syscall.RawConn, k uint64) error {
	return p.ctl(rc, syscall.EPOLL_CTL_MOD, k, pollEvents)
}

func (p *Poller) ctl(rc syscall.RawConn, op int, k uint64, events uint32) error {
	var opErr error
	err := rc.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: events}
		setKey(&ev, k)
		opErr = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
	})
	if err != nil {
		return err
	}
	return opErr
}

// forget drops k's callback; the socket itself leaves the set when it is
// closed.
func (p *Poller) forget(k uint64) {
	p.mu.Lock()
	delete(p.ready, k)
	p.mu.Unlock()
}

func (p *Poller) loop() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return
		}
		for i := range n {
			k := keyOf(&events[i])
			if k == wakeKey {
				return
			}
			p.mu.Lock()
			r := p.ready[k]
			p.mu.Unlock()
			if r != nil {
				r.fire()
			}
		}
	}
}

// Close stops the Poller's goroutine and releases its descriptors, once
// no socket is watched any more. Idempotent, and safe to call
// concurrently: every call returns once the goroutine has exited.
func (p *Poller) Close() {
	p.mu.Lock()
	first := !p.closed
	p.closed = true
	p.mu.Unlock()
	if !first {
		<-p.done
		return
	}
	_, _ = syscall.Write(p.wakeW, []byte{1})
	<-p.done
	_ = syscall.Close(p.epfd)
	_ = syscall.Close(p.wakeR)
	_ = syscall.Close(p.wakeW)
}
