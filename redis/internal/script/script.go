// Package script holds the Lua scripts of the Redis engine, shared by the
// engine and its client benchmark (redis/clientbench).
//
// Every script takes the keys of one partition, which share a hash tag
// (so they live in one slot of a Redis Cluster):
//
//	KEYS[1]  the partition's meta hash: e = epoch, h = head offset
//	KEYS[2]  the partition's stream: one entry per message, ID
//	         "<offset>-<ms>", fields t (topic), x (kind), d (data) and
//	         p (the topic's previous offset: see index.lua)
//
// Publish and Head give them all one expiry (see ensure).
//
// An entry's ID is its dense offset followed by the Redis time (in ms)
// when it was stored: IDs still grow with offsets (XADD's rule), a
// message is found by its offset alone ("XRANGE log 7 7"), and the age
// trim reads times from IDs, with no extra field stored.
//
// The meta hash also records r, the run_id of the server that wrote the
// epoch, q, its run_id (16 hex digits) and master_replid when it last
// wrote (see ensure.lua), n, the number of partitions of the nodes that use it, the
// topic index (t:<topic>, je, js, jl, jc: see index.lua), a, when
// a publish next reads the oldest entry's time (the age trim), and k,
// when the partition's keys expire (see keepAlive in ensure).
//
// The epoch is kept only in the meta hash. Both keys are checked
// together: a missing meta hash (lost, evicted, FLUSHALL, a restart
// without persistence) or a missing stream where the head says there
// were messages (the stream alone was evicted) starts a new epoch from
// offset 0, so an ID of the old one is never answered with other
// messages at the same offsets. So does a history that may have gone back
// while its keys stayed: one written under another run_id (a restart
// from a snapshot, a failover to a lagging replica) or master_replid (a
// failover back to a server that was resynchronised meanwhile from a
// lagging replica), or whose head is below an offset of the same epoch
// that the caller has seen.
package script

