package redis

import (
	"context"
	"errors"
	"fmt"

	"github.com/fanout-go/fanout"
)

// sync brings the deliveries up to head, the partition's head read after
// subscribing (or at a check), and returns how many messages it read from
// the stream for that.
func (p *part) sync(ctx context.Context, head fanout.Position) (int, error) {
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
		return p.fill(ctx, head.Offset)
	}
	return 0, nil
}

// fill delivers, from the stream, what followed p.last up to at least
// to. When the stream no longer holds it (trimmed, or a new epoch), the
// partition's subscribers get the resync signal and the head becomes the
// new baseline.
func (p *part) fill(ctx context.Context, to uint64) (int, error) {
	e := p.e
	msgs, head, err := e.readAll(ctx, p, p.last)
	n := 0
	if err == nil {
		for _, m := range msgs {
			if m.Position().Offset != p.last.Offset+1 {
				err = fmt.Errorf("%w: offset %d missing from partition %d's stream", fanout.ErrUnknownID, p.last.Offset+1, p.id)
				break
			}
			p.deliver(m)
			n++
		}
		e.stats.recovered.Add(uint64(n))
		if err == nil && p.last.Offset >= to {
			return n, nil
		}
	}
	if err == nil {
		err = fmt.Errorf("%w: partition %d's stream ends at %d, before %d", fanout.ErrUnknownID, p.id, p.last.Offset, to)
	}
	if !errors.Is(err, fanout.ErrUnknownID) {
		return n, err // Redis unreachable: the next check or message retries
	}
	e.opts.Logger.Warn("fanout/redis: messages lost", "partition", p.id, "after", p.last.ID(), "err", err)
	p.reset(err)
	if head.Epoch == "" {
		if head, err = e.head(ctx, p); err != nil {
			p.last = fanout.Position{} // the next subscription or check sets it
			return n, err
		}
	}
	p.last = head
	return n, nil
}

// reset tells the feed that what followed the last delivery cannot be
// told: the partition's subscribers get the resync signal.
func (p *part) reset(err error) {
	p.e.stats.resets.Add(1)
	p.e.feedOf().Reset(p.id, err)
}
