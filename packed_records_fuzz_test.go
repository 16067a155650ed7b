package fanout_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// rsEncodeRecords encodes records in the packed framing as the record
// table on ResumeSubprotocolV2 documents it (written here from the spec,
// not the library), canonically: a position is one record (kind 5, its
// ID), a resync one record (kind 4, its reason), a message its ID, event
// type and topic records, each when it has one, in that order, then its
// own. So a decoder that accepts anything else (a prefix before a resync,
// two topics, ...) reads records that re-encode differently.
func rsEncodeRecords(rs []fanout.Record) []byte {
	var b []byte
	rec := func(kind byte, p []byte) {
		b = append(binary.BigEndian.AppendUint32(append(b, kind), uint32(len(p))), p...)
	}
	for _, r := range rs {
		switch {
		case r.Position:
			rec(5, []byte(r.ID))
			continue
		case r.Resync:
			rec(4, r.Data)
			continue
		}
		for _, p := range []struct {
			kind byte
			s    string
		}{{3, r.ID}, {6, r.Event}, {7, r.Topic}} {
			if p.s != "" {
				rec(p.kind, []byte(p.s))
			}
		}
		if r.Type == fanout.Binary {
			rec(2, r.Data)
		} else {
			rec(1, r.Data)
		}
	}
	return b
}

// fuzzFramings are the packed framings, by subprotocol.
var fuzzFramings = []struct {
	name    string
	f       fanout.Framing
	ids, v2 bool
}{
	{fanout.PackedSubprotocol, fanout.FramingPacked, false, false},
	{fanout.ResumeSubprotocol, fanout.FramingResume, true, false},
	{fanout.PackedSubprotocolV2, fanout.FramingPackedV2, false, true},
	{fanout.ResumeSubprotocolV2, fanout.FramingResumeV2, true, true},
}

// FuzzUnpackRecords feeds UnpackRecords arbitrary frames of any version:
// it must not panic, each record's data must lie in the frame where its
// header says, with no capacity beyond it, an accepted frame must
// re-encode (rsEncodeRecords, from the spec) to the same bytes, and a
// rejected one must fail with ErrBadPacked after records that re-encode
// to a strict prefix of it. Unpack must refuse any frame with records
// other than text and binary ones. Then batches cut out of the same bytes
// (messages with IDs, event types and topics, resyncs, positions) must
// encode, in each subprotocol's framing, to exactly what the spec says
// that subprotocol sends of them, and read back intact.
func FuzzUnpackRecords(f *testing.F) {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	r := fuzzRecord
	f.Add([]byte{}, []byte{})
	f.Add(r(1, "hello"), []byte{0, 10, 2, 1, 1})
	f.Add(cat(r(3, "k1-1"), r(1, "a")), []byte{0, 3, 0, 1, 5, 0, 0, 0, 1, 2})
	f.Add(cat(r(3, "k1-1"), r(2, "\x00\xff"), r(4, "unknown")), []byte{})
	f.Add(cat(r(4, "unknown"), r(3, "k1-2"), r(1, "live")), []byte{})
	f.Add(cat(r(5, "k1-0"), r(3, "k1-1"), r(6, "price"), r(7, "t"), r(1, "x")), []byte{0, 4, 3, 5, 1, 0, 7, 0, 2, 3})
	f.Add(cat(r(6, "ev"), r(2, "\x01")), []byte{0xff, 0xfe, 0xff, 0xff, 0xff})
	f.Add(cat(r(7, "room"), r(1, "")), []byte{0, 2, 0, 0, 0, 0, 3, 0, 0, 0, 0, 4, 0, 0, 0})
	f.Add(cat(r(3, "a"), r(3, "b"), r(1, "x")), []byte{})          // two IDs in a row
	f.Add(cat(r(7, "t"), r(6, "e"), r(1, "x")), []byte{})          // out of order
	f.Add(cat(r(6, "a"), r(6, "b"), r(1, "x")), []byte{})          // two event types
	f.Add(cat(r(7, "t"), r(4, "unknown")), []byte{})               // a prefix before a resync
	f.Add(cat(r(6, "e"), r(5, "k1-1")), []byte{})                  // a prefix before a position
	f.Add(r(3, ""), []byte{})                                      // empty ID
	f.Add(cat(r(6, ""), r(1, "x")), []byte{})                      // empty event type
	f.Add(cat(r(7, ""), r(1, "x")), []byte{})                      // empty topic
	f.Add(r(3, "dangling"), []byte{})                              // ID ends the frame
	f.Add(cat(r(1, "x"), r(7, "dangling")), []byte{})              // topic ends the frame
	f.Add(cat(r(3, "k1-1"), []byte{1, 0, 0, 0, 9, 'x'}), []byte{}) // overrun after an ID
	f.Add(cat(r(1, "a"), []byte{5, 0, 0, 0, 0}), []byte{})         // empty position
	f.Add(cat(r(1, "a"), r(8, "x")), []byte{})                     // unknown kind
	f.Add([]byte{3, 0xff, 0xff, 0xff, 0xff}, []byte{})
	f.Add([]byte(strings.Repeat("payload bytes ", 100)), []byte{0, 20, 4, 1, 7, 0, 0, 0, 0, 0, 9, 0, 0, 0})

	f.Fuzz(func(t *testing.T, frame, layout []byte) {
		fuzzDecodeAny(t, frame)
		fuzzEncodeEach(t, fuzzBatch(frame, layout))
	})
}

