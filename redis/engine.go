package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/redis/internal/script"
)

// Engine is a fanout.Engine on Redis: every process whose Hub (or
// Broker) has an Engine on the same Redis, with the same Prefix and
// Partitions, shares its messages, in one order per partition, with one
// history. See the package documentation for the data model and what
// happens when Redis or the network loses something.
type Engine struct {
	client  rueidis.Client
	opts    Options
	sharded bool   // a Redis Cluster: SPUBLISH and SSUBSCRIBE
	spread  bool   // a Cluster's partition tags (see slots.go), and its markers (layout.go)
	epochID string // this engine's prefix of the epochs it starts

	publishScript, headScript  *bakedScript // see baked.go
	readScript                 *rueidis.Lua
	maxLen, maxAge, shardedArg string // publish script arguments
	lifeArg                    string // the partition keys' life, in ms (see keyLife)
	partitionsArg              string // the scripts' layout argument

	layout   layoutState  // see layout.go
	readScan atomic.Int64 // see readScan; tests lower it

	parts []*part

	ctx    context.Context // ends at Close
	cancel context.CancelFunc

	mu     sync.Mutex
	feed   fanout.Feed
	closed bool
	wg     sync.WaitGroup // partition followers and publishes (see store); Add under mu

	stats counters
	pres  *presence
}

var _ fanout.Engine = (*Engine)(nil)

// New returns an Engine on client (a standalone or a Cluster client of
// rueidis; the Engine detects which), to hand to a Hub or Broker as
// HubOptions.Engine or BrokerOptions.Engine. An Engine serves one Hub;
// each process makes its own. The client stays the application's: Close
// does not close it.
func New(client rueidis.Client, opts *Options) (*Engine, error) {
	return newEngine(client, opts, false)
}

// newEngine is New; with oldLayout, a Cluster's partitions are tagged
// {prefix:p}, without markers, as versions before the slot spread did
// (see layout.go; tests use it as such a node).
func newEngine(client rueidis.Client, opts *Options, oldLayout bool) (*Engine, error) {
	if client == nil {
		return nil, errors.New("fanout/redis: nil client")
	}
	cluster := client.Mode() == rueidis.ClientModeCluster
	o := opts.withDefaults(cluster)
	if strings.ContainsAny(o.Prefix, "{}") {
		return nil, fmt.Errorf("fanout/redis: prefix %q contains a brace: keys would lose their hash tag", o.Prefix)
	}
	e := &Engine{
		client:        client,
		opts:          o,
		sharded:       cluster,
		spread:        cluster && !oldLayout,
		epochID:       randomID(4),
		publishScript: newBakedScript(script.Publish, o.Partitions, o.CheckInterval),
		readScript:    rueidis.NewLuaScriptReadOnly(script.Read),
		headScript:    newBakedScript(script.Head, o.Partitions, o.CheckInterval),
		maxLen:        strconv.Itoa(o.HistorySize),
		maxAge:        strconv.FormatInt(max(o.HistoryAge.Milliseconds(), 0), 10),
		shardedArg:    "0",
		partitionsArg: strconv.Itoa(o.Partitions),
		lifeArg:       strconv.FormatInt(o.keyLife().Milliseconds(), 10),
	}
	if cluster {
		e.shardedArg = "1"
	}
	e.readScan.Store(readScan)
	e.pres = newPresence(e.epochID + randomID(4))
	e.ctx, e.cancel = context.WithCancel(context.Background())
	for i := range o.Partitions {
		e.parts = append(e.parts, newPart(e, i))
	}
	return e, nil
}

// randomID returns n random characters of [0-9A-Za-z].
func randomID(n int) string {
	const chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[rand.IntN(len(chars))]
	}
	return string(b)
}

// Start implements fanout.Engine. The engine follows a partition (keeps
// a connection subscribed to its broadcasts' channel and to the channels
// of the topics this node has subscribers of) from the first Subscribe
// of one of its topics until a whole Options.CheckInterval has passed
// after the last Unsubscribe; a topic's channel likewise.
func (e *Engine) Start(feed fanout.Feed) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.feed != nil {
		panic("fanout/redis: an Engine serves one Hub or Broker")
	}
	e.feed = feed
}

