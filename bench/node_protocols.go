package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// What the -nodes clients speak: each side's own protocol, read in place
// from rawWS frames, without allocating per message.
//
//   - fanout: ResumeSubprotocol. Frames are records of a 5-byte header
//     (kind, big-endian length) and a payload: a position record at the
//     start, then per message an ID record and its text record. The
//     client keeps the last ID, and reconnects with ?lastEventId=.
//   - centrifuge: its protobuf protocol ("centrifuge-protobuf"). The
//     client sends the connect command; the server subscribes it to the
//     topic (a server-side subscription with recovery) and answers with
//     the stream's epoch and offset. Frames are varint-length-prefixed
//     Replies; a publication is Reply.push (4) → Push.pub (4) →
//     Publication.data (4) and .offset (6). An empty Reply is a ping,
//     answered with an empty Command (pong). The client keeps the epoch
//     and the last offset, and reconnects with them in
//     ConnectRequest.subs (recover), as centrifuge's SDKs do; the missed
//     publications come in the connect reply.
//
// Both read a few header bytes per message around the same 64-byte
// payload, so the two sides' clients cost about the same per message.

// maxIDLen bounds a fanout ID the client keeps.
const maxIDLen = 96

// dialNode connects s to addr: handshake, and for centrifuge the connect
// command, with s's position when it has one.
func (f *nodeFleet) dialNode(addr string, s *nodeSub) (*rawWS, error) {
	path := f.side.Path + "?topic=" + strings.Join(s.topics, "&topic=")
	if f.side.Name == "fanout" && s.idLen > 0 {
		path += "&lastEventId=" + url.QueryEscape(string(s.lastID[:s.idLen]))
	}
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	ws, err := handshakeRawWS(conn, addr, path, 32<<10, f.side.Protocol)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.side.Name, err)
	}
	f.keep(conn)
	if f.side.Name == "centrifuge" {
		epoch := s.epoch
		if len(s.topics) > 1 { // the client keeps one position: it resumes one topic only
			epoch = ""
		}
		if err := ws.write(0x2, connectCommand(s.topics[0], epoch, s.offset)); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return ws, nil
}

// connectCommand encodes centrifuge's Command{id: 1, connect: {subs:
// {topic: {recover, epoch, offset}}}} (no subs without an epoch), with its
// varint length in front.
func connectCommand(topic, epoch string, offset uint64) []byte {
	var req []byte // ConnectRequest
	if epoch != "" {
		var sub []byte                                        // SubscribeRequest
		sub = append(sub, 0x18, 1)                            // recover = 3
		sub = pbAppendBytes(sub, 6, []byte(epoch))            // epoch = 6
		sub = binary.AppendUvarint(append(sub, 0x38), offset) // offset = 7
		var entry []byte
		entry = pbAppendBytes(entry, 1, []byte(topic))
		entry = pbAppendBytes(entry, 2, sub)
		req = pbAppendBytes(req, 3, entry) // subs = 3
	}
	cmd := pbAppendBytes([]byte{0x08, 1}, 4, req) // id = 1, connect = 4
	return append(binary.AppendUvarint(nil, uint64(len(cmd))), cmd...)
}

func pbAppendBytes(b []byte, num uint64, v []byte) []byte {
	b = binary.AppendUvarint(b, num<<3|2)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

var errShortFrame = errors.New("short frame")

// fanoutFrame reads one packed frame of ResumeSubprotocol.
func (f *nodeFleet) fanoutFrame(_ *rawWS, s *nodeSub, p []byte) error {
	for len(p) > 0 {
		if len(p) < 5 {
			return errShortFrame
		}
		kind, n := p[0], int(binary.BigEndian.Uint32(p[1:5]))
		if n > len(p)-5 {
			return errShortFrame
		}
		switch v := p[5 : 5+n]; kind {
		case 1, 2: // a message
			f.receive(s, v)
		case 3, 5: // the next message's ID, a position
			if len(v) <= maxIDLen {
				s.idLen = copy(s.lastID[:], v)
			}
		case 4: // resync: what was missed cannot be told
			s.resyncs.Add(1)
		}
		p = p[5+n:]
	}
	return nil
}

// centrifugeFrame reads one frame of centrifuge's protobuf protocol.
func (f *nodeFleet) centrifugeFrame(ws *rawWS, s *nodeSub, p []byte) error {
	for len(p) > 0 {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return errShortFrame
		}
		reply := pbReader(p[k : k+int(n)])
		p = p[k+int(n):]
		if len(reply) == 0 { // a ping
			if err := ws.write(0x2, []byte{0}); err != nil {
				return err
			}
			continue
		}
		for num, _, v, ok := reply.next(); ok; num, _, v, ok = reply.next() {
			switch num {
			case 2: // error
				s.resyncs.Add(1)
			case 4: // push
				if pub := pbReader(v).field(4); pub != nil {
					f.centrifugePub(s, pub)
				}
			case 5: // connect result
				f.centrifugeConnected(s, pbReader(v))
			}
		}
	}
	return nil
}

// centrifugeConnected reads the connect result's subscription: its
// position and, when it recovered, the publications missed.
func (f *nodeFleet) centrifugeConnected(s *nodeSub, r pbReader) {
	for num, _, entry, ok := r.next(); ok; num, _, entry, ok = r.next() {
		if num != 6 { // subs
			continue
		}
		res := pbReader(entry).field(2) // the map entry's value: SubscribeResult
		var recovering, recovered bool
		for num, u, v, ok := res.next(); ok; num, u, v, ok = res.next() {
			switch num {
			case 6:
				s.epoch = string(v)
			case 9:
				s.offset = u
			case 7:
				f.centrifugePub(s, v)
			case 8:
				recovered = u != 0
			case 12:
				recovering = u != 0
			}
		}
		if recovering && !recovered {
			s.resyncs.Add(1)
		}
	}
}

func (f *nodeFleet) centrifugePub(s *nodeSub, pub pbReader) {
	for num, u, v, ok := pub.next(); ok; num, u, v, ok = pub.next() {
		switch num {
		case 4:
			f.receive(s, v)
		case 6:
			s.offset = u
		case 14:
			s.epoch = string(v)
		}
	}
}

// pbReader reads a protobuf message's fields in place.
type pbReader []byte

// next returns the next field: its number and its value, a varint (u) or
// the bytes of a length-delimited field (v); ok is false at the end or on
// malformed input.
func (r *pbReader) next() (num, u uint64, v []byte, ok bool) {
	b := *r
	if len(b) == 0 {
		return 0, 0, nil, false
	}
	tag, k := binary.Uvarint(b)
	if k <= 0 {
		return 0, 0, nil, false
	}
	b = b[k:]
	switch tag & 7 {
	case 0:
		if u, k = binary.Uvarint(b); k <= 0 {
			return 0, 0, nil, false
		}
		b = b[k:]
	case 1:
		if len(b) < 8 {
			return 0, 0, nil, false
		}
		b = b[8:]
	case 5:
		if len(b) < 4 {
			return 0, 0, nil, false
		}
		b = b[4:]
	case 2:
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return 0, 0, nil, false
		}
		v, b = b[k:k+int(n)], b[k+int(n):]
	default:
		return 0, 0, nil, false
	}
	*r = b
	return tag >> 3, u, v, true
}

// field returns the bytes of the first length-delimited field num, or nil.
func (r pbReader) field(num uint64) pbReader {
	for n, _, v, ok := r.next(); ok; n, _, v, ok = r.next() {
		if n == num && v != nil {
			return v
		}
	}
	return nil
}
