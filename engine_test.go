package fanout_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/enginetest"
)

// The in-process engine over a Ring passes the conformance suite, and so
// does it over a store that takes its time (appends completing out of
// order).
func TestLocalEngine_Conformance(t *testing.T) {
	t.Parallel()
	t.Run("ring", func(t *testing.T) {
		enginetest.RunStore(t, func(*testing.T) fanout.ReplayStore {
			return fanout.NewRing(&fanout.RingOptions{Size: 64})
		}, 64)
	})
	t.Run("slow_store", func(t *testing.T) {
		enginetest.RunStore(t, func(*testing.T) fanout.ReplayStore {
			return &slowStore{ReplayStore: fanout.NewRing(&fanout.RingOptions{Size: 64}), max: 2 * time.Millisecond}
		}, 64)
	})
}

// slowStore is a ReplayStore that waits up to max (at random) around each
// call, as one with I/O does: concurrent Appends complete out of order.
type slowStore struct {
	fanout.ReplayStore
	max time.Duration
}

func (s *slowStore) pause(ctx context.Context) error {
	if s.max <= 0 {
		return nil
	}
	t := time.NewTimer(rand.N(s.max + 1))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *slowStore) Append(ctx context.Context, topic string, m *fanout.Message) (*fanout.Message, error) {
	if err := s.pause(ctx); err != nil {
		return nil, err
	}
	sm, err := s.ReplayStore.Append(ctx, topic, m)
	if err == nil {
		err = s.pause(ctx)
	}
	return sm, err
}

func (s *slowStore) Read(ctx context.Context, from fanout.Position, topics []string) ([]*fanout.Message, fanout.Position, error) {
	if err := s.pause(ctx); err != nil {
		return nil, fanout.Position{}, err
	}
	return s.ReplayStore.Read(ctx, from, topics)
}

func (s *slowStore) Head(ctx context.Context) (fanout.Position, error) {
	if err := s.pause(ctx); err != nil {
		return fanout.Position{}, err
	}
	return s.ReplayStore.Head(ctx)
}
