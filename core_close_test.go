// Shutdown and Close together, and Shutdown's deadline (core.go).

package fanout_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/fanout-go/fanout"
)

// gateStore is a ReplayStore whose Appends wait, once started, until
// release is closed: a publish held inside a slow store.
type gateStore struct {
	fanout.ReplayStore
	entered chan struct{} // a value per Append that began waiting
	release chan struct{}
}

func (s *gateStore) Append(ctx context.Context, topic string, m *fanout.Message) (*fanout.Message, error) {
	s.entered <- struct{}{}
	<-s.release
	return s.ReplayStore.Append(ctx, topic, m)
}

// goroutinesIn counts the goroutines whose stack holds fn (a function's
// name as a stack trace prints it).
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte(fn)) {
			count++
		}
	}
	return count
}

// What the stacks of the goroutines the tests look for hold.
const (
	waitingForPublishes = "fanout.(*core).waitPublishes("
	waitHelper          = "fanout.(*core).wait.func" // a goroutine core.wait started
)

// TestHub_ShutdownAndCloseTogether: with a publish held inside the store,
// many Shutdown(context.Background()) and many Close calls wait for it
// together; once it ends, every one of them returns at once (none waits
// for Close's grace period, none forever), and nothing they started is
// left running when they have returned. Not parallel: goleak checks the
// whole process after each round.
func TestHub_ShutdownAndCloseTogether(t *testing.T) {
	const callers = 8 // of each
	for round := range 5 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) }) // first registered, run last
			store := &gateStore{
				ReplayStore: fanout.NewRing(&fanout.RingOptions{Size: 64}),
				entered:     make(chan struct{}, 1),
				release:     make(chan struct{}),
			}
			t.Cleanup(func() {
				select {
				case <-store.release:
				default:
					close(store.release)
				}
			})
			before := goroutinesIn(waitingForPublishes) // left by a failed round
			s := newServer(t, &fanout.HubOptions{Replay: store, PingInterval: -1})
			col := collectCoder(t, dialCoder(t, s.url("topic=t"), nil))
			eventually(t, func() bool { return s.hub.Len() == 1 }, waitTimeout, "subscribed")

			published := make(chan error, 1)
			go func() { published <- s.hub.Publish(context.Background(), "t", num(1)) }()
			recv(t, store.entered, "the publish inside Append")

			var wg sync.WaitGroup
			for i := range 2 * callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if i%2 == 0 {
						assert.NoError(t, s.hub.Shutdown(context.Background()))
					} else {
						assert.NoError(t, s.hub.Close())
					}
				}()
			}
			// Every caller waits for the publish before the store lets it
			// end: the wake-up must reach them all.
			eventually(t, func() bool { return goroutinesIn(waitingForPublishes)-before == 2*callers },
				waitTimeout, "%d callers waiting for the publish", 2*callers)
			start := time.Now()
			close(store.release)
			returned := make(chan struct{})
			go func() { wg.Wait(); close(returned) }()
			closedWithin(t, returned, "every Shutdown and Close to return")
			took := time.Since(start)
			t.Logf("%d Shutdown and %d Close calls returned %v after the publish was let go", callers, callers, took)
			require.Zero(t, goroutinesIn(waitHelper), "a goroutine of core.wait outlived the calls")
			assert.Less(t, took, closeGraceHalf, "the calls returned late (Close's grace is 1 s)")
			require.NoError(t, recv(t, published, "Publish to return"))
			col.closeErr(t)
		})
	}
}

// closeGraceHalf is half of the grace period Close gives connections to
// finish their close handshakes: a Close that waited for the grace to run
// out took longer.
const closeGraceHalf = 500 * time.Millisecond

// TestHub_ShutdownDeadlineLeavesNothing: a Shutdown whose context ends
// while a subscriber is still draining cuts it, and returns only once the
// goroutines it started (the one that waited for the subscriptions among
// them) have exited.
func TestHub_ShutdownDeadlineLeavesNothing(t *testing.T) {
	for round := range 20 { // the goroutine left behind is seen in 1 round of 100 or so
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) })
			onConnect, subs := connectHook()
			s := newCountingServer(t, &fanout.HubOptions{OnConnect: onConnect, PingInterval: -1})
			st := stallOne(t, s, subs, "topic=t")
			require.NoError(t, s.hub.Publish(context.Background(), "t", num(1)))

			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			assert.ErrorIs(t, s.hub.Shutdown(ctx), context.DeadlineExceeded)
			require.Zero(t, goroutinesIn(waitHelper), "a goroutine of core.wait outlived Shutdown")
			assert.False(t, isOpen(st.sub.Done()), "cut subscriber released")
		})
	}
}
