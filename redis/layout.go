package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/redis/rueidis"
)

// Nodes that spread the topics over different numbers of partitions
// would split the traffic silently: a topic's messages would go to one
// partition's keys and channel on one node and to another's on the
// other. So each partition's meta hash records the number of partitions
// of the nodes that use it (field n), set with its epoch and checked by
// every publish and head script. Partition 0 exists in every layout:
// before its first use, an engine runs the head script on it, so a node
// whose number differs from that of the nodes that came first is
// refused (ErrLayout) before it publishes, subscribes or reads anything;
// the refusal sticks. The other partitions' records catch a node that
// came first after Redis lost partition 0's record (the first to write
// a partition records its number).

// layoutState is the engine's knowledge of the layout check.
type layoutState struct {
	checked atomic.Bool           // partition 0 agreed with this node
	refused atomic.Pointer[error] // the refusal, once Redis answered one
}

// checkLayout returns nil once partition 0's record agrees with this
// node's number of partitions, and the refusal (ErrLayout) if it does
// not. Only the first call (or the calls after one that could not reach
// Redis) costs a round trip.
func (e *Engine) checkLayout(ctx context.Context) error {
	if e.layout.checked.Load() {
		return nil
	}
	if err := e.layout.refused.Load(); err != nil {
		return *err
	}
	if _, err := e.headOf(ctx, e.parts[0]); err != nil {
		if errors.Is(err, ErrLayout) {
			return err
		}
		return fmt.Errorf("fanout/redis: checking the number of partitions in Redis: %w", err)
	}
	e.layout.checked.Store(true)
	return nil
}

// scriptError maps the publish and head scripts' own error replies to
// the engine's errors: a layout that differs is ErrLayout (and refuses
// the engine from then on). Other errors are returned as they are.
func (e *Engine) scriptError(err error) error {
	re, ok := rueidis.IsRedisErr(err)
	if !ok {
		return err
	}
	msg := re.Error()
	if theirs, ok := strings.CutPrefix(msg, "FANOUTLAYOUT "); ok {
		err := fmt.Errorf("%w: %s partitions under prefix %q in Redis, %d on this node", ErrLayout, theirs, e.opts.Prefix, len(e.parts))
		if e.layout.refused.CompareAndSwap(nil, &err) {
			e.opts.Logger.Error("fanout/redis: refused", "err", err)
		}
		return err
	}
	if cause, ok := strings.CutPrefix(msg, "FANOUTINFO "); ok {
		return fmt.Errorf("fanout/redis: the scripts need the INFO command (to read the server's run_id), which Redis refused: %s", cause)
	}
	return err
}
