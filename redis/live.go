package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
)

// part is one partition as a node follows it: its keys, how many local
// subscriptions need it, and the follower goroutine that keeps its
// subscriptions (see channels.go) and hands their messages to the feed.
type part struct {
	e         *Engine
	id        int
	tag       string   // the hash tag of its keys and channels (see slots.go)
	keys      []string // meta hash, stream: one hash tag, one slot
	bcast     string   // the broadcasts' channel
	topicChan string   // the topics' channels' prefix
	legacy    string   // the one channel of versions before topic channels
	probe     string   // this node's probe channel (see check)

	mu      sync.Mutex
	refs    int                  // local subscriptions of its topics
	topics  map[string]*topicSub // the topics this node follows
	added   []string             // topics added since the follower last looked
	pending int                  // topics subscribed since the last check (see topicSub.since)
	sticky  bool                 // a subscriber of no topic came: followed until Close
	running bool                 // a follower goroutine runs
	ready   chan struct{}        // closed once the follower is live (subscribed, head known)
	isReady bool                 // ready is closed
	wake    chan struct{}        // one-slot signal to the follower: refs changed or inbox filled

	inMu     sync.Mutex
	inbox    []string       // live payloads received, not yet handled
	dropping map[string]int // channels being unsubscribed: confirmations expected

	fence  fence     // publishes that gave up, still in flight (see store)
	commit committer // its publishes' queue (see commit.go)
	seen   seen      // the highest position of its epoch this node knows of (see rollback.go)

	// The follower's own state (one follower at a time; handed from one
	// to the next through mu).
	last   fanout.Position // the last position delivered, or the baseline
	probed fanout.Position // the head read at the last check whose probe came back
	checks int             // checks since the last audit
	auditN atomic.Int64    // checks per audit (0: defaultAuditEvery); tests lower it
	paused bool            // last is from before a pause (nobody needed the partition)
}

func newPart(e *Engine, id int) *part {
	tag := partitionTag(e.opts.Prefix, id, e.opts.Partitions, e.spread)
	p := &part{
		e:         e,
		id:        id,
		tag:       tag,
		keys:      []string{tag + ":meta", tag + ":log"},
		bcast:     tag + ":b",
		legacy:    tag + ":live",
		topicChan: tag + ":t:",
		probe:     tag + ":probe:" + randomID(16),
		topics:    make(map[string]*topicSub),
		wake:      make(chan struct{}, 1),
	}
	return p
}

// acquire counts a local subscription of each of topics (of the
// broadcasts alone, sticky, for none), starts the follower if none runs,
// and returns the channels to wait for: closed once the partition is
// live and each topic's channel subscribed.
func (p *part) acquire(topics []string, sticky bool) ([]<-chan struct{}, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := max(len(topics), 1)
	if !p.running {
		if !p.e.startGoroutine() {
			return nil, fanout.ErrClosed
		}
		p.running = true
		p.ready, p.isReady = make(chan struct{}), false
		go p.follow()
	}
	p.refs += n
	p.sticky = p.sticky || sticky
	var ready []<-chan struct{}
	if !p.isReady {
		ready = append(ready, p.ready)
	}
	ready, added := p.addTopicsLocked(topics, ready)
	if added {
		p.signal() // the follower subscribes the new channels
	}
	return ready, nil
}

// release undoes acquire(topics). The follower notices at its next tick.
func (p *part) release(topics []string) {
	p.mu.Lock()
	p.refs -= max(len(topics), 1)
	p.releaseTopicsLocked(topics)
	p.mu.Unlock()
}

func (p *part) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// stop reports whether the follower must end (nobody needs the
// partition, or the engine is closing), and if so marks it ended.
func (p *part) stop() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.e.ctx.Err() == nil && (p.refs > 0 || p.sticky) {
		return false
	}
	p.running = false
	p.forgetTopicsLocked()
	if !p.last.IsZero() {
		p.paused = true
	}
	return true
}

