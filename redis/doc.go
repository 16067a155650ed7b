// Package redis is a fanout.Engine on Redis: Hubs (and Brokers) in many
// processes share their messages, one history and one order, so that a
// Publish on any node reaches every node's subscribers, WebSocket and SSE
// alike, and a client resumes on any node with no gap and no duplicate.
//
//	client, _ := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"localhost:6379"}})
//	eng, _ := redis.New(client, nil)
//	hub := fanout.NewHub(&fanout.HubOptions{Engine: eng})
//
// It is a module of its own (github.com/fanout-go/fanout/redis), so the
// core's go.mod gains nothing. Standalone Redis (7.0 or later) and Redis
// Cluster are both supported: New detects which from the client.
//
// # Configuring Redis
//
// What a deployment must set:
//   - maxmemory-policy noeviction: an evicted history costs its clients a
//     resync (never a gap, but a needless one).
//   - The engine's Redis user may run INFO (ACL category @dangerous) and
//     the engine's scripts (EVAL, EVALSHA): the scripts that write check
//     the server's run_id and master_replid, which they read with INFO
//     when the engine loads them, and once per CheckInterval.
//   - Every node on one Redis and Prefix uses the same Options.Partitions
//     (a node that differs gets ErrLayout).
//   - On a Cluster, at least as many partitions as masters (more, for
//     an even load: a partition is one hash slot, and a master carries
//     whole partitions). The engine places partition p of P in the
//     middle slot of the p-th 1/P of the slots, so that masters of equal
//     slot ranges (as redis-cli --cluster create makes them) carry as
//     many partitions as each other, give or take one: the default 16
//     land 5, 5 and 6 on three masters, 2 on each of eight (see Cluster
//     key layout). docs/capacity.md gives the unit costs and a sizing
//     plan.
//
// What it no longer needs: persistence tuned for exactness (appendfsync
// always) or a failover that never loses writes. A restart from an older
// snapshot, an AOF that lost its last second, a promoted replica that
// lagged: each is detected and becomes a resync for the clients concerned
// (see How it works). Persistence and min-replicas-to-write
// still make such losses rarer and smaller. Nor does it need a cleanup
// job: every key the engine creates expires once no node uses it (see
// Keys: what each holds, below).
//
// # Data model
//
// Topics are spread over partitions (Options.Partitions; Engine.Partition
// hashes a topic). Each partition p has, under one hash tag (one Cluster
// slot, so partitions spread over the masters), {fanout:p} with the
// default Prefix on a standalone Redis and {fanout:p.N} on a Cluster
// (see Cluster key layout):
//
//	{fanout:p}:meta   hash: e = epoch, h = head (the last offset used),
//	                  r = run_id of the server that started the epoch,
//	                  q = the run_id (16 hex digits) and master_replid
//	                      of the server at the last write,
//	                  n = the nodes' number of partitions,
//	                  a = when a publish next looks at the oldest age,
//	                  k = when the partition's keys expire (ms),
//	                  and the topic index: t:<topic> = the offset of the
//	                  topic's last message, for the topics of the last
//	                  HistorySize messages (a topic's messages are a
//	                  chain through p); je, js, jl = the run of offsets
//	                  it holds, jc = where its trim goes on
//	{fanout:p}:log    stream: one entry per message, ID "<offset>-<ms>",
//	                  fields t (topic), x (type letter and event), d (data),
//	                  p (the offset of the topic's previous message)
//	{fanout:p}:t:<topic>  channel: PUBLISH (SPUBLISH on a Cluster) of
//	                  each message of the topic with its epoch and offset
//	{fanout:p}:b      channel: the same, of the partition's broadcasts
//
// One Lua script publishes: it checks the epoch, takes the next offset,
// XADDs the entry with the explicit ID (approximate MINID trimming keeps
// HistorySize entries and at most a stream node more: Redis drops whole
// nodes of stream-node-max-entries, 100 by default, which costs a publish
// far less than trimming one entry at a time), trims by age (HistoryAge,
// lazily: the oldest entry's time is looked at once per sixteenth of
// HistoryAge at most, and the trim is a binary search over the times in
// the entry IDs), and publishes on the channel. Offsets are dense, so a
// missing message is found by arithmetic; entry IDs carry the store time,
// so the age trim needs no field per entry. A message's fanout ID
// is "epoch-offset" ("epoch:partition-offset" outside partition 0).
// The script makes 5 Redis calls per publish (HMGET, TIME, XADD, HSET,
// PUBLISH; and every 16th publish an HMGET and an HLEN for the topic
// index's trim), centrifuge v0.40.1's stream script 6.6 (see
// bench/results/redis-publish-cost-2.txt for what each costs Redis).
// Reads (Engine.Read) are one read-only script too: the epoch, the head
// and the range are read atomically, so the head a resuming subscriber is
// stitched at is exact.
//
// Publishes to one partition that come while its script call is in
// flight share the next call (group commit): one call stores them all,
// in the order their Publish calls queued them, 64 messages and 256 KiB
// at most, reading the meta hash, TIME and the checks once and writing
// the head and index once (an XADD and a PUBLISH each: every message
// keeps its own entry and live message, so subscribers, readers and
// nodes of earlier versions see no difference). A call's own cost is
// about half of a lone publish's Redis CPU: with 64 concurrent
// publishers on 3 nodes, a message cost Redis about 0.6 times what it
// did, and 0.6 to 0.7 times centrifuge's
// (bench/results/redis-group-commit.txt). A partition has one publish
// call in flight at a time; a lone publisher's calls hold one message
// each, as before. Broadcasts are not batched.
//
// A resuming client's history is read a page at a time
// (fanout.PageReader: 256 messages or 1 MiB with the Hub's defaults),
// and the read script stops at the page's end: it returns at most the
// page's messages, scans at most 1,024 entries per call (a call then
// reports where it stopped, and the next goes on from there), and
// returns at most 4 MiB. So a page costs Redis what it returns, and a
// whole resume the length of its history: reading 10,000 messages of 1
// KiB from their start takes 40 pages of 1.4 to 1.5 ms of Redis CPU each,
// 90 ms in all (BenchmarkReadPage_Resume), where each page's call
// returned the whole rest of the history before (35.6 ms of Redis CPU
// per page, 2.06 s in all).
//
// A resume reads what it returns, not the partition's range: when the
// messages of its topics (and broadcasts) are at most a quarter of the
// range, the read script walks each topic's chain back from its last
// offset (the topic index: each topic's last offset in the meta hash,
// and in every entry its topic's previous one) and reads only those entries
// (one XRANGE per message). Resuming a quiet topic that missed 10
// messages behind 10,000 of a busy one of the same partition costs Redis
// about 0.12 ms of CPU (BenchmarkRead_QuietBehindBusy, runs interleaved
// with the index of two keys before it, 4 each: medians 123 and 138
// redis-µs/op; 15 ms when the whole range was read and filtered, on the
// project's loaded 2-core machine). The index costs a publish no call
// of its own (its fields are read and written with the meta hash's
// others) but, every 16th publish, an HMGET of its state and an HLEN,
// and, after an age trim or while the hash holds more topics than the
// stream's kept messages, an HSCAN of part of the hash that removes the
// topics whose last message left the stream (see
// internal/script/index.lua). The read script falls
// back to the range when the topics' messages are many, and when the
// index might lack a message: fields je, js and jl of the meta hash name
// the run of offsets that every publish indexed, which a publisher that
// does not index (an older version) breaks until the next one starts it
// again. (Earlier versions kept the index in a sorted set,
// {prefix:p}:last, with fields ie, is and il: nodes of both versions may
// share a Redis during a rolling upgrade, each reading through its own
// index only what its own kind indexed, the rest from the stream; the
// old key expires once no old node refreshes it.) A broadcast is stored in every partition (each
// copy its own offset, in one pipelined round trip), so every subscriber
// gets it once, in the order of its own partition.
//
// On a standalone Redis there is one partition by default: every topic
// shares one order, and a client resumes all its topics from one ID. On a
// Cluster there are 16: a client whose topics map to several partitions
// resumes each from its own position, all of them in one composite ID
// (fanout.Cursor: the positions joined by "."), which its last position
// signal and, over SSE, every event's id carry. Its messages keep their
// order within a partition, not across partitions.
//
// # A Publish that gives up
//
// When a Publish's context ends while its message is still queued for
// its partition's next call (see above), it is taken out: never stored.
// When it ends after the call was sent, the command may already be on
// its way, and Redis may still store it. The engine lets it finish
// under its own context (a call is never cancelled by one of its
// callers) and holds later Publishes to the same partitions until it has
// (each within its own context): a message whose Publish failed is
// stored before the caller's later messages, or not at all, never after
// them. Publishes that do not give up wait for each other only as the
// group commit has them (a call in flight per partition).
//
// # Nodes must agree on the number of partitions
//
// Nodes with different Options.Partitions would put a topic in different
// partitions, and never see each other's messages. Each meta hash records
// the number (field n) with its epoch, and every publish and head script
// checks it; before its first use, an engine checks partition 0's, which
// every layout shares. A node whose number differs from that of the
// nodes that came first is refused: every Publish, Subscribe, Read and
// Head returns ErrLayout, from its first use on. To change the number,
// deploy the nodes with the new one under a new Prefix (clients then
// resync once), or stop every node and delete the keys.
//
// # Presence across nodes
//
// The Engine is a fanout.PresenceEngine: Hub.Presence and Broker.Presence
// list a topic's members on every node. Each node writes its own members
// of a topic in a hash of its own, {prefix:p}:pmembers:<node>:<topic>
// (subscriber ID → "<transport>|<group>"), and lists itself in the
// topic's index of nodes, {prefix:p}:pnodes:<topic> (a sorted set, each
// node scored with the time its hash expires), both under the topic's
// partition's hash tag. It writes its joins and leaves in the background,
// in order (the core's Join and Leave never block), one script call per
// topic, and keeps a heartbeat key {prefix}:node:<node> that expires
// after three CheckIntervals. Presence reads the index, then the listed
// nodes' hashes and heartbeats, in one more round trip, and skips nodes
// whose heartbeat has expired. It first waits until this node's own
// joins and leaves so far are written, so a node sees its own changes at
// once, and the others' within a round trip.
//
// Every presence key expires Options.PresenceTTL (1 minute by default)
// after its node last wrote it, and the index with its last node: a node
// that dies without a goodbye (SIGKILL, a lost host) leaves nothing in
// Redis after PresenceTTL, with no query to clean it, and its members
// are hidden from Presence as soon as its heartbeat has expired. A living
// node converges Redis to what it holds: it rewrites a topic whole
// (replacing its hash) after a write of it failed, every topic after a
// heartbeat failed or found its key gone (a reconnect, Redis lost its
// data or came back from a snapshot), and every topic every third of
// PresenceTTL, which also keeps its keys alive. A topic it no longer has
// members of is rewritten (deleted) for PresenceTTL more, so that a
// snapshot that still lists a member who left is repaired too. Close
// removes the node's keys.
//
// What that costs Redis, measured on redis-server 7.0 on the project's
// 2-core machine (TestPresence_Cost, with FANOUT_REDIS_MEASURE=1): a topic
// with one member of one node takes 360 bytes (used_memory; MEMORY USAGE
// says 104 for the index and 120 for the hash), each more member of
// that node 21 to 26 bytes (a hash of 200 members takes 5 KB), and each
// more node of the topic its own hash and 16 bytes in the index. A node with members on 100,000 topics wrote them in 4.8 s (1.7
// s of Redis CPU), and each periodic rewrite costs about 19 µs of Redis
// CPU per topic: 1.9 s per rewrite for 100,000 topics, every 20 s with
// the default PresenceTTL (about 9% of a core), in pipelined batches of
// 512 topics, during which the node's joins and leaves wait. A longer
// PresenceTTL costs less, and leaves a dead node's keys for longer.
//
// # Keys: what each holds, its memory, its life
//
// Every key starts with the hash tag {prefix:p} of a partition p
// ({prefix:p.N} on a Cluster: see Cluster key layout), or {prefix} (node
// heartbeats). Memory is MEMORY USAGE on redis-server 7.0
// (64-byte messages, short topic names):
//
//	key                        holds                  memory               life
//	{prefix:p}:meta            epoch, head, and the   120 B per partition, HistoryAge and a quarter
//	                           topic index: each      ~61 B per topic      after the partition's last
//	                           topic's last offset    (~12 B below 128     publish or head read (30
//	                                                  topics)              days without HistoryAge);
//	{prefix:p}:log             the kept messages      ~101 B per message   HistorySize and HistoryAge
//	                                                  (~37 B + topic+data) bound the log's entries (+1
//	                                                                       stream node at most) and
//	                                                                       the index's topics (those
//	                                                                       of the log's last
//	                                                                       HistorySize messages, +32,
//	                                                                       and while its trim goes
//	                                                                       on, ~15% more at most)
//	{prefix:p}:pnodes:<topic>  a topic's nodes        104 B per topic      PresenceTTL after its last
//	                                                  (+ ~16 B per node)   node's last write
//	{prefix:p}:pmembers:<node>:<topic>
//	                           a node's members of    120 B per node and   PresenceTTL after the
//	                           the topic              topic (+ ~21 B per   node's last write
//	                                                  member)
//	{prefix}:node:<node>       a node's heartbeat     72 B per node        3 CheckIntervals
//	{prefix:p}:meta            on a Cluster, the      a hash of one field  HistoryAge and a quarter (at
//	                           marker (p < P: see     per partition        least 4·P CheckIntervals)
//	                           Cluster key layout)                         after its last refresh
//
// So every key expires: those that grow with topics and nodes within
// PresenceTTL of their node's death, the partitions' two (whatever the
// topics and nodes, their entries bounded by HistorySize, and
// HistoryAge, lazily: the age trim runs when a message is published to
// the partition) within HistoryAge and a quarter of the partition's last
// use; after a change of Prefix or Partitions, those of the old layout
// go by themselves once no node uses them.
//
// Versions before presence expired kept a topic's members in a hash
// without expiry, {prefix:p}:presence:<topic>, which no node reads or
// writes any more. Delete them once, after every node was upgraded, with
// a SCAN (on each master of a Cluster), not KEYS; with your Prefix for
// fanout:
//
//	redis-cli --scan --pattern '{fanout:*}:presence:*' | xargs -r -d '\n' -n 100 redis-cli unlink
//
// (-n 1 on a Cluster, where one UNLINK takes the keys of one slot). Keys
// written by versions before the partitions' keys expired get their
// expiry at the next publish or head read of their partition.
//
// # Cluster key layout
//
// A Cluster hashes a key's tag to one of 16384 slots with CRC16, and
// each master serves a range of slots. The tags {prefix:0}, {prefix:1},
// … of consecutive partitions hash to slots a fixed step apart modulo
// 16384 (CRC16 is linear: 867, 4930, 8993, 13056, … for fanout), so few
// partitions clustered on a few masters: with the slots split evenly,
// the default 16 landed 8, 5 and 3 on three masters, and none on four of
// eight. So on a Cluster partition p of P is tagged {prefix:p.N}, with
// the smallest N ≥ 0 whose slot is the middle one of the p-th of P equal
// ranges, (2p+1)·16384/(2P): any equal split of the slots between
// masters then gives them as many partitions as each other, give or
// take one (bench/results/capacity-partition-slots-spread.txt: 16 over
// 3, 6, 8 and 12 masters, 5–6, 2–3, 2 and 1–2 each). The engine computes
// the tags in New (4 ms for 16 partitions, 60 ms for 1000, on a loaded
// 2-core machine). The tags depend on P: changing Partitions renames
// every key. A standalone Redis or Sentinel keeps {prefix:p} (no slots
// there; existing deployments go on as they are).
//
// Nodes of v0.1.0 tag a Cluster's partitions {prefix:p}: nodes of the
// two layouts on one Cluster and Prefix would share no key and no
// channel, and split the traffic silently. They refuse each other
// instead, with ErrLayout from every use (Publish, Subscribe, Head,
// Read), an Error log "fanout/redis: refused", and Stats.Refused (metric
// redis_refused). Before its first use a node of this version reads
// field n of every old name's meta hash, {prefix:p}:meta for p < P: a
// bare number there means that old nodes used the Prefix within their
// keys' life (HistoryAge and a quarter), and it is refused; otherwise it
// writes its marker there, n = "<P> (in a newer version's Cluster key
// layout: upgrade this node)", which the old nodes' scripts refuse
// (FANOUTLAYOUT): an old node that comes later is refused at its first
// use, one running already at its next publish or head read of a marked
// partition. The marker also records P, so that nodes of this version
// with different Partitions refuse each other too. Each node refreshes
// the markers, one partition per CheckInterval, and is refused if it
// finds an old node's number again (Redis lost a marker, then an old
// node came): the split then lasts P CheckIntervals at most. (A node
// does not join the old layout instead: a deployment that never stops
// would keep the clustered slots for ever.)
//
// To upgrade a Cluster deployment from v0.1.0, either give the new
// nodes another Prefix (the old keys expire by themselves; clients that
// resume with IDs of the old nodes get the resync signal), or stop every
// old node and delete the old partitions' keys before starting the new
// ones, with your Prefix and Partitions for fanout and 16 (-c follows
// the Cluster's redirects; one partition's keys share a slot):
//
//	for p in $(seq 0 15); do redis-cli -c unlink "{fanout:$p}:meta" "{fanout:$p}:log" "{fanout:$p}:last"; done
//
// (or wait HistoryAge and a quarter for them to expire). Clients then
// resync too: the new partitions start new epochs.
//
// # How it works
//
// docs/redis-engine.md goes on from here
// (https://github.com/fanout-go/fanout/blob/main/docs/redis-engine.md): epochs (how a
// node tells a history that went on from one that went back: a restart
// from an older snapshot, a failover to a replica that lagged), live
// delivery on a channel per topic and how a node notices a loss (the
// probe, the catch-up, the audit), what a node pays for a topic it has
// no subscriber of, and why the client is rueidis.
package redis
