package main

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// proxy is a TCP proxy between one node and Redis: it can add latency to
// every chunk of bytes, each way. When either side closes (CLIENT KILL,
// a Redis restart, the node killed), it closes the other.
type proxy struct {
	ln     net.Listener
	target atomic.Pointer[string] // where new connections go
	delay  atomic.Int64           // time.Duration added to each chunk, each way

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func startProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, conns: map[net.Conn]struct{}{}}
	p.target.Store(&target)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// setDelay makes every chunk wait d before it is forwarded, each way: a
// round trip gains 2d.
func (p *proxy) setDelay(d time.Duration) { p.delay.Store(int64(d)) }

// setTarget sends the connections made from now on to target (a
// failover); cut closes the open ones.
func (p *proxy) setTarget(target string) { p.target.Store(&target) }

// cut closes every connection the proxy carries: the node reconnects
// (to the target).
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}

// close stops the proxy and waits for its goroutines.
func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	p.wg.Wait()
}

func (p *proxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		if p.closed {
			return false
		}
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
	return true
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", *p.target.Load(), 2*time.Second)
		if err != nil { // Redis is down: the node sees the connection fail
			_ = c.Close()
			continue
		}
		if !p.track(c, true) || !p.track(s, true) {
			_ = c.Close()
			_ = s.Close()
			continue
		}
		p.wg.Add(2)
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst, each chunk after the delay, until either side
// fails; then it closes both.
func (p *proxy) pipe(src, dst net.Conn) {
	defer p.wg.Done()
	q := make(chan chunk, 4096)
	var writer sync.WaitGroup
	writer.Go(func() {
		for c := range q {
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write(c.b); err != nil {
				_ = src.Close()
				break
			}
		}
		for range q { // drain, so the reader never blocks
		}
	})
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			var due time.Time
			if d := time.Duration(p.delay.Load()); d > 0 {
				due = time.Now().Add(d)
			}
			q <- chunk{b: append([]byte(nil), buf[:n]...), due: due}
		}
		if err != nil {
			break
		}
	}
	close(q)
	writer.Wait()
	_ = src.Close()
	_ = dst.Close()
	p.track(src, false)
	p.track(dst, false)
}
