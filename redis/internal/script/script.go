// Package script holds the Lua scripts of the Redis engine, shared by the
// engine and its client benchmark (redis/clientbench).
//
// Every script takes the two keys of one partition, which share a hash
// tag (so they live in one slot of a Redis Cluster):
//
//	KEYS[1]  the partition's meta hash: e = epoch, h = head offset
//	KEYS[2]  the partition's stream: one entry per message, ID
//	         "<offset>-<ms>", fields t (topic), x (kind), d (data)
//
// An entry's ID is its dense offset followed by the Redis time (in ms)
// when it was stored: IDs still grow with offsets (XADD's rule), a
// message is found by its offset alone ("XRANGE log 7 7"), and the age
// trim reads times from IDs, with no extra field stored.
//
// The epoch is kept only in the meta hash. Both keys are checked
// together: a missing meta hash (lost, evicted, FLUSHALL, a restart
// without persistence) or a missing stream where the head says there
// were messages (the stream alone was evicted) starts a new epoch from
// offset 0, so an ID of the old one is never answered with other
// messages at the same offsets.
package script

import _ "embed"

// Publish stores one message and publishes it on the partition's live
// channel.
//
//	ARGV[1] prefix of a new epoch, taken if the partition has none (or
//	        lost it): the new epoch is the prefix and the Redis time
//	ARGV[2] channel        ARGV[3] "1": SPUBLISH, else PUBLISH
//	ARGV[4] max length (0: none)   ARGV[5] max age in ms (0: none)
//	ARGV[6] topic  ARGV[7] kind  ARGV[8] data
//
//	KEYS[3], KEYS[4] (optional) the partition's topic index, the set
//	        ordered by topic and the one ordered by offset: see index.lua
//
// It returns {epoch, offset}. The live payload is
// "<epoch> <offset> <ms> <len(topic)> <len(kind)>\n<topic><kind><data>",
// where ms is the Redis time when it was stored.
var Publish = ensure + index + publishBody

// index is the part of Publish that lists a message in the partition's
// topic index.
//
//go:embed index.lua
var index string

//go:embed publish.lua
var publishBody string

// Read returns the stored messages after an offset, atomically with the
// epoch and head they were read at.
//
//	ARGV[1] epoch  ARGV[2] offset after which to read
//	ARGV[3] "1": filter by topic (ARGV[4:] are the topics; broadcasts,
//	        topic "", always pass); else every message
//
//	KEYS[3] (optional, with a filter) the partition's topic index, by
//	        topic: when it is sure to hold every message of the range, and
//	        those of the topics are few, only their entries are read (see
//	        read.lua); otherwise the whole range is, and filtered
//
// It returns {"ok", epoch, head, entries}, or {"epoch", epoch, head}
// (another epoch, or "" for none), {"ahead", epoch, head} or {"trimmed",
// epoch, head}. Each entry is
// {id, {"t", topic, "x", kind, "d", data}}.
//
//go:embed read.lua
var Read string

// Head returns {epoch, head}, starting a new epoch (prefix ARGV[1]) if
// the partition has none (or lost it), as Publish does.
var Head = ensure + "return {epoch, string.format('%d', head)}\n"

// ensure starts a script with the partition's epoch and head in locals
// epoch and head, starting a new epoch (prefix ARGV[1])
// when the partition has none or lost its history.
//
//go:embed ensure.lua
var ensure string
