// The RFC 6455 cases TestConformance_RFC6455 (hub_conformance_test.go) runs.

package fanout_test

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The conformance cases of Autobahn's sections 6 (UTF-8), 7 (closing), 9
// (limits), and the RFC's MUSTs Autobahn does not probe. See
// hub_conformance_test.go.

// utf8Sample is one of Autobahn's UTF-8 test strings.
type utf8Sample struct {
	sec  string
	what string
	b    string
}

// utf8Samples returns Autobahn's 6.5 to 6.23 strings (Markus Kuhn's UTF-8
// decoder stress test); whether each is valid is utf8.Valid's answer,
// which the cases check against what each sample is known to be.
func utf8Samples() []utf8Sample {
	return []utf8Sample{
		{"6.5.1", "kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"},
		{"6.5.2", "a 4-byte rune", "\xf0\x9f\x98\x80"},
		{"6.7.1", "U+0000", "\x00"},
		{"6.7.2", "U+0080", "\xc2\x80"},
		{"6.7.3", "U+0800", "\xe0\xa0\x80"},
		{"6.7.4", "U+10000", "\xf0\x90\x80\x80"},
		{"6.8.1", "5-byte sequence", "\xf8\x88\x80\x80\x80"},
		{"6.8.2", "6-byte sequence", "\xfc\x84\x80\x80\x80\x80"},
		{"6.9.1", "U+007F", "\x7f"},
		{"6.9.2", "U+07FF", "\xdf\xbf"},
		{"6.9.3", "U+FFFF", "\xef\xbf\xbf"},
		{"6.9.4", "U+10FFFF", "\xf4\x8f\xbf\xbf"},
		{"6.10.1", "U+1FFFFF", "\xf7\xbf\xbf\xbf"},
		{"6.10.2", "U+3FFFFFF", "\xfb\xbf\xbf\xbf\xbf"},
		{"6.10.3", "U+7FFFFFFF", "\xfd\xbf\xbf\xbf\xbf\xbf"},
		{"6.11.1", "U+D7FF", "\xed\x9f\xbf"},
		{"6.11.2", "U+E000", "\xee\x80\x80"},
		{"6.11.3", "U+FFFD", "\xef\xbf\xbd"},
		{"6.11.5", "U+110000", "\xf4\x90\x80\x80"},
		{"6.12.1", "lone continuation 80", "\x80"},
		{"6.12.2", "lone continuation bf", "\xbf"},
		{"6.12.8", "7 continuations", "\x80\xbf\x80\xbf\x80\xbf\x80"},
		{"6.13.1", "lonely 2-byte starts", "\xc0\x20\xc1\x20\xc2\x20"},
		{"6.13.2", "lonely 3-byte start", "\xe0\x20"},
		{"6.13.3", "lonely 4-byte start", "\xf0\x20"},
		{"6.13.5", "lonely 6-byte start", "\xfc\x20"},
		{"6.14.1", "2-byte, last byte missing", "\xc0"},
		{"6.14.2", "3-byte, last byte missing", "\xe0\x80"},
		{"6.14.3", "4-byte, last byte missing", "\xf0\x80\x80"},
		{"6.14.6", "U+07FF, last byte missing", "\xdf"},
		{"6.14.7", "U+FFFF, last byte missing", "\xef\xbf"},
		{"6.14.8", "U+1FFFFF, last byte missing", "\xf7\xbf\xbf"},
		{"6.15.1", "incomplete sequences, concatenated", "\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80"},
		{"6.16.1", "impossible byte fe", "\xfe"},
		{"6.16.2", "impossible byte ff", "\xff"},
		{"6.16.3", "fe fe ff ff", "\xfe\xfe\xff\xff"},
		{"6.17.1", "overlong '/', 2 bytes", "\xc0\xaf"},
		{"6.17.2", "overlong '/', 3 bytes", "\xe0\x80\xaf"},
		{"6.17.3", "overlong '/', 4 bytes", "\xf0\x80\x80\xaf"},
		{"6.18.1", "maximum overlong, 2 bytes", "\xc1\xbf"},
		{"6.18.2", "maximum overlong, 3 bytes", "\xe0\x9f\xbf"},
		{"6.18.3", "maximum overlong, 4 bytes", "\xf0\x8f\xbf\xbf"},
		{"6.19.1", "overlong NUL, 2 bytes", "\xc0\x80"},
		{"6.19.2", "overlong NUL, 3 bytes", "\xe0\x80\x80"},
		{"6.20.1", "surrogate U+D800", "\xed\xa0\x80"},
		{"6.20.4", "surrogate U+DBFF", "\xed\xaf\xbf"},
		{"6.20.5", "surrogate U+DC00", "\xed\xb0\x80"},
		{"6.20.7", "surrogate U+DFFF", "\xed\xbf\xbf"},
		{"6.21.1", "surrogate pair U+D800 U+DC00", "\xed\xa0\x80\xed\xb0\x80"},
		{"6.21.8", "surrogate pair U+DBFF U+DFFF", "\xed\xaf\xbf\xed\xbf\xbf"},
		{"6.22.1", "noncharacter U+FFFE", "\xef\xbf\xbe"},
		{"6.22.3", "noncharacter U+1FFFE", "\xf0\x9f\xbf\xbe"},
		{"6.22.33", "noncharacter U+10FFFF", "\xf4\x8f\xbf\xbf"},
		{"6.22.34", "noncharacter U+FDD0", "\xef\xb7\x90"},
		{"6.23.1", "U+FFFD", "\xef\xbf\xbd"},
		{"6.23.7", "kosme, U+FFFD, kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xef\xbf\xbd\xce\xba"},
	}
}

