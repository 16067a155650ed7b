package redis

import (
	"context"
	"errors"
	"fmt"

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

// fill delivers, from the stream, the messages of the followed topics
// (and broadcasts) after p.last, up to the head, which becomes the
// baseline: every message of those topics up to it is delivered, so a
// live copy at or before it is dropped. The read goes through the
// partition's topic index (see history_index.go): it costs Redis the
// followed topics' messages and a lookup per topic, not the range. When
// the stream no longer holds what followed p.last (trimmed, or a new
// epoch), the partition's subscribers get the resync signal and the head
// becomes the new baseline.
func (p *part) fill(ctx context.Context) (first uint64, err error) {
	e := p.e
	msgs, head, err := e.read(ctx, p, e.readKeys(p), p.last, "1", p.followed(), fanout.ReadLimit{})
	n := 0
	if err == nil {
		for _, m := range msgs {
			if p.last.Before(m.Position()) {
				if n == 0 {
					first = m.Position().Offset
				}
				p.deliver(m)
				n++
			}
		}
		e.stats.recovered.Add(uint64(n))
		if n > 0 {
			e.stats.holes.Add(1)
		}
		if p.last.Before(head) {
			p.last = head
		}
		return first, nil
	}
	if !errors.Is(err, fanout.ErrUnknownID) {
		return first, err // Redis unreachable: the next check or message retries
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
