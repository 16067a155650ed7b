package bolt

import (
	"fmt"

	"github.com/fanout-go/fanout"
	bbolt "go.etcd.io/bbolt"
)

// read is ReadPage within the read transaction tx: the messages after
// offset from on topics or broadcast, up to the head that tx sees or the
// message that fills the page, and the offset it read up to.
func (s *Store) read(tx *bbolt.Tx, from uint64, topics []string, limit fanout.ReadLimit) ([]*fanout.Message, uint64, error) {
	head, ok := keyOffset(tx.Bucket(bucketMeta).Get(keyHead))
	if !ok {
		return nil, 0, fmt.Errorf("%w: no head", ErrDamaged)
	}
	switch {
	case from > head:
		return nil, 0, fmt.Errorf("%w: not assigned yet", fanout.ErrUnknownID)
	case head-from > uint64(s.opts.MaxCount):
		return nil, 0, fmt.Errorf("%w: %d messages missed, more than the store keeps", fanout.ErrUnknownID, head-from)
	case from == head:
		return nil, head, nil
	}

	// The record that holds from+1 is the last one keyed at or before it.
	c := tx.Bucket(bucketLog).Cursor()
	key := offsetKey(from + 1)
	k, v := c.Seek(key)
	if k == nil || string(k) != string(key) {
		k, v = c.Prev()
	}
	if k == nil {
		return nil, 0, fmt.Errorf("%w: missed messages were evicted", fanout.ErrUnknownID)
	}
	rec, err := parseRecord(k, v)
	if err != nil {
		return nil, 0, err
	}
	if rec.first > from+1 || rec.last() < from+1 {
		return nil, 0, fmt.Errorf("%w: missed messages were evicted", fanout.ErrUnknownID)
	}
	if s.opts.MaxAge > 0 && s.now().UnixNano()-rec.at > int64(s.opts.MaxAge) {
		return nil, 0, fmt.Errorf("%w: missed messages have expired", fanout.ErrUnknownID)
	}

	n := min(head-from, 1024)
	if limit.Messages > 0 {
		n = min(n, uint64(limit.Messages))
	}
	out := make([]*fanout.Message, 0, n)
	var arena []byte // the data of the messages returned: bbolt's memory is only valid in tx
	next := rec.first
	full := uint64(0) // the offset of the message that filled the page
	for ; k != nil && full == 0; k, v = c.Next() {
		if rec, err = parseRecord(k, v); err != nil {
			return nil, 0, err
		}
		if rec.first != next || rec.last() > head {
			return nil, 0, fmt.Errorf("%w: record at offset %d, after %d, head %d", ErrDamaged, rec.first, next-1, head)
		}
		next = rec.last() + 1
		err := rec.each(func(e *entry) bool {
			if e.offset <= from {
				return true
			}
			topic, ok := match(e.topic, topics)
			if !ok {
				return true
			}
			start := len(arena)
			arena = append(arena, e.data...)
			var m *fanout.Message
			if e.binary {
				m = fanout.NewBinaryMessage(arena[start:len(arena):len(arena)])
			} else {
				m = fanout.NewMessage(arena[start:len(arena):len(arena)])
			}
			if len(e.event) > 0 {
				m = m.WithEvent(string(e.event))
			}
			out = append(out, m.Stored(topic, fanout.Position{Epoch: s.epoch, Offset: e.offset}))
			if limit.Full(len(out), len(arena)) {
				full = e.offset
				return false
			}
			return true
		})
		if err != nil {
			return nil, 0, err
		}
	}
	if full > 0 {
		return out, full, nil
	}
	if next != head+1 {
		return nil, 0, fmt.Errorf("%w: log ends at %d, head %d", ErrDamaged, next-1, head)
	}
	return out, head, nil
}

// match reports whether a message stored on topic goes to a subscriber of
// topics (a broadcast, topic "", goes to all), and returns the topic as a
// string without allocating one.
func match(topic []byte, topics []string) (string, bool) {
	if len(topic) == 0 {
		return "", true
	}
	for _, t := range topics {
		if t == string(topic) {
			return t, true
		}
	}
	return "", false
}
