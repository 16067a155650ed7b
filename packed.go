package fanout

import (
	"encoding/binary"
	"fmt"
)

// PackedSubprotocol is the WebSocket subprotocol through which a client opts
// in to packed frames. When HubOptions.Packing is set and a client offers
// this subprotocol, every batch the Hub writes to that client is ONE binary
// WebSocket frame holding all of the batch's messages as records:
//
//	record = kind (1 byte: 1 text, 2 binary) | length (4 bytes, big endian) | payload
//
// A packed frame holds one or more records, back to back, nothing else.
// Clients that do not offer the subprotocol always receive one ordinary
// frame per message, so packing never reaches a client that cannot read it.
//
// Go clients split a frame with Unpack. In a browser:
//
//	const ws = new WebSocket(url, ["fanout.packed.v1"]);
//	ws.binaryType = "arraybuffer";
//	ws.onmessage = (e) => {
//	  const v = new DataView(e.data), td = new TextDecoder();
//	  for (let o = 0; o + 5 <= v.byteLength; ) {
//	    const kind = v.getUint8(o), n = v.getUint32(o + 1);
//	    const p = new Uint8Array(e.data, o + 5, n);
//	    o += 5 + n;
//	    handle(kind === 1 ? td.decode(p) : p);
//	  }
//	};
const PackedSubprotocol = "fanout.packed.v1"

const (
	packedHeaderLen  = 5
	packedKindText   = 1
	packedKindBinary = 2
)

func packedKind(t MessageType) byte {
	if t == Binary {
		return packedKindBinary
	}
	return packedKindText
}

// Unpack calls fn, in order, for each message in a packed frame (see
// PackedSubprotocol). The data passed to fn aliases frame. It stops at the
// first error fn returns and returns it; a frame that does not follow the
// framing yields an error wrapping ErrBadPacked, after fn has seen the
// records that precede the damage.
func Unpack(frame []byte, fn func(typ MessageType, data []byte) error) error {
	for off := 0; off < len(frame); {
		if len(frame)-off < packedHeaderLen {
			return fmt.Errorf("%w: truncated record header at offset %d", ErrBadPacked, off)
		}
		var typ MessageType
		switch frame[off] {
		case packedKindText:
			typ = Text
		case packedKindBinary:
			typ = Binary
		default:
			return fmt.Errorf("%w: unknown record kind %d at offset %d", ErrBadPacked, frame[off], off)
		}
		n := binary.BigEndian.Uint32(frame[off+1:])
		off += packedHeaderLen
		if uint64(n) > uint64(len(frame)-off) {
			return fmt.Errorf("%w: record of %d bytes overruns frame at offset %d", ErrBadPacked, n, off)
		}
		if err := fn(typ, frame[off:off+int(n):off+int(n)]); err != nil {
			return err
		}
		off += int(n)
	}
	return nil
}
