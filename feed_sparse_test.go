package fanout_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// sparseEngine is a faultyEngine that declares its feed sparse (see
// fanout.SparseEngine), and counts the core's history reads.
type sparseEngine struct {
	*faultyEngine
	reads atomic.Int64
}

func (e *sparseEngine) SparseFeed() bool { return true }

func (e *sparseEngine) Read(ctx context.Context, from fanout.Position, topics []string) ([]*fanout.Message, fanout.Position, error) {
	e.reads.Add(1)
	return e.faultyEngine.Read(ctx, from, topics)
}

var _ fanout.SparseEngine = (*sparseEngine)(nil)

// A SparseEngine's feed skips the offsets of topics the process has no
// subscriber of: the Feed takes a skip for what it is, not a gap, and
// reads nothing to fill it; a repeated message is still dropped, and a
// new epoch still resyncs.
func TestFeed_SparseEngineSkipsAreNotGaps(t *testing.T) {
	t.Parallel()
	eng := &sparseEngine{faultyEngine: &faultyEngine{alter: func(topic string, m *fanout.Message) []*fanout.Message {
		switch {
		case topic == "u": // not this process's: its engine does not deliver it
			return nil
		case offsetIn(m, 5):
			return []*fanout.Message{m, m}
		}
		return []*fanout.Message{m}
	}}}
	e := rsServer(t, nil, false, func(ho *fanout.HubOptions, _ *fanout.BrokerOptions) {
		eng.Engine = fanout.NewLocalEngine(ho.Replay)
		ho.Engine = eng
	})
	sse := e.rsOpenSSE(t, []string{"t"}, "", false)
	var want []string
	for i, topic := range []string{"t", "u", "u", "t", "t", "u", "t"} {
		e.publish(t, topic, fmt.Sprint(i+1))
		if topic == "t" {
			want = append(want, fmt.Sprint(i+1))
		}
	}
	assert.Equal(t, want, rsData(sse.take(t, len(want))))
	assert.Zero(t, eng.reads.Load(), "history reads to fill a sparse feed's skips")
	assert.Zero(t, len(e.resyncs), "no resync")

	eng.reborn(-1)
	e.publish(t, "t", "8")
	r := sse.next(t)
	require.True(t, r.resync, "a new epoch still resyncs: %+v", r)
	assert.Equal(t, "8", sse.next(t).data)
}