import (
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Publish stores one message and publishes it on the partition's live
// channel.
//
//	ARGV[1..4] as for ensure (below)
//	ARGV[5] channel        ARGV[6] "1": SPUBLISH, else PUBLISH
//	ARGV[7] max length (0: none)   ARGV[8] max age in ms (0: none)
//	ARGV[9] topic  ARGV[10] kind  ARGV[11] data
//	ARGV[12] (optional) the keys' life in ms (see ensure)
//	ARGV[13..] (optional) more messages, 4 arguments each: channel,
//	        topic, kind, data (a batch: ARGV[12] is then required)
//
// A batch's messages are stored in order, at consecutive offsets, each
// with its own entry and live payload, as n calls would have stored
// them; the meta hash, TIME and the checks are read once.
//
// It keeps the partition's topic index (in the meta hash: see
// index.lua). (A KEYS[3], the sorted set of earlier versions, is
// ignored but for its expiry.)
//
// It returns "<epoch> <offset>", one string (a reply cheaper than an
// array of two), the offset of the last message in decimal (of a batch
// of n, the others are the n-1 before it). The live payload is
// "<epoch> <offset> <ms> <len(topic)> <len(kind)>\n<topic><kind><data>",
// where ms is the Redis time when it was stored. (publishing tells
// ensure that the stream's loss is found by the publish's XADD, not by
// an EXISTS of its own: see publish.lua.)
var Publish = "local publishing = true\n" + ensure + index + publishBody

// index is the part of Publish that lists a message in the partition's
// topic index.
//
//go:embed index.lua
var index string

//go:embed publish.lua
var publishBody string

// Read returns a page of the stored messages after an offset,
// atomically with the epoch and head they were read at.
//
//	ARGV[1] epoch  ARGV[2] offset after which to read
//	ARGV[3] "1": filter by topic (ARGV[7:] are the topics; broadcasts,
//	        topic "", always pass); else every message
//	ARGV[4] count: the most entries to return (at least 1)
//	ARGV[5] bytes: stop after the entry whose data takes the page's to
//	        bytes or more (0: no bound)
//	ARGV[6] scan: the most entries to examine when scanning the range
//	        (at least 1)
//
//	With a filter, when the partition's topic index (in the meta hash)
//	is sure to hold every message of the range, and those of the topics
//	are few, only their entries are read (see read.lua); otherwise the
//	range is scanned, and filtered.
//
// It returns {"ok", epoch, head, entries, upTo}: every message of the
// topics after the offset and up to upTo is in entries, and no more.
// upTo is the last entry's offset when the page is full (count entries,
// or bytes reached), the head when the range held less, and the last
// entry examined when scan entries were examined first: a page that is
// not full and does not end at the head goes on from upTo. Otherwise
// it returns {"epoch", epoch, head} (another epoch, or "" for none),
// {"ahead", epoch, head} or {"trimmed", epoch, head}. Each entry is
// {id, {"t", topic, "x", kind, "d", data, "p", previous}} (without p
// when stored by a version before it).
//
//go:embed read.lua
var Read string

// Head returns {epoch, head}, starting a new epoch if the partition has
// none (or lost it, or may have gone back), as Publish does. Its ARGV
// are ensure's, then ARGV[5] (optional), the keys' life in ms; its KEYS
// are Publish's.
var Head = "local publishing = false\n" + ensure + "keepAlive(tonumber(ARGV[5]), fresh)\nreturn {epoch, string.format('%d', head)}\n"

// Bake returns src (Publish or Head) with id, a server's identity (the
// probe's answer: its run_id, followed by its master_replid while it is
// a master), and nonce written in: a text that takes id for the identity
// of the server it runs in, instead of reading INFO on every call (2 to
// 4 µs of Redis CPU, a tenth of a publish). It holds only in the server
// process whose identity is id, and only until that process is made a
// replica (or promoted), so the engine loads it into that process alone,
// runs it there by EVALSHA only, and checks, now and then, that it still
// holds (Checking; see redis/baked.go): a call with ARGV[1] "?" (the
// probe) returns the identity of the server it runs in, from INFO, and
// writes nothing, and the EVAL that loads a text is that probe. The
// nonce makes the text, and its SHA1, known to its loader only. src as
// it is (not baked) reads INFO on every call, and answers the probe too.
//
// The numbers among args (those of a call, which the engine passes alike
// on every call: the bounds and the keys' life) are written in too: each
// tonumber(ARGV[i]) of src whose args[i-1] is a decimal integer becomes
// that integer, for a tonumber is a strtod, 1 to 2 thousand instructions
// of Redis. The text then answers a call whose ARGV[i] is another with
// the error reply "FANOUTBAKED" (before it reads or writes anything):
// BakedKey tells which texts take the same arguments.
func Bake(src, id, nonce string, args []string) string {
	run := id[:min(len(id), 40)]
	ident := run[:min(len(run), 16)] + id[len(run):] // as ensure.lua writes it in q
	text := strings.Replace(src, bakeAt, fmt.Sprintf("local run, ident, check = '%s', '%s', false -- %s\n", run, ident, nonce), 1)
	var guard []string
	for _, i := range bakeable(src, args) {
		text = strings.ReplaceAll(text, fmt.Sprintf("tonumber(ARGV[%d])", i), args[i-1])
		guard = append(guard, fmt.Sprintf("ARGV[%d] ~= '%s'", i, args[i-1]))
	}
	if len(guard) > 0 {
		text = strings.Replace(text, bakeGuardAt,
			"if "+strings.Join(guard, " or ")+" then\n  return redis.error_reply('FANOUTBAKED')\nend\n"+bakeGuardAt, 1)
	}
	return text
}

// Checking returns the twin of text (a text of Bake) that checks its
// identity: it reads the server's from INFO, as src does, and answers
// the error reply "FANOUTSTALE", writing nothing, when it is not the
// one baked in; otherwise it runs as text does. It is safe to run in
// any server, by EVAL too.
func Checking(text string) string {
	at := strings.Index(text, "local run, ident, check = '")
	if at < 0 {
		return text // not baked: it reads INFO on every call
	}
	end := at + strings.Index(text[at:], ", false -- ")
	return text[:end] + ", true -- " + text[end+len(", false -- "):]
}

// bakeAt is the line of src that Bake replaces.
const bakeAt = "local run, ident, check = false, false, false\n"

// BakedKey returns what of args Bake writes into src's text: the texts
// baked from calls of the same key take each other's calls.
func BakedKey(src string, args []string) string {
	var b strings.Builder
	for _, i := range bakeable(src, args) {
		fmt.Fprintf(&b, "%d=%s ", i, args[i-1])
	}
	return b.String()
}

// bakeGuardAt is where Bake puts its check of the arguments: after the
// probe, before the first call.
const bakeGuardAt = "local fields = redis.call('HMGET'"

var tonumberArg = regexp.MustCompile(`tonumber\(ARGV\[(\d+)\]\)`)

// bakeable returns the i of each tonumber(ARGV[i]) of src whose args[i-1]
// is a decimal integer (15 digits at most: exact in a Lua number), when
// src has a place for Bake's check.
func bakeable(src string, args []string) []int {
	if !strings.Contains(src, bakeGuardAt) {
		return nil
	}
	var out []int
	for _, m := range tonumberArg.FindAllStringSubmatch(src, -1) {
		i, _ := strconv.Atoi(m[1])
		if i < 1 || i > len(args) || slices.Contains(out, i) || !isDecimal(args[i-1]) {
			continue
		}
		out = append(out, i)
	}
	return out
}

func isDecimal(s string) bool {
	if s == "" || len(s) > 15 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ensure starts a script with the partition's epoch and head in locals
// epoch and head, starting a new epoch when the partition has none, lost
// its history, or may have gone back. It fails with an error reply
// "FANOUTLAYOUT <n>" when the partition's nodes use n partitions, not
// ARGV[2], and "FANOUTINFO <error>" when INFO is refused (it reads the
// run_id, unless baked: see Bake). It also defines now, the Redis time
// in ms.
//
//	ARGV[1] prefix of a new epoch: the new epoch is the prefix and the
//	        Redis time; "?" is the probe (see Bake)
//	ARGV[2] the caller's number of partitions
//	ARGV[3] the epoch the caller saw last ("" for none)
//	ARGV[4] the highest offset of ARGV[3] the caller has seen ("0")
//
// It defines keepAlive(life, force), which Publish and Head call last:
// every key of KEYS gets an expiry of life ms when force is set or when
// the meta hash's has run down by an eighth (or it has none), so that
// the partition's keys all expire together, life ms (at least seven
// eighths of it) after its last publish or head read. They are then
// lost as a whole, which the next call takes for a new epoch. fresh is
// set when ensure started a new epoch.
//
//go:embed ensure.lua
var ensure string
