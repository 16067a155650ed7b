// Allocation pins of the publish path: publish.go (per subscriber), prepared.go
// (a frame prepared once, the SSE event), packed.go (Unpack).

package fanout_test

import (
	"runtime"
	"testing"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/testkit/payload"
)

// TestPublish_AllocsDoNotGrowWithSubscribers pins the Hub's central claim:
// a publish prepares its message once, and delivering it allocates nothing
// per subscriber, neither on the publishing goroutine (enqueue) nor on the
// subscribers' writers (batching, framing, the socket write).
//
// testing.AllocsPerRun around Publish alone could not show that: it would
// miss the writers' work, or, with writers that do not drain, measure
// queues filling up rather than the steady state. So the whole path is
// measured: the process's allocation count around bursts of publishes,
// each followed by waiting until every subscriber's writer has written
// every message (Stats.Delivered), after a warm-up that grows queues and
// scratch buffers to the burst size. The clients read raw bytes into a
// fixed buffer, so they allocate nothing themselves. The count per publish
// must not grow from 10 subscribers to 1000.
func TestPublish_AllocsDoNotGrowWithSubscribers(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what allocates")
	}
	if testing.Short() {
		t.Skip("opens 1000 loopback connections")
	}
	// Each fixture with a Replay gets a Ring of its own: a store serves one
	// Hub at a time (see HubOptions.Replay).
	hub := func(opts fanout.HubOptions, subprotocol string) func(testing.TB, int) *benchFixture {
		return func(tb testing.TB, subs int) *benchFixture {
			if opts.Replay != nil {
				opts.Replay = fanout.NewRing(nil)
			}
			return benchStart(tb, subs, opts, subprotocol)
		}
	}
	broker := func(opts fanout.BrokerOptions) func(testing.TB, int) *benchFixture {
		return func(tb testing.TB, subs int) *benchFixture {
			if opts.Replay != nil {
				opts.Replay = fanout.NewRing(nil)
			}
			return benchStartBroker(tb, subs, opts)
		}
	}
	cases := []struct {
		name   string
		start  func(tb testing.TB, subs int) *benchFixture
		rounds int                                 // bursts measured
		check  func(t *testing.T, f *benchFixture) // after measuring, if set
	}{
		{name: "coalesced", start: hub(fanout.HubOptions{}, ""), rounds: 50},
		{name: "packed", start: hub(fanout.HubOptions{Packing: true}, fanout.PackedSubprotocol), rounds: 50},
		{name: "max_batch=1", start: hub(fanout.HubOptions{
			DeliveryOptions: fanout.DeliveryOptions{MaxBatch: 1}}, ""), rounds: 15},
		{name: "resume", start: hub(fanout.HubOptions{Replay: fanout.NewRing(nil)}, fanout.ResumeSubprotocol), rounds: 50},
		{name: "resume_v2", start: hub(fanout.HubOptions{Replay: fanout.NewRing(nil)}, fanout.ResumeSubprotocolV2), rounds: 50},
		{name: "packed_v2", start: hub(fanout.HubOptions{Packing: true}, fanout.PackedSubprotocolV2), rounds: 50},
		// Presence hooks run on joins and leaves, never on a publish.
		{name: "presence_hooks", start: hub(fanout.HubOptions{
			OnJoin: func(*fanout.Subscriber, string) {}, OnLeave: func(*fanout.Subscriber, string) {}}, ""), rounds: 50},
		{name: "observer", start: hub(fanout.HubOptions{
			DeliveryOptions: fanout.DeliveryOptions{Observer: nopObserver{}}}, ""), rounds: 50},
		// 1 KiB of JSON, compressed once per publish for every subscriber
		// that negotiated permessage-deflate (all, then every other one:
		// the plain frame is built too, once).
		{name: "deflate", start: deflateHub(1), rounds: 50, check: compressedTo(0.5)},
		{name: "deflate_mixed", start: deflateHub(2), rounds: 50, check: compressedTo(0.75)},
		// The same on the resume subprotocol: each message's records are
		// compressed once per publish, and every batch's packed frame is
		// made of them.
		{name: "deflate_resume", start: deflateHubProto(1, 1<<10, fanout.ResumeSubprotocolV2), rounds: 50, check: compressedTo(0.5)},
		{name: "sse", start: broker(fanout.BrokerOptions{}), rounds: 50},
		{name: "sse_replay", start: broker(fanout.BrokerOptions{Replay: fanout.NewRing(nil)}), rounds: 50},
		// Subscribers of two partitions: each event's id field is the
		// subscriber's composite ID, written from pooled scratch memory.
		{name: "sse_partitions", start: benchStartBrokerPartitions, rounds: 50},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ff, fm := tc.start(t, 10), tc.start(t, 1000)
			few := allocPerPublish(t, ff, tc.rounds)
			many := allocPerPublish(t, fm, tc.rounds)
			if tc.check != nil {
				tc.check(t, ff)
				tc.check(t, fm)
			}
			t.Logf("allocations per publish: %.3f with 10 subscribers, %.3f with 1000", few, many)
			if many > few+1 {
				t.Errorf("a publish allocates %.3f times with 1000 subscribers, %.3f with 10: "+
					"about %.3f allocations per subscriber, want 0", many, few, (many-few)/990)
			}
		})
	}
}

