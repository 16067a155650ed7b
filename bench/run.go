package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync/atomic"
	"time"
)

// config is one load level.
type config struct {
	Subs  int           // subscribers
	Msgs  int           // messages published per run
	Burst int           // messages published per tick
	Size  int           // bytes per message
	Tick  time.Duration // publishing period
	Queue int           // per-subscriber queue depth; 0: the whole run; <0: each library's default
	Stall time.Duration // give up after this long without a delivery
	Par   int           // concurrent dials
	// RawWS reads WebSocket with the minimal rawWS client instead of
	// coder/websocket.
	RawWS bool
	// MaxBatch is given to the coalescing fanout rows (0: their default).
	MaxBatch int
}

// queueOptions turns c.Queue into what the peers are given.
func (c config) queueOptions() peerOptions {
	o := peerOptions{Topic: benchTopic, MaxBatch: c.MaxBatch}
	switch {
	case c.Queue > 0:
		o.Queue = c.Queue
	case c.Queue == 0:
		o.Queue = c.Msgs + 64 // the run and its warm-ups, whatever the peer's speed
	}
	if o.Queue > 0 {
		if b := o.Queue * c.Size * 2; b > 4<<20 {
			o.QueueBytes = b
		}
	}
	return o
}

const benchTopic = "bench"

// result is one peer's run.
type result struct {
	Peer          string
	Repeat, Order int
	Expected      int64
	Delivered     int64
	Misordered    int64
	Elapsed       time.Duration // first publish to last delivery
	PublishLag    time.Duration // how far behind its schedule the publisher ended
	TimerLate     time.Duration // the pacer's mean lateness when it slept
	Writes        uint64
	Syscalls      uint64
	P50, P95, P99 time.Duration
	Max           time.Duration
	Allocs, Bytes uint64
	PeakHeap      uint64
	Err           string
}

func (r result) Lost() int64 { return r.Expected - r.Delivered }

func (r result) DeliveredPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Delivered) / r.Elapsed.Seconds()
}

func (r result) per(v uint64) float64 {
	if r.Delivered == 0 {
		return 0
	}
	return float64(v) / float64(r.Delivered)
}

func (r result) WritesPerMsg() float64 { return r.per(r.Writes) }
func (r result) AllocsPerMsg() float64 { return r.per(r.Allocs) }
func (r result) BytesPerMsg() float64  { return r.per(r.Bytes) }

