//go:build linux

package harness

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy is a TCP proxy on a loopback port in front of a server: it can
// add latency to every byte in both directions, and freeze the
// connections it carries (they stay open, nothing passes), as a network
// that silently stops delivering does.
type Proxy struct {
	ln     net.Listener
	target atomic.Pointer[string] // where new connections go
	delay  atomic.Int64           // time.Duration added to each chunk, each way
	marker atomic.Pointer[[]byte] // see FreezeOn

	mu     sync.Mutex
	links  map[*link]struct{}
	closed bool
	wg     sync.WaitGroup
}

// link is one proxied connection.
type link struct {
	client, server net.Conn
	frozen         atomic.Bool
	dead           atomic.Bool // a side failed: both are being closed
	subscriber     atomic.Bool // the client sent a SUBSCRIBE or SSUBSCRIBE
}

// StartProxy starts a proxy to target on a free loopback port. Close
// stops it.
func StartProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, links: map[*link]struct{}{}}
	p.target.Store(&target)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the proxy's address, for clients.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetTarget sends the connections made from now on to target (as a
// failover moves a service's address to another server); open ones stay
// where they are (CutAll closes them).
func (p *Proxy) SetTarget(target string) { p.target.Store(&target) }

// SetDelay makes every chunk of bytes wait d before it is forwarded, in
// each direction: a round trip gains 2d. Throughput is not limited.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// Freeze stops forwarding on the connections open now, without closing
// them; new connections are not affected.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		l.frozen.Store(true)
	}
}

// FreezeOn freezes, before forwarding it, the connection on which the
// client next sends bytes containing marker (the first only): a command
// then waits on a connection that has stopped moving, while the client's
// other connections go on.
func (p *Proxy) FreezeOn(marker []byte) { p.marker.Store(&marker) }

// Thaw resumes forwarding on every frozen connection.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		l.frozen.Store(false)
	}
}

// FreezeSubscribers stops forwarding on the open connections whose
// client subscribed to a channel (SUBSCRIBE or SSUBSCRIBE), without
// closing them: a subscription that silently stops delivering, as after
// a failover that left the connection up (centrifugo#1189).
func (p *Proxy) FreezeSubscribers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for l := range p.links {
		if l.subscriber.Load() {
			l.frozen.Store(true)
			n++
		}
	}
	return n
}

// Conns returns how many connections the proxy carries now.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// CutAll closes every connection the proxy carries.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		l.dead.Store(true)
		_ = l.client.Close()
		_ = l.server.Close()
	}
}

// Close stops the proxy, closes its connections and waits for its
// goroutines. Idempotent.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.ln.Close()
	p.CutAll()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", *p.target.Load())
		if err != nil {
			_ = c.Close()
			continue
		}
		l := &link{client: c, server: s}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			_ = s.Close()
			return
		}
		p.links[l] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(l, c, s)
		go p.pipe(l, s, c)
	}
}

// chunk is bytes read, and when they may be written.
type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies from src to dst, each chunk after the delay, until either
// side fails; then it closes both. When src closes in order (EOF), what
// it sent before is delivered first.
func (p *Proxy) pipe(l *link, src, dst net.Conn) {
	defer p.wg.Done()
	q := make(chan chunk, 1024)
	var writer sync.WaitGroup
	writer.Go(func() {
		for c := range q {
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d) // the latency being simulated
			}
			for l.frozen.Load() && !l.dead.Load() {
				time.Sleep(10 * time.Millisecond) // frozen until the link is closed
			}
			if _, err := dst.Write(c.b); err != nil {
				break
			}
		}
		for range q { // drain, so the reader never blocks
		}
	})
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && src == l.client && bytes.Contains(buf[:n], []byte("SUBSCRIBE")) {
			l.subscriber.Store(true)
		}
		if m := p.marker.Load(); n > 0 && src == l.client && m != nil && bytes.Contains(buf[:n], *m) &&
			p.marker.CompareAndSwap(m, nil) {
			l.frozen.Store(true) // before these bytes are queued
		}
		if n > 0 {
			q <- chunk{b: append([]byte(nil), buf[:n]...), due: time.Now().Add(time.Duration(p.delay.Load()))}
		}
		if err != nil {
			if errors.Is(err, io.EOF) && !l.dead.Load() {
				// An orderly close: what src sent before it still
				// arrives (after a freeze, when thawed), as over TCP.
				close(q)
				writer.Wait()
				q = nil
			}
			break
		}
	}
	l.dead.Store(true)
	_ = src.Close()
	_ = dst.Close()
	if q != nil {
		close(q)
	}
	writer.Wait()
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}
