package client

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// sseEvent is one event of an event stream, as dispatched.
type sseEvent struct {
	id   string // its own id field, or "": not the stream's last ID
	typ  string // "" for the default type, message
	data string
}

// parseEvents reads an event stream as the HTML standard's EventSource
// does (section 9.2.6, "Interpreting an event stream"), calling fn for each
// event it dispatches: lines end with LF, CR or CRLF; a leading BOM, a
// comment, an unknown field and an id field that holds NUL are ignored; an
// event without a data field is not dispatched (an id field alone only
// moves the stream's last ID, which the client does not need); an
// incomplete event at the end of the stream is dropped. A line, or an
// event's data, of more than limit bytes fails with ErrTooLarge. It
// returns fn's error, or the reader's (io.EOF at the end of the stream).
func parseEvents(r io.Reader, limit int, fn func(sseEvent) error) error {
	br := bufio.NewReader(r)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\ufeff")) {
		_, _ = br.Discard(3)
	}
	var (
		line   []byte
		data   []byte
		ev     sseEvent
		skipLF bool // the last line ended with CR: an LF right after it is part of that end
	)
	for {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil { // wait for more
				return err
			}
		}
		buf, _ := br.Peek(br.Buffered())
		if skipLF {
			skipLF = false
			if buf[0] == '\n' {
				_, _ = br.Discard(1)
				continue
			}
		}
		i := bytes.IndexAny(buf, "\r\n")
		n := i
		if i < 0 {
			n = len(buf) // the line goes on
		}
		if len(line)+n > limit {
			return fmt.Errorf("%w: a line of more than %d bytes", ErrTooLarge, limit)
		}
		line = append(line, buf[:n]...)
		if i < 0 {
			_, _ = br.Discard(n)
			continue
		}
		skipLF = buf[i] == '\r'
		_, _ = br.Discard(i + 1)
		if len(line) == 0 { // the end of an event
			if data != nil {
				ev.data = string(data[:len(data)-1]) // less the last LF
				if err := fn(ev); err != nil {
					return err
				}
			}
			data, ev = nil, sseEvent{}
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value, _ = bytes.CutPrefix(value, []byte(" "))
		switch string(name) {
		case "data":
			if len(data)+len(value) > limit {
				return fmt.Errorf("%w: an event of more than %d bytes of data", ErrTooLarge, limit)
			}
			data = append(append(data, value...), '\n')
		case "event":
			ev.typ = string(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				ev.id = string(value)
			}
		}
		line = line[:0]
	}
}