// runOnce measures one peer at one load level: start its server, connect
// the clients, warm up until every client provably receives, then publish
// cfg.Msgs messages in bursts and wait until every client has all of them.
func runOnce(p peer, cfg config, samples []int64) (res result, err error) {
	res = result{Peer: p.Name, Expected: int64(cfg.Subs) * int64(cfg.Msgs)}
	goroutines := runtime.NumGoroutine()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	var counting *countingListener
	if !p.Bare {
		counting = &countingListener{Listener: ln}
		ln = counting
	}
	runtime.GC()
	heapBase := heapObjects()

	srv := p.New(cfg.queueOptions())
	hs := newHTTPServer(srv)
	go func() { _ = hs.Serve(ln) }()

	f := newFleet(p.Transport, cfg.Subs, cfg.Size, cfg.Msgs, samples)
	f.raw = cfg.RawWS
	var pubStop atomic.Bool
	pubDone := make(chan struct{})
	close(pubDone) // reopened below once the publisher runs
	defer func() {
		pubStop.Store(true)
		f.close()
		srv.Close()
		<-pubDone
		_ = hs.Close()
		settle(goroutines)
	}()

	url := fmt.Sprintf("://%s/?topic=%s", ln.Addr(), benchTopic)
	if err := f.connect(url, cfg.Par); err != nil {
		return res, err
	}
	if err := waitFor(30*time.Second, func() bool { return srv.Subscribers() >= cfg.Subs }); err != nil {
		return res, fmt.Errorf("%d of %d subscribed: %w", srv.Subscribers(), cfg.Subs, err)
	}
	if err := warmUp(srv, f, cfg); err != nil {
		return res, err
	}

	writes := func() uint64 {
		if wc, ok := srv.(writeCounter); ok && p.Bare {
			return wc.Writes()
		}
		return counting.writes.Load()
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	w0, s0 := writes(), syscalls()
	sampler := startHeapSampler()
	start := now()
	var lag, timerLate atomic.Int64
	var pubErr atomic.Value
	pubDone = make(chan struct{})
	go func() {
		defer close(pubDone)
		var pace pacer
		seq := 0
		for k := 0; seq < cfg.Msgs; k++ {
			due := start + time.Duration(k)*cfg.Tick
			pace.until(due)
			for j := 0; j < cfg.Burst && seq < cfg.Msgs; j++ {
				if pubStop.Load() {
					return
				}
				if err := srv.Publish(newPayload(cfg.Size, pace.stamp(due), seq)); err != nil {
					pubErr.CompareAndSwap(nil, err)
				}
				seq++
			}
			lag.Store(int64(now() - due))
		}
		timerLate.Store(int64(pace.meanLate()))
	}()

	stalled := waitDelivered(f.allDone, f.delivered, cfg.Stall, pubDone)
	end := lastDelivery(f)
	runtime.ReadMemStats(&m1)
	w1, s1 := writes(), syscalls()
	peak := sampler.stop()

	res.Delivered = f.delivered()
	res.Elapsed = end - start
	res.PublishLag = time.Duration(lag.Load())
	res.TimerLate = time.Duration(timerLate.Load())
	res.Writes = w1 - w0
	if s0 > 0 {
		res.Syscalls = s1 - s0
	}
	res.Allocs = m1.Mallocs - m0.Mallocs
	res.Bytes = m1.TotalAlloc - m0.TotalAlloc
	if peak > heapBase {
		res.PeakHeap = peak - heapBase
	}
	res.P50, res.P95, res.P99, res.Max = latencies(f, samples)
	for _, c := range f.clients {
		res.Misordered += c.misorder.Load()
		if n := c.malformed.Load(); n > 0 {
			res.Err = fmt.Sprintf("%d malformed messages", n)
		}
	}
	if res.Misordered > 0 {
		res.Err = fmt.Sprintf("%d messages out of order or duplicated", res.Misordered)
	}
	if e, ok := pubErr.Load().(error); ok {
		res.Err = "publish: " + e.Error()
	}
	if stalled && res.Err == "" {
		res.Err = fmt.Sprintf("stalled while publishing: %d of %d delivered", res.Delivered, res.Expected)
	}
	return res, nil
}

// warmUp publishes warm-up messages until every client has received one,
// then one more, and waits for it everywhere: from then on every client is
// subscribed and every queue is empty.
func warmUp(srv server, f *fleet, cfg config) error {
	n := len(f.clients)
	seq := 0
	err := waitFor(30*time.Second, func() bool {
		if f.warmed(0) == n {
			return true
		}
		if err := srv.Publish(newWarmup(cfg.Size, seq)); err != nil {
			return false
		}
		seq++
		time.Sleep(2 * time.Millisecond)
		return false
	})
	if err != nil {
		return fmt.Errorf("warm-up: %d of %d clients receive: %w", f.warmed(0), n, err)
	}
	if err := srv.Publish(newWarmup(cfg.Size, seq)); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if err := waitFor(30*time.Second, func() bool { return f.warmed(seq) == n }); err != nil {
		return fmt.Errorf("warm-up: %d of %d clients got the last one: %w", f.warmed(seq), n, err)
	}
	return nil
}

// waitDelivered waits until every client has everything (or is gone). A
// peer that drops messages never gets there, so it also ends once the
// publisher is done and nothing has arrived for a second, or, while it
// publishes, for stall; it reports the latter.
func waitDelivered(allDone <-chan struct{}, delivered func() int64, stall time.Duration, published <-chan struct{}) (stalled bool) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	last, lastAt := int64(-1), time.Now()
	for {
		select {
		case <-allDone:
			return false
		case <-tick.C:
			if d := delivered(); d != last {
				last, lastAt = d, time.Now()
				continue
			}
			select {
			case <-published:
				if time.Since(lastAt) > min(stall, time.Second) {
					return false
				}
				continue
			default:
			}
			if time.Since(lastAt) > stall {
				return true
			}
		}
	}
}

func lastDelivery(f *fleet) time.Duration {
	var end int64
	for _, c := range f.clients {
		end = max(end, c.last.Load())
	}
	return time.Duration(end)
}

// latencies gathers every client's samples at the front of samples and
// returns the quantiles.
func latencies(f *fleet, samples []int64) (p50, p95, p99, maxLat time.Duration) {
	n := 0
	for _, c := range f.clients {
		n += copy(samples[n:], c.lat)
	}
	return quantiles(samples[:n])
}

// quantiles sorts s and returns its quantiles.
func quantiles(s []int64) (p50, p95, p99, maxLat time.Duration) {
	n := len(s)
	if n == 0 {
		return
	}
	slices.Sort(s)
	q := func(p float64) time.Duration {
		i := int(p*float64(n)+0.999999) - 1
		return time.Duration(s[max(0, min(i, n-1))])
	}
	return q(0.50), q(0.95), q(0.99), time.Duration(s[n-1])
}

// newHTTPServer serves h. Its error log is dropped: at teardown go-sse
// answers its ended sessions with http.Error after the stream began, which
// net/http reports as a superfluous WriteHeader.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
}

var errTimeout = errors.New("timed out")

// waitFor polls cond every millisecond until it holds or d has passed.
func waitFor(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return errTimeout
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// settle waits (a little) for the goroutines of a finished run to exit, so
// that they do not run during the next one.
func settle(before int) {
	_ = waitFor(5*time.Second, func() bool { return runtime.NumGoroutine() <= before+2 })
}

// heapObjects returns the bytes of heap objects, live or not yet swept;
// runtime/metrics reads it without stopping the world.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

type heapSampler struct {
	stopc chan struct{}
	peak  chan uint64
}

// startHeapSampler records the largest heap seen every 5ms until stop.
func startHeapSampler() *heapSampler {
	h := &heapSampler{stopc: make(chan struct{}), peak: make(chan uint64, 1)}
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		read := func() {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
		}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		read()
		for {
			select {
			case <-t.C:
				read()
			case <-h.stopc:
				read()
				h.peak <- peak
				return
			}
		}
	}()
	return h
}

func (h *heapSampler) stop() uint64 {
	close(h.stopc)
	return <-h.peak
}
