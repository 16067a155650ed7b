package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

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
//
// On a Cluster the partitions' tags depend on their number too (see
// slots.go), and nodes of older versions (v0.1.0) named them
// {prefix:p} there: nodes of the two versions share no key and no channel. So a
// node of this version puts a marker in the meta hash of each of the
// old names, {prefix:p}:meta for p < Partitions: a field n that reads
// "<Partitions> (in a newer version's …)", never a bare number. An old
// node's scripts refuse a meta hash whose n is not its own number
// (FANOUTLAYOUT, then ErrLayout: see ensure.lua), so one that arrives
// later is refused at its first use (partition 0), and one that was
// running already at its next publish or head read of any marked
// partition. Conversely, before its first use a node of this version
// reads every old name's n (one call per partition, pipelined), and is
// refused when it finds a bare number there (old
// nodes used the Prefix within their keys' life: however long ago they
// last did, one may be running still, idle, and Redis cannot tell) or
// another number of partitions in a marker; else it writes its marker
// into each (one more pipelined round), and from then on keeps them
// (they expire, markerLife after the last refresh), one partition per
// CheckInterval in turn, and is refused when it finds a bare number
// again (Redis lost a marker, and an old node wrote its number there),
// so that the split lasts P CheckIntervals at most, and ends in a
// refusal, logged, in Stats.Refused, and returned by every use.
//
// (Joining the old layout instead, when its nodes came first, would
// allow a rolling upgrade, but then a deployment that never stops keeps
// the clustered slots for ever, and the engine's key names would be
// decided after New, under concurrent use: refused, the operator
// chooses, knowingly.)

// layoutState is the engine's knowledge of the layout check.
type layoutState struct {
	checked atomic.Bool           // partition 0 (and the markers) agreed with this node
	refused atomic.Pointer[error] // the refusal, once Redis answered one
	keeping atomic.Bool           // the markers' keeper was started
}

// checkLayout returns nil once partition 0's record (and on a Cluster,
// the markers) agree with this node's layout, and the refusal
// (ErrLayout) if they do not, or did once. Only the first call (or the
// calls after one that could not reach Redis) costs a round trip.
func (e *Engine) checkLayout(ctx context.Context) error {
	if err := e.layout.refused.Load(); err != nil {
		return *err
	}
	if e.layout.checked.Load() {
		return nil
	}
	if e.spread {
		// Read first, then write: a node that is refused leaves no
		// marker to refuse the old nodes it found.
		keys := e.oldMetaKeys()
		if err := e.checkMarkers(ctx, keys, 0); err != nil {
			return err
		}
		if err := e.checkMarkers(ctx, keys, e.markerLife()); err != nil {
			return err
		}
	}
	if _, err := e.headOf(ctx, e.parts[0]); err != nil {
		if errors.Is(err, ErrLayout) {
			return err
		}
		return fmt.Errorf("fanout/redis: checking the number of partitions in Redis: %w", err)
	}
	e.layout.checked.Store(true)
	if e.spread && e.layout.keeping.CompareAndSwap(false, true) && e.startGoroutine() {
		go e.keepMarkers()
	}
	return nil
}

// markerScript reads field n of an old name's meta hash (KEYS[1]) and
// returns it when it is not the marker (ARGV[1]); else it writes the
// marker, with an expiry of ARGV[2] ms (nothing, when that is 0),
// unless it is there with more than seven eighths of that left, and
// returns "".
var markerScript = rueidis.NewLuaScript(`local n = redis.call('HGET', KEYS[1], 'n')
if n and n ~= ARGV[1] then
  return n
end
local life = tonumber(ARGV[2])
if life == 0 then
  return ''
end
if not n or redis.call('PTTL', KEYS[1]) < life - math.floor(life / 8) then
  redis.call('HSET', KEYS[1], 'n', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], life)
end
return ''`)

// markerSuffix follows the number of partitions in a marker: an old
// node's refusal reads "<n> (in a newer …) partitions under prefix".
const markerSuffix = " (in a newer version's Cluster key layout: upgrade this node)"

func (e *Engine) marker() string { return strconv.Itoa(len(e.parts)) + markerSuffix }

