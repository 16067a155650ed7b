package bolt

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/fanout-go/fanout"
)

// The file's layout. Bucket "meta" holds:
//
//	"version"  1 byte: 1, the layout below
//	"epoch"    the log's epoch ([0-9a-z], drawn when the log was created)
//	"head"     8 bytes, big endian: the offset of the last message stored
//
// Bucket "log" holds one record per transaction, keyed by the offset of
// its first message (8 bytes, big endian, so that keys sort by offset):
//
//	version  1 byte: 1
//	at       8 bytes, big endian: when it was committed (Unix nanoseconds)
//	count    uvarint: how many messages, at offsets key, key+1, ...
//	then count times:
//	  flags  1 byte: bit 0 set for a binary message
//	  topic  uvarint length, bytes ("" for a broadcast)
//	  event  uvarint length, bytes
//	  data   uvarint length, bytes
//
// One record per transaction, rather than one key per message, is what
// makes a batched commit cheap: bbolt's cost is per key written.
var (
	bucketMeta = []byte("meta")
	bucketLog  = []byte("log")
	keyVersion = []byte("version")
	keyEpoch   = []byte("epoch")
	keyHead    = []byte("head")
)

const (
	layoutVersion = 1
	recordVersion = 1
	flagBinary    = 1 << 0
)

func offsetKey(off uint64) []byte { return binary.BigEndian.AppendUint64(nil, off) }

// keyOffset reads a key written by offsetKey; ok is false for another.
func keyOffset(k []byte) (off uint64, ok bool) {
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k), true
}

// appendRecord appends to buf the record of the requests that were not
// cancelled, committed at.
func appendRecord(buf []byte, at time.Time, reqs []request) []byte {
	n := 0
	for i := range reqs {
		if !reqs[i].cancelled {
			n++
		}
	}
	buf = append(buf, recordVersion)
	buf = binary.BigEndian.AppendUint64(buf, uint64(at.UnixNano()))
	buf = binary.AppendUvarint(buf, uint64(n))
	for i := range reqs {
		r := &reqs[i]
		if r.cancelled {
			continue
		}
		var flags byte
		if r.m.Type() == fanout.Binary {
			flags |= flagBinary
		}
		buf = append(buf, flags)
		buf = appendString(buf, r.topic)
		buf = appendString(buf, r.m.Event())
		buf = binary.AppendUvarint(buf, uint64(len(r.m.Data())))
		buf = append(buf, r.m.Data()...)
	}
	return buf
}

func appendString(buf []byte, s string) []byte {
	return append(binary.AppendUvarint(buf, uint64(len(s))), s...)
}

// record is a log record whose header was read: its messages are in body.
type record struct {
	first uint64 // offset of its first message
	at    int64  // when it was committed, in Unix nanoseconds
	count uint64
	body  []byte
}

// last returns the offset of the record's last message.
func (r *record) last() uint64 { return r.first + r.count - 1 }

// parseRecord reads the header of the record stored under key k.
func parseRecord(k, v []byte) (record, error) {
	first, ok := keyOffset(k)
	if !ok || first == 0 {
		return record{}, fmt.Errorf("%w: log key %x", ErrDamaged, k)
	}
	if len(v) < 1+8 || v[0] != recordVersion {
		return record{}, fmt.Errorf("%w: record at offset %d", ErrDamaged, first)
	}
	r := record{first: first, at: int64(binary.BigEndian.Uint64(v[1:9]))}
	count, n := binary.Uvarint(v[9:])
	if n <= 0 || count == 0 || count > uint64(len(v)) || first+count-1 < first {
		return record{}, fmt.Errorf("%w: record at offset %d", ErrDamaged, first)
	}
	r.count, r.body = count, v[9+n:]
	return r, nil
}

// entry is one message of a record, its slices aliasing the record.
type entry struct {
	offset uint64
	binary bool
	topic  []byte
	event  []byte
	data   []byte
}

// each calls fn with each of r's messages, in order, until fn returns
// false. It fails on a record whose body does not hold count messages.
func (r *record) each(fn func(e *entry) bool) error {
	b := r.body
	var e entry
	for i := range r.count {
		if len(b) < 1 {
			return r.corrupt()
		}
		e = entry{offset: r.first + i, binary: b[0]&flagBinary != 0}
		b = b[1:]
		var ok bool
		if e.topic, b, ok = cutField(b); !ok {
			return r.corrupt()
		}
		if e.event, b, ok = cutField(b); !ok {
			return r.corrupt()
		}
		if e.data, b, ok = cutField(b); !ok {
			return r.corrupt()
		}
		if !fn(&e) {
			return nil
		}
	}
	if len(b) != 0 {
		return r.corrupt()
	}
	return nil
}

func (r *record) corrupt() error {
	return fmt.Errorf("%w: record at offset %d", ErrDamaged, r.first)
}

// cutField reads a uvarint length and that many bytes from b.
func cutField(b []byte) (field, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}