// follow keeps the partition's subscription, reconnecting with a backoff,
// until it is no longer needed.
func (p *part) follow() {
	defer p.e.wg.Done()
	// A session that subscribed counts in Stats.Following until it ends
	// with an error, or until stop has marked the partition ended: so
	// Following drops only once a pause is recorded.
	counted := false
	uncount := func() {
		if counted {
			p.e.stats.following.Add(-1)
			counted = false
		}
	}
	defer uncount()
	backoff := 50 * time.Millisecond
	for !p.stop() {
		uncount()
		followed, err := p.session()
		counted = followed
		if err == nil {
			continue // no longer needed: stop tells
		}
		uncount()
		p.e.stats.reconnects.Add(1)
		p.e.setLastError(err)
		p.e.opts.Logger.Debug("fanout/redis: following a partition", "partition", p.id, "err", err)
		if followed {
			backoff = 50 * time.Millisecond // it worked for a while: retry soon
		}
		t := time.NewTimer(backoff)
		select {
		case <-p.e.ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(2*backoff, 2*time.Second)
	}
}

var errStuck = errors.New("fanout/redis: the subscription missed messages that the stream holds: resubscribing")

// session subscribes to the partition's channels (the broadcasts', and
// those of the topics this node follows) on a connection of its own and
// hands what comes to the feed, until the connection fails, the engine
// closes or the partition is no longer needed (nil). followed tells
// whether it got as far as following the partition.
func (p *part) session() (followed bool, err error) {
	e := p.e
	p.inMu.Lock()
	p.inbox = nil // what an earlier connection left is read from the stream if need be
	p.dropping = nil
	p.inMu.Unlock()
	dc, _ := e.client.Dedicate()
	defer dc.Close()
	closed := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: func(m rueidis.PubSubMessage) {
			if m.Channel == p.probe {
				p.push(probeMark + m.Message)
				return
			}
			p.push(m.Message)
		},
		OnSubscription: func(s rueidis.PubSubSubscription) {
			if s.Kind == "unsubscribe" || s.Kind == "sunsubscribe" {
				p.inMu.Lock()
				dropped := p.droppedLocked(s.Channel)
				p.inMu.Unlock()
				if dropped {
					p.push("") // the server dropped the subscription (a slot moved, say)
				}
			}
		},
	})
	channels, subs := p.toSubscribe(true)
	ctx, cancel := context.WithTimeout(e.ctx, e.opts.PingTimeout+time.Duration(len(channels)/subscribeBatch)*e.opts.PingTimeout)
	err = e.subscribe(ctx, dc, channels)
	if err == nil && e.sharded {
		// A replica serves SSUBSCRIBE too, where a client whose view of
		// the slots is stale (after a failover) sends it; the master's
		// messages reach it over the cluster bus, at most once, and the
		// probes may come while a message was lost. A probe sent on the
		// connection itself is refused there (MOVED: it may write): the
		// session ends, and the next one subscribes on the master.
		err = dc.Do(ctx, dc.B().Eval().Script(probeSource).Numkeys(1).Key(p.keys[0]).Arg(p.probe, "", e.shardedArg).Build()).Error()
		if err != nil {
			err = fmt.Errorf("the subscription's server is not the partition's master: %w", err)
		}
	}
	if err == nil {
		// Everything stored from now on comes over the channels; what was
		// stored since the last delivery, up to the head, is read from
		// the stream (see sync): the head is then the baseline.
		var head fanout.Position
		if head, err = e.head(ctx, p); err == nil {
			err = p.sync(ctx, head)
		}
	}
	cancel()
	if err != nil {
		if e.ctx.Err() != nil {
			return false, nil
		}
		return false, fmt.Errorf("subscribing: %w", err)
	}
	p.mu.Lock()
	if !p.isReady {
		close(p.ready)
		p.isReady = true
	}
	p.mu.Unlock()
	p.markReady(subs)
	e.stats.following.Add(1) // until follow uncounts it

	tick := time.NewTicker(e.opts.CheckInterval)
	defer tick.Stop()
	busy := false     // a message came since the last tick
	unneeded := false // no local subscription needed the partition at the last tick
	for {
		select {
		case <-e.ctx.Done():
			return true, nil
		case err := <-closed:
			return true, fmt.Errorf("subscription connection closed: %v", err)
		case <-p.wake:
			n, _, err := p.drain("")
			if err != nil {
				return true, err
			}
			busy = busy || n > 0
			if err := p.addChannels(dc); err != nil {
				return true, err
			}
		case <-tick.C:
			if err := p.dropChannels(dc); err != nil {
				return true, err
			}
			// A partition that no subscriber needs is let go after a
			// whole interval, so that subscribers who come and go (a
			// client reconnecting) do not make it churn.
			if p.idle() {
				if unneeded {
					return true, nil
				}
				unneeded = true
			} else {
				unneeded = false
			}
			if busy {
				busy = false
				continue
			}
			if err := p.check(closed); err != nil {
				return true, err
			}
		}
	}
}

