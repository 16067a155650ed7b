// Package wsrecords reads the records a test's WebSocket client receives,
// for the property tests of the root package, redis/ and bolt/: those of
// packed frames (the resume and packed subprotocols), or one per
// ordinary frame. It is apart from testkit because it imports fanout,
// which the root package's internal tests cannot.
package wsrecords

import (
	"context"
	"errors"
	"slices"

	"github.com/coder/websocket"

	"github.com/fanout-go/fanout"
)

// ReadError is a failed read of the connection (it ended, or ctx did),
// as opposed to a frame that is not what the subprotocol says.
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// Packed reports whether conn's subprotocol packs records in binary
// frames.
func Packed(conn *websocket.Conn) bool {
	return slices.Contains([]string{fanout.ResumeSubprotocol, fanout.ResumeSubprotocolV2,
		fanout.PackedSubprotocol, fanout.PackedSubprotocolV2}, conn.Subprotocol())
}

// Read reads conn until a read fails (a *ReadError) or fn returns false
// (nil), handing fn each record: when packed, those of each frame, which
// must be binary; else one per frame, its Data the frame (and Type
// Binary for a binary frame). A record's Data aliases the frame until fn
// returns.
func Read(ctx context.Context, conn *websocket.Conn, packed bool, fn func(fanout.Record) bool) error {
	errStop := errors.New("stop")
	for {
		typ, frame, err := conn.Read(ctx)
		if err != nil {
			return &ReadError{Err: err}
		}
		if !packed {
			r := fanout.Record{Data: frame}
			if typ == websocket.MessageBinary {
				r.Type = fanout.Binary
			}
			if !fn(r) {
				return nil
			}
			continue
		}
		if typ != websocket.MessageBinary {
			return errors.New("packed subprotocol, but a text frame")
		}
		err = fanout.UnpackRecords(frame, func(r fanout.Record) error {
			if !fn(r) {
				return errStop
			}
			return nil
		})
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
