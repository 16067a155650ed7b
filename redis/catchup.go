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
// subscribing (or at a check), and returns the offset of the first
// message of the followed topics it read from the stream for that (0 for
// none): the channels had not delivered it.
func (p *part) sync(ctx context.Context, head fanout.Position) (uint64, error) {
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
	return 0, nil
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
// baseline. It returns the offset of the first message it delivered (0
// for none).
func (p *part) fill(ctx context.Context) (first uint64, err error) {
	e := p.e
	topics := p.followed()
	var msgs []*fanout.Message
	var head, upTo fanout.Position
	for i := 0; i == 0 || i < len(topics); i += fillChunk {
		var got []*fanout.Message
		got, head, err = e.read(ctx, p, e.readKeys(p), p.last, "1", topics[i:min(i+fillChunk, len(topics))], fanout.ReadLimit{})
		if err != nil {
			break
		}
		msgs = append(msgs, got...)
		if upTo.IsZero() || head.Offset < upTo.Offset {
			upTo = head
		}
	}
	if err == nil {
		if len(topics) > fillChunk {
			// Each call returned its topics' messages and every broadcast.
			slices.SortFunc(msgs, func(a, b *fanout.Message) int { return cmp.Compare(a.Position().Offset, b.Position().Offset) })
		}
		n := 0
		for _, m := range msgs {
			if pos := m.Position(); p.last.Before(pos) && pos.Offset <= upTo.Offset {
				if n == 0 {
					first = pos.Offset
				}
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
		return first, nil
	}
	if !errors.Is(err, fanout.ErrUnknownID) {
		return 0, err // Redis unreachable: the next check or message retries
	}
	e.opts.Logger.Warn("fanout/redis: messages lost", "partition", p.id, "after", p.last.ID(), "err", err)
	p.reset(err)
	if head.Epoch == "" {
		if head, err = e.head(ctx, p); err != nil {
			p.last = fanout.Position{} // the next subscription or check sets it
			return 0, err
		}
	}
	p.last = head
	return 0, nil
}

// reset tells the feed that what followed the last delivery cannot be
// told: the partition's subscribers get the resync signal.
func (p *part) reset(err error) {
	p.e.stats.resets.Add(1)
	p.e.feedOf().Reset(p.id, err)
}
