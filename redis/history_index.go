package redis

import "fmt"

// The history's topic indexes: besides its entry in the partition's
// stream, each message's offset is added to its topic's index,
// {prefix:p}:idx:<topic> ("" for broadcasts), a sorted set that expires
// an hour after the topic's last message (see internal/script/index.lua).
// A Read of some topics reads their indexes and only the entries they
// name, so resuming a quiet topic costs what it returns, whatever the
// other topics of its partition published; it reads the whole range, as
// before, when the indexes might lack a message (a resume from more than
// 45 minutes back, or over messages stored by a publisher that does not
// index).

// indexKey names topic's index in partition p.
func (e *Engine) indexKey(p int, topic string) string {
	return fmt.Sprintf("{%s:%d}:idx:%s", e.opts.Prefix, p, topic)
}

// publishKeys are the keys of the publish script that stores a message
// of topic in p.
func (e *Engine) publishKeys(p *part, topic string) []string {
	return []string{p.keys[0], p.keys[1], e.indexKey(p.id, topic)}
}

// readKeys are the keys of the read script that reads topics (those of
// p: the others' are not read) after a position of p: with the indexes
// of topics and broadcasts.
func (e *Engine) readKeys(p *part, topics []string) []string {
	keys := make([]string, 0, 3+len(topics))
	keys = append(keys, p.keys...)
	for _, t := range topics {
		keys = append(keys, e.indexKey(p.id, t))
	}
	return append(keys, e.indexKey(p.id, ""))
}
