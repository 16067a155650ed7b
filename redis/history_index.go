package redis

import "strings"

// The history's topic index: a sorted set of the partition's topics,
// each scored by its last offset ({prefix:p}:last), and in each stream
// entry the offset of
// its topic's previous message (see internal/script/index.lua). A Read
// of a few topics whose messages are at most a quarter of the range
// walks each topic's chain back from its last offset and reads only the
// entries it names, so resuming a quiet topic costs what it returns,
// whatever the other topics of its partition published. It reads the
// whole range, as before, when the topics' messages are many, or when
// the index might lack a message (stored by a publisher that does not
// index). It costs a publish a ZSCORE and a ZADD (and, every 16th
// publish, a ZREMRANGEBYSCORE of the topics that left HistorySize).

// indexKey is the topic index's key of p.
func (e *Engine) indexKey(p *part) string {
	return strings.TrimSuffix(p.keys[0], ":meta") + ":last" // "{prefix:p}:last"
}

// publishKeys are the keys of the publish script that stores a message
// in p.
func (e *Engine) publishKeys(p *part) []string {
	return append(p.keys[:2:2], e.indexKey(p))
}

// readKeys are the keys of the read script that reads some topics of p.
func (e *Engine) readKeys(p *part) []string {
	return append(p.keys[:2:2], e.indexKey(p))
}