// utf8KnownValid lists the samples that are valid UTF-8 (Kuhn's test file
// says so; utf8.Valid must agree, or the case list is wrong).
var utf8KnownValid = map[string]bool{
	"6.5.1": true, "6.5.2": true, "6.7.1": true, "6.7.2": true, "6.7.3": true, "6.7.4": true,
	"6.9.1": true, "6.9.2": true, "6.9.3": true, "6.9.4": true, "6.11.1": true, "6.11.2": true,
	"6.11.3": true, "6.22.1": true, "6.22.3": true, "6.22.33": true, "6.22.34": true,
	"6.23.1": true, "6.23.7": true,
}

// utf8Cases: Autobahn 6.*: a text message is echoed when it is valid UTF-8,
// whole or split anywhere across fragments (even inside a rune), and fails
// the connection with 1007 when it is not (RFC 6455, 8.1).
func utf8Cases() []wsCase {
	kosme := str("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")
	hello := str("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!")
	bad := str("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")
	cs := []wsCase{
		{sec: "6.1.1", name: "empty text", send: [][]byte{whole(wsText, nil)}, want: []wsExpect{echo(wsText, nil)}},
		{sec: "6.1.2", name: "empty text in 3 empty fragments", send: [][]byte{fragment(wsText, nil), fragment(wsCont, nil), whole(wsCont, nil)},
			want: []wsExpect{echo(wsText, nil)}},
		{sec: "6.1.3", name: "empty, middle, empty fragments", send: [][]byte{fragment(wsText, nil), fragment(wsCont, str("middle")), whole(wsCont, nil)},
			want: []wsExpect{echo(wsText, str("middle"))}},
		{sec: "6.2.1", name: "valid UTF-8 in one frame", send: [][]byte{whole(wsText, hello)}, want: []wsExpect{echo(wsText, hello)}},
		{sec: "6.2.2", name: "valid UTF-8, a fragment per rune", send: runeFragments(hello), want: []wsExpect{echo(wsText, hello)}},
		{sec: "6.2.3", name: "valid UTF-8, a fragment per byte", send: byteFragments(hello), want: []wsExpect{echo(wsText, hello)}},
		{sec: "6.2.4", name: "kosme, a fragment per byte, octet by octet", send: byteFragments(kosme), chop: 1, want: []wsExpect{echo(wsText, kosme)}},
		{sec: "6.3.1", name: "invalid UTF-8 in one frame", send: [][]byte{whole(wsText, bad)}, want: []wsExpect{closed(1007)}},
		{sec: "6.3.2", name: "invalid UTF-8, a fragment per byte", send: byteFragments(bad), want: []wsExpect{closed(1007)}},
		{sec: "6.4.1", name: "valid, invalid, valid fragments",
			send: [][]byte{fragment(wsText, kosme), fragment(wsCont, str("\xf4\x90\x80\x80")), whole(wsCont, str("edited"))},
			want: []wsExpect{closed(1007)}},
		// Autobahn's 6.4.* also look for failing fast, before the message
		// ends; fanout validates whole messages ("non-strict" there): the
		// pong shows the connection still up after the bad fragment.
		{sec: "6.4.2", name: "invalid fragment, ping, then the last fragment (non-strict: fails at the end)",
			send: [][]byte{fragment(wsText, str("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4")), markerPing, whole(wsCont, str("\x90\x80\x80"))},
			want: []wsExpect{markerPong, closed(1007)}},
	}
	for _, s := range utf8Samples() {
		b := str(s.b)
		want := []wsExpect{closed(1007)}
		if utf8.Valid(b) {
			want = []wsExpect{echo(wsText, b)}
		}
		if utf8.Valid(b) != utf8KnownValid[s.sec] {
			// A sample list error: make the case fail, saying why.
			want = []wsExpect{{frame: str("utf8.Valid disagrees with the sample list")}}
		}
		cs = append(cs,
			wsCase{sec: s.sec, name: s.what, send: [][]byte{whole(wsText, b)}, want: want},
			wsCase{sec: s.sec + "f", name: s.what + ", a fragment per byte", send: byteFragments(b), want: want})
	}
	return cs
}