// Partition implements fanout.Engine: a hash of topic (FNV-1a) modulo
// Options.Partitions. Broadcasts for subscribers of no topic are in
// partition 0.
func (e *Engine) Partition(topic string) int {
	n := uint32(len(e.parts))
	if n == 1 || topic == "" {
		return 0
	}
	h := uint32(2166136261)
	for i := range len(topic) {
		h ^= uint32(topic[i])
		h *= 16777619
	}
	return int(h % n)
}

// Partitions returns how many partitions the topics are spread over
// (Options.Partitions, or its default).
func (e *Engine) Partitions() int { return len(e.parts) }

// Publish implements fanout.Engine: one script call stores m at the next
// offset of its topic's partition and publishes it on the topic's
// channel (concurrent publishes to a partition share a call: see
// commit.go) (a broadcast on the partition's broadcast channel), which every
// node with a subscriber of the topic receives (this one too: a message
// reaches local subscribers the same way as remote ones, so every node
// delivers in one order). A broadcast is stored in
// every partition, in one round trip (pipelined), so that each
// subscriber receives it once, in the order of its own partition.
//
// An error wraps what Redis or the connection said (for every message
// of the call: a batch is stored as a whole or not at all). When the connection
// fails after the script was sent, the message may have been stored (and
// delivered) nonetheless: Redis cannot tell.
func (e *Engine) Publish(ctx context.Context, topic string, m *fanout.Message) error {
	if e.isClosed() {
		return fanout.ErrClosed
	}
	if err := e.checkLayout(ctx); err != nil {
		e.stats.publishErrors.Add(1)
		return err
	}
	kind := kindOf(m)
	data := unsafe.String(unsafe.SliceData(m.Data()), len(m.Data())) // sent as is; a published Message is not modified
	if topic == "" && len(e.parts) > 1 {
		ps, keys, args := make([]int, len(e.parts)), make([][]string, len(e.parts)), make([][]string, len(e.parts))
		for i, p := range e.parts {
			ps[i], keys[i], args[i] = i, e.publishKeys(p), e.publishArgs(p, topic, kind, data)
		}
		e.stats.published.Add(1)
		err := e.store(ctx, e.parts, func(ctx context.Context) error {
			var errs []error
			for i, r := range e.publishScript.execMulti(ctx, e.client, ps, keys, args) {
				if err := e.published(e.parts[i], r); err != nil {
					errs = append(errs, fmt.Errorf("partition %d: %w", i, err))
				}
			}
			if len(errs) > 0 {
				return fmt.Errorf("stored in %d of %d partitions: %w", len(e.parts)-len(errs), len(e.parts), errors.Join(errs...))
			}
			return nil
		})
		if err != nil {
			e.stats.publishErrors.Add(1)
			return fmt.Errorf("fanout/redis: broadcast: %w", err)
		}
		return nil
	}
	p := e.parts[e.Partition(topic)]
	e.stats.published.Add(1)
	if err := e.commit(ctx, p, topic, kind, data); err != nil {
		e.stats.publishErrors.Add(1)
		return fmt.Errorf("fanout/redis: publish to partition %d: %w", p.id, err)
	}
	return nil
}

func (e *Engine) publishArgs(p *part, topic, kind, data string) []string {
	prefix, partitions, epoch, offset := e.ensureArgs(p)
	return []string{prefix, partitions, epoch, offset, p.channelOf(topic), e.shardedArg, e.maxLen, e.maxAge, topic, kind, data, e.lifeArg}
}

// published reads a publish script's reply, "<epoch> <offset>", into
// p's seen position.
func (e *Engine) published(p *part, r rueidis.RedisResult) error {
	reply, err := r.ToString()
	if err != nil {
		return e.scriptError(err)
	}
	if i := strings.LastIndexByte(reply, ' '); i >= 0 { // "<epoch> <offset>" (see script.Publish)
		if offset, err := strconv.ParseUint(reply[i+1:], 10, 64); err == nil {
			p.seen.observe(reply[:i], offset)
		}
	}
	return nil
}

// Head implements fanout.Engine. It starts the partition's epoch if it
// has none yet (or lost it), as a publish would.
func (e *Engine) Head(ctx context.Context, partition int) (fanout.Position, error) {
	if partition < 0 || partition >= len(e.parts) {
		return fanout.Position{}, fmt.Errorf("fanout/redis: no partition %d", partition)
	}
	if err := e.checkLayout(ctx); err != nil {
		return fanout.Position{}, err
	}
	return e.head(ctx, e.parts[partition])
}

