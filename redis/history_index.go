package redis

// The history's topic index: in the partition's meta hash, field
// t:<topic> holds the offset of the topic's last message, and each stream
// entry the offset of its topic's previous message (see
// internal/script/index.lua). A Read of a few topics whose messages are at
// most a quarter of the range walks each topic's chain back from its last
// offset and reads only the entries it names, so resuming a quiet topic
// costs what it returns, whatever the other topics of its partition
// published. It reads the whole range, as before, when the topics'
// messages are many, or when the index might lack a message (stored by a
// publisher that does not index). It costs a publish no call of its own
// (the fields are read and written with the meta hash's others), and,
// every 16th publish, an HMGET of its state and an HLEN; while a trim
// goes on (after an age trim, or when the hash holds more topics than
// the stream's kept messages), also an HSCAN of part of the hash that
// removes the topics whose last message left the stream.

// publishKeys are the keys of the publish script that stores a message
// in p: its meta hash (which holds the topic index too) and its stream.
func (e *Engine) publishKeys(p *part) []string {
	return p.keys[:2:2]
}

// readKeys are the keys of the read script that reads some topics of p.
func (e *Engine) readKeys(p *part) []string {
	return p.keys[:2:2]
}
