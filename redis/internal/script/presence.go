package script

import _ "embed"

// Presence writes one node's members of one topic, and keeps every key
// it touches expiring.
//
//	KEYS[1]  the topic's index: a sorted set of the nodes that have
//	         members of it, each scored with the Redis time (ms) when its
//	         hash expires
//	KEYS[2]  the node's hash of its members of the topic: subscriber ID
//	         → "<transport>|<group>"
//	ARGV[1]  the node      ARGV[2] time to live, in ms
//	ARGV[3]  "1": replace the node's hash (delete it first); else update
//	ARGV[4:] pairs of subscriber ID and value; an empty value deletes
//
// The node's hash expires ttl after the call, and the node's index entry
// is scored with that time (removed when the hash is empty). Entries
// that have expired leave the index, and the index expires with its
// last-expiring entry. It returns 1.
//
//go:embed presence.lua
var Presence string