// TestCompression_AllocsDoNotGrowWithSubscribers pins that compression
// costs O(1) per publish: what a Hub with Compression allocates per
// publish of 1 KiB of JSON, on top of what the same Hub without it
// allocates, does not grow from 10 subscribers that all negotiated
// permessage-deflate to 1000. Compressing per subscriber would add at
// least one allocation per subscriber and publish (its compressed frame).
//
// It compares with the plain Hub rather than with zero, so that it holds
// whatever the writers themselves allocate per wake-up (see
// TestPublish_AllocsDoNotGrowWithSubscribers): that cost is the same with
// and without compression, and subtracts out.
func TestCompression_AllocsDoNotGrowWithSubscribers(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what allocates")
	}
	if testing.Short() {
		t.Skip("opens 2000 loopback connections")
	}
	extra := map[int]float64{}
	for _, subs := range []int{10, 1000} {
		plain := deflateHub(0)(t, subs)
		comp := deflateHub(1)(t, subs)
		p, c := allocPerPublish(t, plain, 50), allocPerPublish(t, comp, 50)
		compressedTo(0.5)(t, comp)
		extra[subs] = c - p
		t.Logf("%d subscribers: %.3f allocations per publish compressed, %.3f plain", subs, c, p)
	}
	// A generous margin for the writers' wake-ups, which vary from run
	// to run; a per-subscriber cost would be 990 or more.
	if growth := extra[1000] - extra[10]; growth > 50 {
		t.Errorf("compression adds %.3f allocations per publish with 1000 subscribers, %.3f with 10: "+
			"about %.3f per subscriber, want 0", extra[1000], extra[10], growth/990)
	}
}

// deflateHub starts a Hub with Compression whose clients offer
// permessage-deflate, every one of them (every = 1) or every other one
// (every = 2), and publish 1 KiB of JSON; every = 0 starts a Hub
// without Compression, whose clients offer nothing.
func deflateHub(every int) func(testing.TB, int) *benchFixture {
	return deflateHubSize(every, 1<<10)
}

// deflateHubSize is deflateHub publishing size bytes of JSON.
func deflateHubSize(every, size int) func(testing.TB, int) *benchFixture {
	return deflateHubProto(every, size, "")
}

// deflateHubProto is deflateHubSize with clients of subprotocol proto (the
// Hub has a Ring for the resume ones).
func deflateHubProto(every, size int, proto string) func(testing.TB, int) *benchFixture {
	return func(tb testing.TB, subs int) *benchFixture {
		i := 0
		opts := &fanout.HubOptions{Compression: every > 0, PingInterval: -1}
		if proto != "" {
			opts.Replay, opts.Packing = fanout.NewRing(nil), true
		}
		hub := fanout.NewHub(opts)
		f := benchServe(tb, subs, hub, func(url string) (*benchClient, error) {
			i++
			if every > 0 && i%every == 0 {
				return benchDialExt(url, proto, deflateOffer)
			}
			return benchDial(url, proto)
		})
		f.payload = payload.JSON(size, 1)
		return f
	}
}