// markerLife is how long a marker lives after its last refresh: the
// partitions' keys' life, and at least four rounds of the keeper.
func (e *Engine) markerLife() time.Duration {
	return max(e.opts.keyLife(), 4*time.Duration(len(e.parts))*e.opts.CheckInterval)
}

// oldMetaKeys names the meta hashes of the partitions as nodes before
// the slot spread named them on a Cluster.
func (e *Engine) oldMetaKeys() []string {
	keys := make([]string, len(e.parts))
	for p := range keys {
		keys[p] = partitionTag(e.opts.Prefix, p, len(e.parts), false) + ":meta"
	}
	return keys
}

// checkMarkers runs the marker script on keys (old names' meta hashes),
// pipelined, and refuses the engine when one holds another layout. It
// writes (or refreshes) the markers with life, reads them only with 0.
func (e *Engine) checkMarkers(ctx context.Context, keys []string, life time.Duration) error {
	ms := strconv.FormatInt(life.Milliseconds(), 10)
	execs := make([]rueidis.LuaExec, len(keys))
	for i, k := range keys {
		execs[i] = rueidis.LuaExec{Keys: []string{k}, Args: []string{e.marker(), ms}}
	}
	for i, r := range markerScript.ExecMulti(ctx, e.client, execs...) {
		n, err := r.ToString()
		if err != nil {
			return fmt.Errorf("fanout/redis: checking the Cluster key layout in Redis: %w", err)
		}
		if n != "" {
			return e.refuse(e.markerError(n, keys[i]))
		}
	}
	return nil
}

// markerError is the refusal for field n of the old name key.
func (e *Engine) markerError(n, key string) error {
	if theirs, ok := strings.CutSuffix(n, markerSuffix); ok {
		return fmt.Errorf("%w: %s partitions under prefix %q in Redis (marked in %s), %d on this node", ErrLayout, theirs, e.opts.Prefix, key, len(e.parts))
	}
	if _, err := strconv.ParseUint(n, 10, 32); err == nil {
		return fmt.Errorf("%w: nodes of an older version (v0.1.0) use prefix %q on this Cluster, with %s partitions named {%s:p} (%s says so; this node names them {%s:p.N}): "+
			"stop them all, then delete their keys or let them expire (HistoryAge and a quarter after their last use), or give this node another Prefix: see the package documentation, Cluster key layout",
			ErrLayout, e.opts.Prefix, n, e.opts.Prefix, key, e.opts.Prefix)
	}
	return fmt.Errorf("%w: %s holds %q, not a layout of this version: another application uses prefix %q?", ErrLayout, key, n, e.opts.Prefix)
}

// keepMarkers refreshes the markers, one partition's per CheckInterval
// in turn, until the engine closes or one holds another layout (then
// the engine is refused).
func (e *Engine) keepMarkers() {
	defer e.wg.Done()
	keys := e.oldMetaKeys()
	t := time.NewTicker(e.opts.CheckInterval)
	defer t.Stop()
	for i := 0; ; i = (i + 1) % len(keys) {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(e.ctx, e.opts.PingTimeout)
		err := e.checkMarkers(ctx, keys[i:i+1], e.markerLife())
		cancel()
		if errors.Is(err, ErrLayout) {
			return
		}
		if err != nil && e.ctx.Err() == nil {
			e.opts.Logger.Debug("fanout/redis: refreshing the Cluster layout's marker", "key", keys[i], "err", err)
		}
	}
}

// refuse records err (an ErrLayout) as the engine's refusal, logged once,
// and returns it: every use returns it from then on.
func (e *Engine) refuse(err error) error {
	if e.layout.refused.CompareAndSwap(nil, &err) {
		e.opts.Logger.Error("fanout/redis: refused", "err", err)
		return err
	}
	return *e.layout.refused.Load()
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
		return e.refuse(fmt.Errorf("%w: %s partitions under prefix %q in Redis, %d on this node", ErrLayout, theirs, e.opts.Prefix, len(e.parts)))
	}
	if cause, ok := strings.CutPrefix(msg, "FANOUTINFO "); ok {
		return fmt.Errorf("fanout/redis: the scripts need the INFO command (to read the server's run_id and master_replid), which Redis refused: %s", cause)
	}
	return err
}