func (e *Engine) head(ctx context.Context, p *part) (fanout.Position, error) {
	pos, err := e.headOf(ctx, p)
	if err != nil && !errors.Is(err, ErrLayout) {
		err = fmt.Errorf("fanout/redis: head of partition %d: %w", p.id, err)
	}
	return pos, err
}

// headOf is head, with the error unwrapped.
func (e *Engine) headOf(ctx context.Context, p *part) (fanout.Position, error) {
	prefix, partitions, epoch, seenOffset := e.ensureArgs(p)
	reply, err := e.headScript.exec(ctx, e.client, p.id, e.publishKeys(p), []string{prefix, partitions, epoch, seenOffset, e.lifeArg}).AsStrSlice()
	if err != nil {
		return fanout.Position{}, e.scriptError(err)
	}
	if len(reply) != 2 {
		return fanout.Position{}, errors.New("fanout/redis: malformed head reply")
	}
	offset, err := strconv.ParseUint(reply[1], 10, 64)
	if err != nil {
		return fanout.Position{}, errors.New("fanout/redis: malformed head reply")
	}
	p.seen.observe(reply[0], offset)
	return fanout.Position{Epoch: reply[0], Partition: p.id, Offset: offset}, nil
}

// Subscribe implements fanout.Engine: topics (the broadcasts of
// partition 0 for no topic) are followed from now on. The first
// Subscribe of a topic on this node waits, within ctx and twice
// Options.PingTimeout, until its channel is subscribed (and, for its
// partition's first, the partition's head read): what is stored after
// that is delivered, and a message lost after it is found.
func (e *Engine) Subscribe(ctx context.Context, topics []string) error {
	if err := e.checkLayout(ctx); err != nil {
		return err
	}
	byPart := e.byPartition(topics)
	var ready []<-chan struct{}
	acquired := make(map[int][]string, len(byPart))
	for pid, ts := range byPart {
		r, err := e.parts[pid].acquire(ts, len(topics) == 0)
		if err != nil {
			e.release(acquired)
			return err
		}
		acquired[pid] = ts
		ready = append(ready, r...)
	}
	t := time.NewTimer(2 * e.opts.PingTimeout)
	defer t.Stop()
	for _, r := range ready {
		var err error
		select {
		case <-r:
			continue
		case <-ctx.Done():
			err = ctx.Err()
		case <-e.ctx.Done():
			err = fanout.ErrClosed
		case <-t.C:
			err = errors.New("timed out")
		}
		e.release(byPart)
		return fmt.Errorf("fanout/redis: following the topics' partitions: %w (last error: %v)", err, e.lastError())
	}
	return nil
}

// Unsubscribe implements fanout.Engine. It does not block: a partition
// no longer needed is unsubscribed by its follower, in the background,
// after a whole Options.CheckInterval.
func (e *Engine) Unsubscribe(topics []string) {
	if len(topics) == 0 {
		return // Subscribe(nil) made partition 0 sticky: see part.sticky
	}
	e.release(e.byPartition(topics))
}

// byPartition groups topics by partition (partition 0 and no topic, for
// none): reference counts are per topic, because the core unsubscribes a
// subscriber's topics one by one.
func (e *Engine) byPartition(topics []string) map[int][]string {
	by := make(map[int][]string, 1)
	if len(topics) == 0 {
		by[0] = nil
	}
	for _, t := range topics {
		p := e.Partition(t)
		by[p] = append(by[p], t)
	}
	return by
}

func (e *Engine) release(by map[int][]string) {
	for pid, ts := range by {
		e.parts[pid].release(ts)
	}
}

var _ fanout.SparseEngine = (*Engine)(nil)

// SparseFeed implements fanout.SparseEngine: a node receives the
// messages of the topics it has subscribers of (and broadcasts) only, and
// finds what its subscriptions missed itself (see the package
// documentation, Live delivery).
func (e *Engine) SparseFeed() bool { return true }

// Close implements fanout.Engine: it stops following every partition and
// waits for its goroutines. It does not close the client. Idempotent.
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
	return nil
}

func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// startGoroutine counts a goroutine of the engine's (a follower, a
// publish), unless the engine is closed.
func (e *Engine) startGoroutine() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.wg.Add(1)
	return true
}

func (e *Engine) feedOf() fanout.Feed {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.feed
}