// compressedTo checks that the Hub wrote at most ratio of the plain bytes
// of what it delivered: the compressed frames did reach the sockets.
func compressedTo(ratio float64) func(t *testing.T, f *benchFixture) {
	return func(t *testing.T, f *benchFixture) {
		st := f.hub.Stats()
		plain := float64(st.Delivered) * float64(len(fanout.NewMessage(f.data()).WireFrame()))
		if got := float64(st.Bytes) / plain; got > ratio {
			t.Errorf("%d subscribers: wrote %.2f of the plain bytes, want at most %.2f", len(f.clients), got, ratio)
		} else {
			t.Logf("%d subscribers: wrote %.2f of the plain bytes", len(f.clients), got)
		}
	}
}

// allocBurst is the number of messages published back to back before
// waiting for delivery. It stays below the initial queue capacity (16), so
// queue growth is not the subject here.
const allocBurst = 8

// allocPerPublish returns the allocations per publish, in the steady state,
// of the Hub or Broker of f. Each publish is a fresh message (so the
// count includes preparing it), and is waited for until written to every
// subscriber. It returns the least of three measurements: the count is
// process-wide, and the least is the one that other goroutines disturbed
// least.
func allocPerPublish(t *testing.T, f *benchFixture, rounds int) float64 {
	subs := len(f.clients)
	perBurst := uint64(allocBurst * subs)
	target := f.hub.Stats().Delivered
	for range 25 { // warm up
		target += perBurst
		f.publish(t, allocBurst, target)
	}
	best := -1.0
	for range 3 {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		for range rounds {
			target += perBurst
			f.publish(t, allocBurst, target)
		}
		runtime.ReadMemStats(&m1)
		n := float64(m1.Mallocs-m0.Mallocs) / float64(rounds*allocBurst)
		if best < 0 || n < best {
			best = n
		}
	}
	if st := f.hub.Stats(); st.Delivered != target {
		t.Fatalf("Delivered = %d, want %d: %+v", st.Delivered, target, st)
	}
	return best
}

// TestMessage_FramePreparedOnce pins that a Message's WebSocket frame is
// built once and then shared: later uses allocate nothing and return the
// same bytes, whichever subscriber's writer asks.
func TestMessage_FramePreparedOnce(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what allocates")
	}
	m := fanout.NewMessage(benchPayload)
	first := m.WireFrame()
	allocs := testing.AllocsPerRun(100, func() {
		if f := m.WireFrame(); &f[0] != &first[0] {
			t.Fatal("the frame was built again")
		}
	})
	if allocs != 0 {
		t.Errorf("a prepared frame costs %v allocations per use, want 0", allocs)
	}
}

// TestUnpack_Allocs pins that splitting a packed frame allocates nothing:
// the data passed to the callback aliases the frame.
func TestUnpack_Allocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what allocates")
	}
	batch := []*fanout.Message{
		fanout.NewMessage(benchPayload), fanout.NewBinaryMessage(benchPayload), fanout.NewMessage(nil),
	}
	frame := fanout.AppendRecords(nil, batch, fanout.FramingPacked)
	allocs := testing.AllocsPerRun(100, func() {
		n := 0
		err := fanout.Unpack(frame, func(fanout.MessageType, []byte) error {
			n++
			return nil
		})
		if err != nil || n != len(batch) {
			t.Fatalf("Unpack: %d records, %v", n, err)
		}
	})
	if allocs != 0 {
		t.Errorf("Unpack allocates %v times per frame, want 0", allocs)
	}
}

// TestMessage_SSEEventAllocs pins what making a Message and encoding its
// SSE event cost, which every SSE publish pays once: 4 allocations,
// whatever the fields it carries (the Message, the event's bytes, and what
// go-sse's encoder and base64 take). Moving the encoding to internal/sse
// once made it 5 (the writer the encoder writes through escaped).
func TestMessage_SSEEventAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what allocates")
	}
	data := []byte(`{"a":1}` + "\nline two")
	for _, tc := range []struct {
		name string
		m    func() *fanout.Message
	}{
		{"text", func() *fanout.Message { return fanout.NewMessage(data) }},
		{"id and event", func() *fanout.Message { return fanout.NewMessage(data).WithID("42").WithEvent("ev") }},
		{"binary", func() *fanout.Message { return fanout.NewBinaryMessage(data) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := testing.AllocsPerRun(100, func() {
				if _, err := tc.m().SSEEvent(); err != nil {
					t.Fatal(err)
				}
			})
			if got != 4 {
				t.Errorf("%v allocations to make a Message and encode its event, want 4", got)
			}
		})
	}
}
