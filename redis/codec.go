package redis

import (
	"errors"
	"strconv"
	"strings"
	"unsafe"

	"github.com/fanout-go/fanout"
)

// A message's kind, as stored (stream field x) and sent live: its type's
// letter ('t' text, 'b' binary), then its event type.
func kindOf(m *fanout.Message) string {
	if m.Type() == fanout.Binary {
		return "b" + m.Event()
	}
	return "t" + m.Event()
}

// stored rebuilds a message stored on topic at pos from its kind and
// data. data is shared, not copied: Redis replies are never modified.
func stored(topic, kind, data string, pos fanout.Position) (*fanout.Message, error) {
	if kind == "" || kind[0] != 't' && kind[0] != 'b' {
		return nil, errors.New("fanout/redis: malformed message kind")
	}
	b := bytesOf(data)
	m := fanout.NewMessage(b)
	if kind[0] == 'b' {
		m = fanout.NewBinaryMessage(b)
	}
	if ev := kind[1:]; ev != "" {
		m = m.WithEvent(ev)
	}
	return m.Stored(topic, pos), nil
}

// bytesOf returns s's bytes without copying them; they must not be
// modified.
func bytesOf(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

var errMalformed = errors.New("fanout/redis: malformed live message")

// live is one message as the live channel carries it.
type live struct {
	epoch  string
	offset uint64
	ms     int64 // Redis time when stored
	topic  string
	kind   string
	data   string
}

// parseLive reads a live payload written by the publish script:
// "<epoch> <offset> <ms> <len(topic)> <len(kind)>\n<topic><kind><data>".
// It allocates nothing (it runs once per message a node follows); the
// fields are separated by one space each, as the script writes them.
func parseLive(s string) (live, error) {
	var l live
	head, rest, ok := strings.Cut(s, "\n")
	if !ok {
		return l, errMalformed
	}
	var f [5]string
	for i := range f {
		if i < len(f)-1 {
			f[i], head, ok = strings.Cut(head, " ")
		} else {
			f[i], ok = head, !strings.Contains(head, " ")
		}
		if !ok || f[i] == "" {
			return l, errMalformed
		}
	}
	var err [4]error
	l.epoch = f[0]
	l.offset, err[0] = strconv.ParseUint(f[1], 10, 64)
	l.ms, err[1] = strconv.ParseInt(f[2], 10, 64)
	tl, e2 := strconv.Atoi(f[3])
	kl, e3 := strconv.Atoi(f[4])
	err[2], err[3] = e2, e3
	if err != [4]error{} || tl < 0 || kl < 0 || tl+kl > len(rest) {
		return l, errMalformed
	}
	l.topic, l.kind, l.data = rest[:tl], rest[tl:tl+kl], rest[tl+kl:]
	return l, nil
}

// parseEntryID reads a stream entry ID, "<offset>-<ms>".
func parseEntryID(id string) (offset uint64, ms int64, ok bool) {
	o, t, found := strings.Cut(id, "-")
	if !found {
		return 0, 0, false
	}
	offset, err1 := strconv.ParseUint(o, 10, 64)
	ms, err2 := strconv.ParseInt(t, 10, 64)
	return offset, ms, err1 == nil && err2 == nil
}
