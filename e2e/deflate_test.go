package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/testkit/payload"
)

// deflateAnswer is the extension a Hub with Compression accepts.
const deflateAnswer = "permessage-deflate; client_no_context_takeover; server_no_context_takeover"

// digest is a message as a client reports it: its type, length and
// SHA-256, so that large payloads are compared exactly without being
// carried back whole.
type digest struct {
	Binary bool   `json:"binary"`
	Len    int    `json:"len"`
	SHA256 string `json:"sha256"`
}

func digestOf(m *fanout.Message) digest {
	sum := sha256.Sum256(m.Data())
	return digest{Binary: m.Type() == fanout.Binary, Len: m.Len(), SHA256: hex.EncodeToString(sum[:])}
}

// deflateMessages returns rounds rounds of text and binary messages,
// small and large: below the Hub's threshold (512 bytes, sent plain), at
// and over it (compressed), one that deflate cannot shrink (plain), and
// sizes that take each frame header length; each round with new content.
// Many messages on one connection show that each is compressed on its
// own (no context takeover).
func deflateMessages(rounds int) []*fanout.Message {
	var ms []*fanout.Message
	for r := range rounds {
		seed := uint64(r + 1)
		text := func(n int) *fanout.Message { return fanout.NewMessage(payload.JSON(n, seed)) }
		bin := func(n int) *fanout.Message { return fanout.NewBinaryMessage(payload.JSON(n, seed+100)) }
		noise := payload.Random(4<<10, seed)
		ms = append(ms,
			fanout.NewMessage([]byte("hi "+strconv.Itoa(r))), text(100), text(511), text(512),
			fanout.NewMessage(bytes.Repeat([]byte("é"), 300)),
			text(1<<10), bin(4<<10), fanout.NewBinaryMessage(noise), text(16<<10), bin(64<<10), text(70_000),
			fanout.NewBinaryMessage(append([]byte{0xff, 0xfe}, make([]byte, 100_000)...)),
		)
	}
	return ms
}

// plainSize is what ms take on the wire uncompressed.
func plainSize(ms []*fanout.Message) int {
	n := 0
	for _, m := range ms {
		switch l := m.Len(); {
		case l <= 125:
			n += 2 + l
		case l <= 0xffff:
			n += 4 + l
		default:
			n += 10 + l
		}
	}
	return n
}

// serverFrames parses what a server wrote on a WebSocket connection
// (writes, as a streamConn recorded them: the 101 response, then frames)
// and counts its data frames, and those of them with RSV1 set
// (compressed).
func serverFrames(writes [][]byte) (data, compressed int, err error) {
	b := bytes.Join(writes, nil)
	_, b, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok {
		return 0, 0, fmt.Errorf("no response head")
	}
	for len(b) > 0 {
		if len(b) < 2 {
			return data, compressed, fmt.Errorf("%d bytes left: a cut header", len(b))
		}
		op, rsv1 := b[0]&0x0f, b[0]&0x40 != 0
		n, hl := uint64(b[1]&0x7f), 2
		switch n {
		case 126:
			n, hl = uint64(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			n, hl = binary.BigEndian.Uint64(b[2:]), 10
		}
		if uint64(len(b)) < uint64(hl)+n {
			return data, compressed, fmt.Errorf("a frame of %d bytes cut at %d", n, len(b)-hl)
		}
		if op == 1 || op == 2 {
			data++
			if rsv1 {
				compressed++
			}
		}
		b = b[uint64(hl)+n:]
	}
	return data, compressed, nil
}
