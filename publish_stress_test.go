package fanout_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// TestHub_Stress mixes every kind of client at once: readers, slow
// readers, clients that never read, clients that reset their TCP
// connection, and clients that close early. Several publishers publish,
// broadcast and send concurrently while subscribers change topics and a
// random policy is chosen per slow event; then the Hub shuts down. Nothing
// may panic, deadlock or leak (goleak), and every client that read must
// have received each publisher's messages in order, with no duplicate.
func TestHub_Stress(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test")
	}
	t.Parallel()
	const (
		publishers = 4
		perPub     = 1500
		clients    = 24
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	var rmu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	intn := func(n int) int {
		rmu.Lock()
		defer rmu.Unlock()
		return rng.IntN(n)
	}

	onConnect, subs := connectHook()
	s := newServer(t, &fanout.HubOptions{
		DeliveryOptions: fanout.DeliveryOptions{
			QueueSize:    16,
			WriteTimeout: 200 * time.Millisecond,
			OnSlow: func(fanout.SlowEvent) fanout.Policy {
				return fanout.Policy(intn(3))
			},
		},
		OnConnect:      onConnect,
		SendBufferSize: 8 << 10,
		PingInterval:   50 * time.Millisecond,
	})

	type client struct {
		kind string
		col  *collector
	}
	var cls []client
	for i := range clients {
		topics := []string{"a", "b", "c"}[i%3]
		url := s.url("topic=" + topics)
		switch kind := []string{"reader", "slow", "stalled", "reset", "closer"}[i%5]; kind {
		case "reader", "closer":
			c := dialCoder(t, url, nil)
			col := collectCoder(t, c)
			cls = append(cls, client{kind, col})
			if kind == "closer" {
				go func() {
					select { // close after the first message, or when the connection ends
					case <-col.notify:
					case <-col.done:
					}
					_ = c.Close(websocket.StatusNormalClosure, "")
				}()
			}
		case "slow":
			c := dialCoder(t, url, nil)
			col := newCollector(func() (msg, error) {
				time.Sleep(time.Duration(intn(200)) * time.Microsecond) // a slow consumer, not synchronisation
				typ, b, err := c.Read(context.Background())
				return msg{binary: typ == websocket.MessageBinary, data: b}, err
			})
			t.Cleanup(func() {
				_ = c.CloseNow()
				<-col.done
			})
			cls = append(cls, client{kind, col})
		case "stalled":
			dialGorilla(t, url, stalledDialer())
		case "reset":
			g := dialGorilla(t, url, nil)
			go func() {
				_, _, _ = g.ReadMessage() // after the first message, reset the connection
				if tc, ok := g.NetConn().(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				_ = g.NetConn().Close()
			}()
		}
	}
	var handles []*fanout.Subscriber
	for range clients {
		handles = append(handles, recv(t, subs, "subscriber"))
	}

	var wg sync.WaitGroup
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perPub {
				m := fanout.NewMessage(fmt.Appendf(nil, "%d:%d:%s", p, i, strings.Repeat("x", intn(2048))))
				var err error
				switch intn(10) {
				case 0:
					err = s.hub.Broadcast(context.Background(), m)
				case 1:
					err = s.hub.BroadcastFilter(context.Background(), m, func(*fanout.Subscriber) bool { return intn(2) == 0 })
				case 2:
					if serr := handles[intn(len(handles))].Send(m); serr == fanout.ErrClosed {
						err = serr
					}
				case 3:
					h := handles[intn(len(handles))]
					_ = h.Subscribe(context.Background(), []string{"a", "b", "c"}[intn(3)])
					h.Unsubscribe([]string{"a", "b", "c"}[intn(3)])
				default:
					err = s.hub.Publish(context.Background(), []string{"a", "b", "c"}[intn(3)], m)
				}
				if err != nil {
					require.ErrorIs(t, err, fanout.ErrClosed)
					return
				}
			}
		}()
	}
	// Shut down while the publishers are still at it (most of the time).
	eventually(t, func() bool { return s.hub.Stats().Published >= publishers*perPub/3 }, waitTimeout, "publishing under way")
	// Clients that never read cannot take their close frame: a short
	// deadline makes Shutdown cut them, which this test exercises too.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.hub.Shutdown(ctx); err != nil {
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	wg.Wait()

	st := s.hub.Stats()
	t.Logf("stats %+v", st)
	assert.Zero(t, st.Subscribers)
	for _, h := range handles {
		closedWithin(t, h.Done(), "subscriber released")
	}
	for i, c := range cls {
		<-c.col.done
		last := make([]int, publishers)
		for p := range last {
			last[p] = -1
		}
		for _, m := range c.col.snapshot() {
			parts := strings.SplitN(string(m.data), ":", 3)
			require.Len(t, parts, 3, "client %d (%s): malformed message", i, c.kind)
			p, _ := strconv.Atoi(parts[0])
			n, _ := strconv.Atoi(parts[1])
			require.Greater(t, n, last[p], "client %d (%s): publisher %d out of order or duplicated", i, c.kind, p)
			last[p] = n
		}
	}
}
