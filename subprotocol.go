package fanout

import (
	"slices"
	"strings"
)

// framing is how a WebSocket subscriber's batches are written, as its
// subprotocol says: plain (zero: one ordinary frame per message) or one
// packed frame per batch, with or without ID records and event type and
// topic records.
type framing uint8

const (
	framePacked framing = 1 << iota // one packed frame per batch
	frameIDs                        // ID records (the resume subprotocols)
	frameMeta                       // event type and topic records (v2)
)

// wsFraming returns the framing of a connection that negotiated subprotocol
// proto (matched ignoring case, as coder/websocket selects it); packed
// frames only with packing (HubOptions.Packing).
func wsFraming(proto string, packing bool) framing {
	switch {
	case strings.EqualFold(proto, ResumeSubprotocolV2):
		return framePacked | frameIDs | frameMeta
	case strings.EqualFold(proto, ResumeSubprotocol):
		return framePacked | frameIDs
	case packing && strings.EqualFold(proto, PackedSubprotocolV2):
		return framePacked | frameMeta
	case packing && strings.EqualFold(proto, PackedSubprotocol):
		return framePacked
	}
	return 0
}

// hubSubprotocols returns the subprotocols a Hub offers, in the order
// coder/websocket tries them (it selects the first that the client
// offers): the resume ones first, v2 before v1, then the application's
// (user), and, with packing, the packed ones, v2 before v1, where the
// application listed either (at the end if it did not). Newer versions
// come first so that a client offering both gets the newer; a client
// offering one version alone gets that one.
func hubSubprotocols(user []string, packing bool) []string {
	is := func(names ...string) func(string) bool {
		return func(p string) bool {
			return slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(p, n) })
		}
	}
	out := []string{ResumeSubprotocolV2, ResumeSubprotocol}
	user = slices.DeleteFunc(slices.Clone(user), is(ResumeSubprotocolV2, ResumeSubprotocol))
	if !packing {
		return append(out, user...)
	}
	packed := is(PackedSubprotocolV2, PackedSubprotocol)
	at := slices.IndexFunc(user, packed)
	if at < 0 {
		at = len(user)
	}
	rest := slices.DeleteFunc(slices.Clone(user[at:]), packed)
	out = append(out, user[:at]...)
	out = append(out, PackedSubprotocolV2, PackedSubprotocol)
	return append(out, rest...)
}