// fuzzDecodeAny checks UnpackRecords and Unpack on an arbitrary frame (see
// FuzzUnpackRecords).
func fuzzDecodeAny(t *testing.T, frame []byte) {
	var got []fanout.Record
	off := 0 // where the next record (its prefix records first) starts
	err := fanout.UnpackRecords(frame, func(r fanout.Record) error {
		if r.Position {
			if r.Data != nil || frame[off] != 5 || string(frame[off+5:off+5+len(r.ID)]) != r.ID {
				t.Fatalf("record %d: position %+v is not the record at offset %d", len(got), r, off)
			}
			off += 5 + len(r.ID)
			got = append(got, r)
			return nil
		}
		for _, p := range []string{r.ID, r.Event, r.Topic} {
			if p != "" {
				off += 5 + len(p)
			}
		}
		start := off + 5
		if start > len(frame) || len(r.Data) > len(frame)-start {
			t.Fatalf("record %d: %d bytes at %d overrun the %d-byte frame", len(got), len(r.Data), start, len(frame))
		}
		if len(r.Data) > 0 && &r.Data[0] != &frame[start] {
			t.Fatalf("record %d: data does not alias the frame at offset %d", len(got), start)
		}
		if cap(r.Data) != len(r.Data) {
			t.Fatalf("record %d: cap %d > len %d: appending would clobber the frame", len(got), cap(r.Data), len(r.Data))
		}
		off = start + len(r.Data)
		got = append(got, r)
		return nil
	})
	fuzzCheckReencoded(t, frame, rsEncodeRecords(got), err)
	plain := true
	for _, r := range got {
		plain = plain && r.ID == "" && r.Event == "" && r.Topic == "" && !r.Resync && !r.Position
	}
	if uerr := fanout.Unpack(frame, func(fanout.MessageType, []byte) error { return nil }); !plain && !errors.Is(uerr, fanout.ErrBadPacked) {
		t.Fatalf("Unpack accepted a frame with ID, event type, topic, resync or position records: %v", uerr)
	}
}

// fuzzMessage is a message of a batch, and what it is.
type fuzzMessage struct {
	m      *fanout.Message
	resync bool // the resync signal
	pos    bool // a new subscriber's position
}

// fuzzBatch cuts messages out of pool's bytes as layout says, 5 bytes per
// message: its kind (low 2 bits: text, binary, resync, position) and
// payload length (the rest) in 2, then the lengths of its ID, event type
// and topic.
func fuzzBatch(pool, layout []byte) []fuzzMessage {
	take := func(n int) []byte {
		n = min(n, len(pool))
		b := pool[:n:n]
		pool = pool[n:]
		return b
	}
	var batch []fuzzMessage
	for i := 0; i+4 < len(layout); i += 5 {
		v := int(binary.BigEndian.Uint16(layout[i:]))
		data := take(v >> 2)
		id, event, topic := string(take(int(layout[i+2]))), string(take(int(layout[i+3]))), string(take(int(layout[i+4])))
		var m *fanout.Message
		switch v & 3 {
		case 0:
			m = fanout.NewMessage(data)
		case 1:
			m = fanout.NewBinaryMessage(data)
		case 2: // it carries the event type ResyncEvent: no record must say so
			batch = append(batch, fuzzMessage{m: fanout.ResyncMessage(fanout.ErrUnknownID), resync: true})
			continue
		default:
			pos := fanout.Position{Epoch: "e", Offset: uint64(v >> 2)}
			batch = append(batch, fuzzMessage{m: fanout.PositionMessage(fanout.Cursor{pos}), pos: true})
			continue
		}
		if id != "" {
			m = m.WithID(id)
		}
		if event != "" {
			m = m.WithEvent(event)
		}
		if topic != "" {
			m = m.OnTopic(topic)
		}
		batch = append(batch, fuzzMessage{m: m})
	}
	return batch
}

// fuzzEncodeEach encodes batch in each subprotocol's framing, checks the
// bytes against the spec (rsEncodeRecords of what that subprotocol sends:
// IDs for resume, event types and topics for v2, neither for a resync or
// a position) and reads them back.
func fuzzEncodeEach(t *testing.T, fb []fuzzMessage) {
	batch := make([]*fanout.Message, len(fb))
	for i := range fb {
		batch[i] = fb[i].m
	}
	for _, fr := range fuzzFramings {
		want := make([]fanout.Record, len(fb))
		for i, x := range fb {
			m := x.m
			switch {
			case x.resync:
				want[i] = fanout.Record{Resync: true, Data: m.Data()}
			case x.pos:
				want[i] = fanout.Record{ID: m.ID(), Position: true}
			default:
				want[i] = fanout.Record{Type: m.Type(), Data: m.Data()}
				if fr.ids {
					want[i].ID = m.ID()
				}
				if fr.v2 {
					want[i].Event, want[i].Topic = m.Event(), m.Topic()
				}
			}
		}
		packed := fanout.AppendRecords(nil, batch, fr.f)
		require.Len(t, packed, fanout.PackedLen(batch, fr.f), fr.name)
		if spec := rsEncodeRecords(want); !bytes.Equal(packed, spec) {
			t.Fatalf("%s: the Hub writes\n%x\nthe spec says\n%x", fr.name, packed, spec)
		}
		i := 0
		err := fanout.UnpackRecords(packed, func(r fanout.Record) error {
			w := want[i]
			if r.Type != w.Type || !bytes.Equal(r.Data, w.Data) || r.ID != w.ID || r.Event != w.Event ||
				r.Topic != w.Topic || r.Resync != w.Resync || r.Position != w.Position {
				return fmt.Errorf("%s: record %d: %+v, want %+v", fr.name, i, r, w)
			}
			i++
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, len(batch), i, fr.name)
	}
}
