package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/fanout-go/fanout"
)

// sync brings the deliveries up to head, the partition's head read after
// subscribing: it reads from the stream what the channels may not have
// delivered (see fill), from the last delivery, or from the head at the
// last check whose probe came back (everything of the followed topics
// up to it was delivered: see check), when that is later.
func (p *part) sync(ctx context.Context, head fanout.Position) error {
	if p.probed.SameLog(p.last) && p.last.Offset < p.probed.Offset {
		p.last = p.probed
	}
	switch {
	case p.last.IsZero(): // the first subscription: head is the baseline
		p.last = head
	case p.paused:
		// Nobody needed the partition for a while, so what was published
		// meanwhile was not followed: the feed starts anew from head.
		// (Nobody subscribed to the partition is told: none is.)
		p.paused = false
		p.e.stats.resumes.Add(1)
		p.e.feedOf().Reset(p.id, fmt.Errorf("%w: partition %d was not followed while no subscriber needed it", fanout.ErrUnknownID, p.id))
		p.last = head
	case head.Epoch != p.last.Epoch:
		p.e.stats.epochs.Add(1)
		p.reset(fmt.Errorf("%w: Redis lost partition %d's history (epoch %s, now %s)", fanout.ErrUnknownID, p.id, p.last.Epoch, head.Epoch))
		p.last = head
	case head.Offset > p.last.Offset:
		return p.fill(ctx)
	}
	return nil
}

// fillChunk is how many topics one read of fill names: the read script
// looks each up in the topic index, about 3 µs of Redis each, so that a
// node following thousands of topics of a partition holds Redis for
// about a millisecond per call, not 10 or more for all of them at once.
const fillChunk = 256

// fill delivers, from the stream, the messages of the followed topics
// (and broadcasts) after p.last, up to the head, which becomes the
// baseline: every message of those topics up to it is delivered, so a
// live copy at or before it is dropped. The reads go through the
// partition's topic index (see history_index.go): they cost Redis the
// followed topics' messages and a lookup per topic, not the range, in
// calls of fillChunk topics; each reads up to the head of its time, and
// the lowest of those is the baseline. When the stream no longer holds
// what followed p.last (trimmed, or a new epoch), the partition's
// subscribers get the resync signal and the head becomes the new
// baseline.
func (p *part) fill(ctx context.Context) error {
	e := p.e
	msgs, upTo, head, err := p.readFollowed(ctx, p.followed())
	if err == nil {
		n := 0
		for _, m := range msgs {
			if pos := m.Position(); p.last.Before(pos) && pos.Offset <= upTo.Offset {
				p.deliver(m) // a broadcast read twice is delivered once: p.last passed it
				n++
			}
		}
		e.stats.recovered.Add(uint64(n))
		if n > 0 {
			e.stats.holes.Add(1)
		}
		if p.last.Before(upTo) {
			p.last = upTo
		}
		return nil
	}
	if !errors.Is(err, fanout.ErrUnknownID) {
		return err // Redis unreachable: the next check or message retries
	}
	e.opts.Logger.Warn("fanout/redis: messages lost", "partition", p.id, "after", p.last.ID(), "err", err)
	p.reset(err)
	if head.Epoch == "" {
		if head, err = e.head(ctx, p); err != nil {
			p.last = fanout.Position{} // the next subscription or check sets it
			return err
		}
	}
	p.last = head
	return nil
}

// readFollowed reads the messages of topics (and the broadcasts) after
// p.last, fillChunk topics per call, sorted by offset. upTo is the
// lowest head the calls read up to (every message of topics up to it
// is in msgs), head the last call's (for ErrUnknownID: the head, when
// known).
func (p *part) readFollowed(ctx context.Context, topics []string) (msgs []*fanout.Message, upTo, head fanout.Position, err error) {
	e := p.e
	for i := 0; i == 0 || i < len(topics); i += fillChunk {
		var got []*fanout.Message
		got, head, err = e.read(ctx, p, e.readKeys(p), p.last, "1", topics[i:min(i+fillChunk, len(topics))], fanout.ReadLimit{})
		if err != nil {
			return nil, upTo, head, err
		}
		msgs = append(msgs, got...)
		if upTo.IsZero() || head.Offset < upTo.Offset {
			upTo = head
		}
	}
	if len(topics) > fillChunk {
		// Each call returned its topics' messages and every broadcast.
		slices.SortFunc(msgs, func(a, b *fanout.Message) int { return cmp.Compare(a.Position().Offset, b.Position().Offset) })
	}
	return msgs, upTo, head, nil
}

// audit is a check's read of what the probe cannot vouch for (see
// check): once the probe came back, the messages of the followed topics
// after the last delivery, up to head (read before the probe was
// published), that the channels owed this node and did not deliver:
// live copies lost on a connection that stayed subscribed. It delivers
// them and returns how many. A message of a topic subscribed during the
// session, at or before the head of the first check after that (see
// topicSub.since), may predate the subscription: it is not owed. When
// the stream no longer holds what followed the last delivery, nothing
// can be told: it returns 0.
func (p *part) audit(ctx context.Context, head fanout.Position) (int, error) {
	topics, since := p.owed()
	msgs, _, _, err := p.readFollowed(ctx, topics)
	if errors.Is(err, fanout.ErrUnknownID) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range msgs {
		pos := m.Position()
		if s, ok := since[m.Topic()]; (ok || m.Topic() == "") && pos.Offset > s && p.last.Before(pos) && pos.Offset <= head.Offset {
			p.deliver(m)
			n++
		}
	}
	p.e.stats.recovered.Add(uint64(n))
	if n > 0 {
		p.e.stats.holes.Add(1)
	}
	return n, nil
}

// reset tells the feed that what followed the last delivery cannot be
// told: the partition's subscribers get the resync signal.
func (p *part) reset(err error) {
	p.e.stats.resets.Add(1)
	p.e.feedOf().Reset(p.id, err)
}
