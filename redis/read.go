package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
)

// Read implements fanout.Engine: it reads the epoch, the head and the
// stream entries after from with a read-only script, which answers a
// bounded part of the range per call (see ReadPage); the calls go on
// from where the last one stopped until the head, so the head returned is
// exact. It reads the entries of topics (and broadcasts) only, through
// the partition's topic index, when it can (see history_index.go).
func (e *Engine) Read(ctx context.Context, from fanout.Position, topics []string) ([]*fanout.Message, fanout.Position, error) {
	return e.ReadPage(ctx, from, topics, fanout.ReadLimit{})
}

var _ fanout.PageReader = (*Engine)(nil)

// ReadPage implements fanout.PageReader: the read script stops at the
// page's end (limit's messages or bytes), so a page costs Redis what it
// returns, and a resume the length of its history, not its square.
func (e *Engine) ReadPage(ctx context.Context, from fanout.Position, topics []string, limit fanout.ReadLimit) ([]*fanout.Message, fanout.Position, error) {
	if from.Partition < 0 || from.Partition >= len(e.parts) {
		return nil, fanout.Position{}, fmt.Errorf("%w: partition %d of %d", fanout.ErrUnknownID, from.Partition, len(e.parts))
	}
	if err := e.checkLayout(ctx); err != nil {
		return nil, fanout.Position{}, err
	}
	var mine []string
	for _, t := range topics {
		if e.Partition(t) == from.Partition {
			mine = append(mine, t)
		}
	}
	p := e.parts[from.Partition]
	return e.read(ctx, p, e.readKeys(p), from, "1", mine, limit)
}

// What one call of the read script may answer: at most readBatch
// messages, readBatchBytes bytes of data (the message that reaches it
// included), and readScan stream entries examined when it scans the
// range (those of other topics included). A call thus holds Redis for a
// bounded time (about 1.5 ms to scan 1,000 entries), and a read that
// needs more makes more calls, each from where the last one stopped.
const (
	readBatch      = 1024
	readBatchBytes = 4 << 20
	readScan       = 1024
)

// read reads the messages of p after from (of topics and broadcasts when
// filter is "1"), up to limit, calling the read script until the page is
// full or the head is reached.
func (e *Engine) read(ctx context.Context, p *part, keys []string, from fanout.Position, filter string, topics []string, limit fanout.ReadLimit) ([]*fanout.Message, fanout.Position, error) {
	args := append([]string{from.Epoch, "", filter, "", "", strconv.FormatInt(e.readScan.Load(), 10)}, topics...)
	var msgs []*fanout.Message
	bytes := 0
	at := from.Offset
	for {
		count, budget := readBatch, readBatchBytes
		if limit.Messages > 0 {
			count = min(count, limit.Messages-len(msgs))
		}
		if limit.Bytes > 0 {
			budget = min(budget, limit.Bytes-bytes)
		}
		args[1], args[3], args[4] = strconv.FormatUint(at, 10), strconv.Itoa(count), strconv.Itoa(budget)
		page, upTo, head, err := e.readCall(ctx, p, keys, from, args)
		if err != nil {
			return nil, head, err
		}
		for _, m := range page {
			msgs = append(msgs, m)
			bytes += len(m.Data())
		}
		switch {
		case limit.Full(len(msgs), bytes):
			return msgs, fanout.Position{Epoch: head.Epoch, Partition: p.id, Offset: upTo}, nil
		case upTo == head.Offset:
			return msgs, head, nil
		case upTo <= at || upTo > head.Offset:
			return nil, fanout.Position{}, fmt.Errorf("fanout/redis: read partition %d: the read script stopped at %d, from %d (head %d)", p.id, upTo, at, head.Offset)
		}
		at = upTo
	}
}

// readCall runs the read script once: the messages it returned, the
// offset it read up to, and the head.
func (e *Engine) readCall(ctx context.Context, p *part, keys []string, from fanout.Position, args []string) ([]*fanout.Message, uint64, fanout.Position, error) {
	reply, err := e.readScript.Exec(ctx, e.client, keys, args).ToArray()
	if err != nil {
		return nil, 0, fanout.Position{}, fmt.Errorf("fanout/redis: read partition %d: %w", p.id, err)
	}
	if len(reply) < 3 {
		return nil, 0, fanout.Position{}, errors.New("fanout/redis: malformed read reply")
	}
	status, _ := reply[0].ToString()
	epoch, _ := reply[1].ToString()
	h, _ := reply[2].ToString()
	offset, _ := strconv.ParseUint(h, 10, 64)
	head := fanout.Position{Epoch: epoch, Partition: p.id, Offset: offset}
	if epoch != "" {
		p.seen.observePosition(head)
	}
	switch status {
	case "ok":
	case "epoch":
		return nil, 0, head, fmt.Errorf("%w: epoch %s of partition %d is gone (now %q): Redis lost its history", fanout.ErrUnknownID, from.Epoch, p.id, epoch)
	case "ahead":
		return nil, 0, head, fmt.Errorf("%w: offset %s is ahead of partition %d's head %d", fanout.ErrUnknownID, args[1], p.id, offset)
	case "trimmed":
		return nil, 0, head, fmt.Errorf("%w: what followed offset %s of partition %d was trimmed from its history", fanout.ErrUnknownID, args[1], p.id)
	default:
		return nil, 0, fanout.Position{}, fmt.Errorf("fanout/redis: unexpected read status %q", status)
	}
	if len(reply) < 5 {
		return nil, 0, fanout.Position{}, errors.New("fanout/redis: malformed read reply")
	}
	entries, err := reply[3].ToArray()
	if err != nil {
		return nil, 0, fanout.Position{}, fmt.Errorf("fanout/redis: malformed read reply: %w", err)
	}
	u, _ := reply[4].ToString()
	upTo, err := strconv.ParseUint(u, 10, 64)
	if err != nil {
		return nil, 0, fanout.Position{}, errors.New("fanout/redis: malformed read reply")
	}
	msgs := make([]*fanout.Message, 0, len(entries))
	for _, entry := range entries {
		m, err := parseEntry(entry, epoch, p.id)
		if err != nil {
			return nil, 0, fanout.Position{}, err
		}
		msgs = append(msgs, m)
	}
	return msgs, upTo, head, nil
}

// parseEntry reads one stream entry, {id, {t, topic, x, kind, d, data}}.
func parseEntry(entry rueidis.RedisMessage, epoch string, partition int) (*fanout.Message, error) {
	bad := errors.New("fanout/redis: malformed stream entry")
	parts, err := entry.ToArray()
	if err != nil || len(parts) != 2 {
		return nil, bad
	}
	id, _ := parts[0].ToString()
	offset, _, ok := parseEntryID(id)
	if !ok {
		return nil, bad
	}
	fields, err := parts[1].ToArray()
	if err != nil || len(fields)%2 != 0 {
		return nil, bad
	}
	var topic, kind, data string
	for i := 0; i < len(fields); i += 2 {
		name, _ := fields[i].ToString()
		value, _ := fields[i+1].ToString()
		switch name {
		case "t":
			topic = value
		case "x":
			kind = value
		case "d":
			data = value
		}
	}
	return stored(topic, kind, data, fanout.Position{Epoch: epoch, Partition: partition, Offset: offset})
}
