package redis

import "strings"

// The history's topic index: besides its entry in the partition's
// stream, each message is listed in the partition's topic index, two
// sorted sets ({prefix:p}:ixt, {prefix:p}:ixo) of "<topic>\0<offset>",
// trimmed with the stream (see internal/script/index.lua). A Read of a
// few topics whose messages are at most a quarter of the range reads
// their offsets in the index and only the entries they name, so
// resuming a quiet topic costs what it returns, whatever the other
// topics of its partition published. It reads the whole range, as
// before, when the topics' messages are many, or when the index might
// lack a message (stored by a publisher that does not index).

// indexKeys are the topic index's keys of p: the set ordered by topic,
// then the one ordered by offset.
func (e *Engine) indexKeys(p *part) []string {
	tag := strings.TrimSuffix(p.keys[0], ":meta") // "{prefix:p}"
	return []string{tag + ":ixt", tag + ":ixo"}
}

// publishKeys are the keys of the publish script that stores a message
// in p.
func (e *Engine) publishKeys(p *part) []string {
	return append(p.keys[:2:2], e.indexKeys(p)...)
}

// readKeys are the keys of the read script that reads some topics of p.
func (e *Engine) readKeys(p *part) []string {
	return append(p.keys[:2:2], e.indexKeys(p)[0])
}