// idle reports whether no local subscription needs the partition.
func (p *part) idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refs <= 0 && !p.sticky
}

// push queues a live payload for the follower ("": the subscription was
// dropped). It runs on the client's reading goroutine: it must not block.
func (p *part) push(payload string) {
	p.inMu.Lock()
	p.inbox = append(p.inbox, payload)
	p.inMu.Unlock()
	p.signal()
}

// drain handles the queued live payloads and returns how many. With a
// token (see check), it stops at that probe, leaves what came after it
// for the next drain and reports probed; other probes (an earlier
// check's, or anyone's publish on the probe channel) are ignored.
func (p *part) drain(token string) (n int, probed bool, err error) {
	p.inMu.Lock()
	batch := p.inbox
	p.inbox = nil
	p.inMu.Unlock()
	for i, payload := range batch {
		if rest, ok := strings.CutPrefix(payload, probeMark); ok {
			if token == "" || rest != token {
				continue
			}
			p.inMu.Lock()
			p.inbox = append(batch[i+1:len(batch):len(batch)], p.inbox...)
			more := len(p.inbox) > 0
			p.inMu.Unlock()
			if more {
				p.signal()
			}
			return n, true, nil
		}
		if payload == "" {
			return n, false, errors.New("fanout/redis: the server dropped the subscription")
		}
		l, err := parseLive(payload)
		if err != nil {
			p.e.opts.Logger.Warn("fanout/redis: ignoring a live message", "partition", p.id, "err", err)
			continue
		}
		if err := p.handle(l); err != nil {
			return n, false, err
		}
		n++
	}
	return n, false, nil
}

// handle delivers one live message; one at or before the last delivery
// (read from the stream already) is dropped. A skip is not a hole: the
// offsets between are other topics' (see channels.go).
func (p *part) handle(l live) error {
	e := p.e
	if p.last.IsZero() {
		// No baseline (Redis failed right after a loss): this message is
		// the new start.
		p.last = fanout.Position{Epoch: l.epoch, Partition: p.id, Offset: l.offset - 1}
	}
	if l.epoch != p.last.Epoch {
		// The partition started a new life while followed (FLUSHALL, a
		// failover, a restart from a snapshot): what its subscribers
		// missed of the old one cannot be told.
		e.stats.epochs.Add(1)
		p.reset(fmt.Errorf("%w: Redis lost partition %d's history (epoch %s, then %s)", fanout.ErrUnknownID, p.id, p.last.Epoch, l.epoch))
		p.last = fanout.Position{Epoch: l.epoch, Partition: p.id}
	}
	if l.offset <= p.last.Offset {
		return nil // read from the stream already
	}
	pos := fanout.Position{Epoch: l.epoch, Partition: p.id, Offset: l.offset}
	m, err := stored(l.topic, l.kind, l.data, pos)
	if err != nil {
		e.opts.Logger.Warn("fanout/redis: ignoring a live message", "partition", p.id, "err", err)
		return nil
	}
	e.stats.observeLag(l.ms)
	p.deliver(m)
	return nil
}

func (p *part) deliver(m *fanout.Message) {
	p.e.feedOf().Deliver(m.Topic(), m)
	p.last = m.Position()
	p.seen.observePosition(p.last)
	p.e.stats.delivered.Add(1)
}