// byteFragments returns a text message with one byte per fragment.
func byteFragments(b []byte) [][]byte {
	var fs [][]byte
	for i := range b {
		first := byte(wsCont)
		if i == 0 {
			first = wsText
		}
		if i == len(b)-1 {
			first |= wsFin
		}
		fs = append(fs, cframe(first, b[i:i+1]))
	}
	return fs
}

// runeFragments returns a text message with one rune per fragment.
func runeFragments(b []byte) [][]byte {
	var fs [][]byte
	for i := 0; i < len(b); {
		_, n := utf8.DecodeRune(b[i:])
		first := byte(wsCont)
		if i == 0 {
			first = wsText
		}
		if i+n == len(b) {
			first |= wsFin
		}
		fs = append(fs, cframe(first, b[i:i+n]))
		i += n
	}
	return fs
}

// closeCases: Autobahn 7.*: the server answers a close frame with one of
// its own (echoing the status, RFC 6455, 5.5.1), sends nothing after it,
// and closes the connection; a close frame that is malformed, or carries a
// status a peer may not send, fails the connection with 1002.
func closeCases() []wsCase {
	closeOK := exact(sframe(wsClose, closeBody(1000, "")))
	close1000 := whole(wsClose, closeBody(1000, ""))
	r123 := strings.Repeat("*", 123)
	cs := []wsCase{
		{sec: "7.1.1", name: "text, then close", send: [][]byte{whole(wsText, str("Hello World")), close1000},
			want: []wsExpect{maybe(echo(wsText, str("Hello World"))), closeOK, ended()}},
		{sec: "7.1.2", name: "close twice", send: [][]byte{close1000, close1000}, want: []wsExpect{closeOK, ended()}},
		{sec: "7.1.3", name: "close, then ping", send: [][]byte{close1000, markerPing}, want: []wsExpect{closeOK, ended()}},
		{sec: "7.1.4", name: "close, then text", send: [][]byte{close1000, whole(wsText, str("late"))}, want: []wsExpect{closeOK, ended()}},
		{sec: "7.1.5", name: "text fragment, close, last fragment",
			send: [][]byte{fragment(wsText, str("fragment1")), close1000, whole(wsCont, str("fragment2"))}, want: []wsExpect{closeOK, ended()}},
		{sec: "7.1.6", name: "256 KiB text, close, ping", send: [][]byte{whole(wsText, rep('B', 256<<10)), close1000, markerPing},
			want: []wsExpect{maybe(echo(wsText, rep('B', 256<<10))), closeOK, ended()}},
		{sec: "7.3.1", name: "close without a body", send: [][]byte{whole(wsClose, nil)},
			want: []wsExpect{exact(sframe(wsClose, nil)), ended()}},
		{sec: "7.3.2", name: "close with a 1-byte body", send: [][]byte{whole(wsClose, []byte{0x03})}, want: []wsExpect{closed(1002)}},
		{sec: "7.3.3", name: "close 1000", send: [][]byte{close1000}, want: []wsExpect{closeOK, ended()}},
		{sec: "7.3.4", name: "close 1000 with a reason", send: [][]byte{whole(wsClose, closeBody(1000, "Hello World!"))},
			want: []wsExpect{exact(sframe(wsClose, closeBody(1000, "Hello World!"))), ended()}},
		{sec: "7.3.5", name: "close with a 123-byte reason", send: [][]byte{whole(wsClose, closeBody(1000, r123))},
			want: []wsExpect{exact(sframe(wsClose, closeBody(1000, r123))), ended()}},
		{sec: "7.3.6", name: "close with a 124-byte reason", send: [][]byte{whole(wsClose, closeBody(1000, r123+"*"))}, want: []wsExpect{closed(1002)}},
		// RFC 6455, 8.1: a reason that is not UTF-8 must fail the
		// connection (Autobahn wants 1007 or a drop). coder/websocket
		// does not look at the reason: it echoes it, invalid bytes and
		// all.
		{sec: "7.5.1", name: "close with a reason that is not UTF-8 (deviation: coder/websocket echoes it)",
			send: [][]byte{whole(wsClose, closeBody(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"))},
			want: []wsExpect{exact(sframe(wsClose, closeBody(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"))), ended()}},
	}
	// 1012 to 1014 are in IANA's registry since RFC 6455 (Autobahn's older
	// cases still call them invalid); coder/websocket echoes them.
	for i, code := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		cs = append(cs, wsCase{sec: fmt.Sprintf("7.7.%d", i+1), name: "valid status " + strconv.Itoa(int(code)),
			send: [][]byte{whole(wsClose, closeBody(code, ""))}, want: []wsExpect{exact(sframe(wsClose, closeBody(code, ""))), ended()}})
	}
	// 7.13.*: above 4999 the RFC defines nothing; coder/websocket fails
	// them like the invalid ones.
	for i, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		sec := fmt.Sprintf("7.9.%d", i+1)
		if code >= 5000 {
			sec = fmt.Sprintf("7.13.%d", i-9)
		}
		cs = append(cs, wsCase{sec: sec, name: "invalid status " + strconv.Itoa(int(code)),
			send: [][]byte{whole(wsClose, closeBody(code, ""))}, want: []wsExpect{closed(1002)}})
	}
	return cs
}

// limitCases: Autobahn 9.* at the sizes a fan-out server's ReadLimit
// admits (the conformance Hubs': 1 MiB), and the limit itself: one byte
// more, whole or fragmented, fails with 1009 (message too big).
func limitCases() []wsCase {
	mib := 1 << 20
	text, bin := rep('*', mib), rep(0xfe, mib)
	split := func(op byte, p []byte, size int) [][]byte {
		var fs [][]byte
		for i := 0; i < len(p); i += size {
			first := byte(wsCont)
			if i == 0 {
				first = op
			}
			if i+size >= len(p) {
				first |= wsFin
			}
			fs = append(fs, cframe(first, p[i:min(i+size, len(p))]))
		}
		return fs
	}
	var many [][]byte
	var manyEchoes []wsExpect
	for i := range 1000 {
		p := fmt.Appendf(nil, "message %04d....", i)
		many = append(many, whole(wsText, p))
		manyEchoes = append(manyEchoes, echo(wsText, p))
	}
	return []wsCase{
		{sec: "9.1.1", name: "text of 64 KiB", send: [][]byte{whole(wsText, text[:64<<10])}, want: []wsExpect{echo(wsText, text[:64<<10])}},
		{sec: "9.1.3", name: "text of 1 MiB (the limit)", send: [][]byte{whole(wsText, text)}, want: []wsExpect{echo(wsText, text)}},
		{sec: "9.2.3", name: "binary of 1 MiB", send: [][]byte{whole(wsBinary, bin)}, want: []wsExpect{echo(wsBinary, bin)}},
		{sec: "9.3.5", name: "text of 1 MiB in 64 KiB fragments", send: split(wsText, text, 64<<10), want: []wsExpect{echo(wsText, text)}},
		{sec: "9.4.3", name: "binary of 1 MiB in 1 KiB fragments", send: split(wsBinary, bin, 1<<10), want: []wsExpect{echo(wsBinary, bin)}},
		{sec: "9.5.3", name: "text of 1 MiB in chops of 1000", send: [][]byte{whole(wsText, text)}, chop: 1000, want: []wsExpect{echo(wsText, text)}},
		{sec: "9.7.1", name: "1000 small text messages", send: many, want: manyEchoes},
		{sec: "9.l1", name: "text of 1 MiB + 1", send: [][]byte{whole(wsText, rep('*', mib+1))}, want: []wsExpect{closed(1009)}},
		{sec: "9.l2", name: "binary of 1 MiB + 1 in 2 fragments", send: split(wsBinary, rep(0xfe, mib+1), mib/2+1), want: []wsExpect{closed(1009)}},
		{sec: "9.l3", name: "text of 32 KiB, the default ReadLimit", send: [][]byte{whole(wsText, text[:32<<10])},
			want: []wsExpect{echo(wsText, text[:32<<10])}, defaultLimit: true},
		{sec: "9.l4", name: "text of 32 KiB + 1 over the default ReadLimit", send: [][]byte{whole(wsText, text[:32<<10+1])},
			want: []wsExpect{closed(1009)}, defaultLimit: true},
	}
}

// rfcCases: MUSTs of RFC 6455 that Autobahn does not probe.
func rfcCases() []wsCase {
	nonMinimal := binary.BigEndian.AppendUint16([]byte{wsFin | wsText, 0x80 | 126}, 3)
	nonMinimal = append(append(nonMinimal, wsMaskKey[:]...), 'a'^wsMaskKey[0], 'b'^wsMaskKey[1], 'c'^wsMaskKey[2])
	negative := binary.BigEndian.AppendUint64([]byte{wsFin | wsBinary, 0x80 | 127}, 1<<63)
	negative = append(negative, wsMaskKey[:]...)
	zeroKey := append([]byte{wsFin | wsText, 0x80 | 2, 0, 0, 0, 0}, "ok"...)
	return []wsCase{
		// 5.1: "The server MUST close the connection upon receiving a
		// frame that is not masked"; a close frame is optional
		// (coder/websocket sends none).
		{sec: "rfc 5.1a", name: "unmasked text", send: [][]byte{cframeUnmasked(wsFin|wsText, str("Hello"))}, want: []wsExpect{ended()}},
		{sec: "rfc 5.1b", name: "unmasked close", send: [][]byte{cframeUnmasked(wsFin|wsClose, closeBody(1000, ""))}, want: []wsExpect{ended()}},
		{sec: "rfc 5.3", name: "masking key 00000000 is a key", send: [][]byte{zeroKey}, want: []wsExpect{echo(wsText, str("ok"))}},
		// 5.2: the minimal length encoding is the sender's MUST; a
		// receiver may accept more (coder/websocket does).
		{sec: "rfc 5.2a", name: "length not minimally encoded", send: [][]byte{nonMinimal}, want: []wsExpect{echo(wsText, str("abc"))}},
		// 5.2: "the most significant bit MUST be 0".
		{sec: "rfc 5.2b", name: "64-bit length with its top bit set", send: [][]byte{negative}, want: []wsExpect{ended()}},
		{sec: "rfc 5.6", name: "text starting with a BOM is echoed as is", send: [][]byte{whole(wsText, str("\ufeffbom"))},
			want: []wsExpect{echo(wsText, str("\ufeffbom"))}},
	}
}
