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
//     the server's run_id, which they read with INFO when the engine
//     loads them.
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
// (see Histories that go back). Persistence and min-replicas-to-write
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
// # Epochs
//
// The epoch names the current life of a partition's history. The scripts
// check both keys together: a missing meta hash (a restart without
// persistence, FLUSHALL, a failover to an empty replica, eviction, the
// expiry of an unused partition's keys), or a
// missing stream where the head says there were messages (the stream
// alone was evicted), starts a new epoch (a random prefix of the node and
// the Redis time) from offset 0. (A head read asks whether the stream
// exists; a publish asks nothing: its XADD, NOMKSTREAM, does not create
// a stream that should be there, and tells that it is gone.) An ID of the old epoch then gets the
// resync signal, never a wrong or partial replay. Run Redis with
// maxmemory-policy noeviction, so that the history is never evicted
// under memory pressure: every key of the engine has a TTL, so a
// volatile-* policy may evict a partition's keys too, which costs its
// clients a resync (never a gap). A new epoch starts the meta hash
// again, and the topic index in it.
//
// A partition's keys also expire, together, HistoryAge and a quarter (at
// least three CheckIntervals) after its last publish or the last head
// read of a node that follows it (30 days when HistoryAge is negative):
// each publish and head script gives both the same expiry when the
// meta hash's has run down by an eighth (the meta hash records when
// they expire, field k: no PTTL per publish), or when it created one of
// them. Their expiry is
// taken as a loss: the next publish or head read starts a new epoch, and
// a client that resumes from an ID of the old one gets the resync
// signal, even one that had missed nothing. A partition that a node
// follows keeps its keys (and its clients resume with no resync) however
// long nothing is published. This costs a publish no call, and every
// eighth of the keys' life two PEXPIREs and an HSET.
//
// # Histories that go back
//
// Redis can also lose the tail of a history while keeping its keys: it
// restarts from an RDB snapshot older than its last writes (or from an
// AOF that lost its last second, with appendfsync everysec), or a replica
// that lagged is promoted (Redis replicates asynchronously). The head
// then goes back, say from 50 to 20, in the same epoch, and the next
// messages would take the offsets 21 to 50 again: a client whose last ID
// was that of message 35 would resume after the new 35th as if nothing
// were missing, and a node that delivered 50 would drop the new 21 to 50
// as duplicates. Every subscriber must get the resync signal instead. The
// scripts that write (publish, and the head read of followers and
// resuming subscribers) start a new epoch, atomically, before they take
// an offset, when either of these holds:
//
//   - The server's run_id (INFO server) is not the one recorded in the
//     meta hash when the epoch started (field r). (The scripts do not
//     read INFO on every call: the engine writes the run_id into their
//     text, which only that server process runs; see redis/baked.go.)
//     A run_id is random and
//     new for every redis-server process, so it cannot be restored with a
//     snapshot, and a replica's differs from its primary's. Every way
//     the data set can go back without a command that goes through the
//     engine, a restart that loads a file, a failover (by hand, by
//     Sentinel, by a Cluster), runs under another run_id than the one
//     that wrote the lost tail, and the tail's epoch was recorded with
//     that one. So the first write after it, by any node, even one that
//     started after it or never saw the old head, starts a new epoch.
//   - The head is below the highest offset of the same epoch that the
//     calling node has seen (its publishes' replies, the heads it read,
//     the messages it delivered): a rollback within one server process,
//     which only a hostile operator makes (DEBUG RELOAD NOSAVE, RESTORE
//     of an old dump of the keys), is found by every node that saw a
//     later offset.
//
// Why no ID of the lost tail is ever taken for a new message: an ID
// resumes (the read script) only when its epoch is the partition's
// current one and its offset is not above the head. Until the first
// write after the data set went back, the epoch is unchanged, but what
// the stream holds is exactly a prefix of what was published in it (a
// snapshot or a replica holds a past state), so an ID up to the head
// resumes with the true messages after it, and an ID of the lost tail is
// above the head: it resyncs. The first write starts the new epoch
// before it takes an offset, in the same script, so no offset of the old
// epoch is ever handed out twice, and from then on every old ID resyncs.
// Followers find the new epoch at their next message, check or
// reconnection and send their subscribers the resync signal, even when
// nothing is published. What stays undetected is a rollback within one
// server process that no live node saw past.
//
// The price: when in doubt, resync. Every restart of Redis and every
// failover starts new epochs, even when nothing was lost (a clean
// shutdown that saved everything, a replica that was in sync); moving a
// partition's slot to another Cluster master does too. The engine's
// Redis user needs INFO (ACL category @dangerous), which the scripts run
// when the engine loads them into a server process (its first publish or
// head read there, and after a restart, a failover or SCRIPT FLUSH);
// without it, publishes fail with an error that says so. (Read on every
// call, INFO cost a publish 4 to 6 µs of Redis CPU: TestPublishCost.)
// Bounding the replicas' lag (min-replicas-to-write,
// min-replicas-max-lag) still limits what a failover loses; the engine
// makes the loss visible, not smaller.
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
// # Live delivery, and noticing loss
//
// A node follows a partition (one connection of its own, subscribed to
// the partition's broadcast channel and to the channels of the topics it
// has local subscribers of) from the first local Subscribe of one of its
// topics until a whole CheckInterval has passed with no local subscriber
// of its topics; it subscribes a topic's channel at the topic's first
// local Subscribe (which returns once Redis has subscribed it) and
// unsubscribes it a CheckInterval or so after the last one left (so a
// client that reconnects does not make it churn). One goroutine per
// followed partition hands the feed its messages, in offset order. The
// offsets it receives skip the other topics' messages: a skip is not a
// hole (the engine is a fanout.SparseEngine, and the core's feed fills
// nothing). Redis sends one connection's messages of one slot in the
// order the scripts ran, so a message of a followed topic can only be
// missed at a discontinuity of the subscription, and each is handled:
//
//   - When it subscribes (at first, and after the connection failed or
//     the server dropped a channel, a slot moved), it reads the head, and
//     the messages of its followed topics (and broadcasts) from its last
//     delivery up to the head, from the stream, through the topic index
//     (the read script's topic filter): a reconnect costs Redis a lookup
//     per followed topic and the messages missed, not the partition's
//     range. So a message lost right after subscribing is found too.
//   - A channel added while the partition is followed owes its topic
//     nothing stored before (its new subscribers start after Subscribe
//     returned) and changes nothing of the other channels' order:
//     nothing to read.
//   - When no message came for CheckInterval, it reads the head (a new
//     epoch, or a history that went back, is found even when nothing is
//     published) and sends a probe: a random token, published by a
//     script that runs where the publish script runs (the slot's master)
//     on a channel of the node's own under the partition's hash tag
//     ({fanout:p}:probe:<random>, subscribed with the others), which it
//     waits for, PingTimeout at most, on the subscription. Since Redis
//     sends a connection's messages in the order it ran their publishes,
//     the probe's return vouches for every message of the followed
//     topics up to the head (see channels.go for the argument). A probe
//     that does not come back means a subscription that no longer
//     delivers: hung, open but silent, as in centrifugo issue 1189, or
//     left on a server that no longer gets the publishes (an old master
//     after a failover: the probe goes to the new one). It is replaced
//     (Stats.Stuck), and the new subscription catches up from the
//     stream. The check costs Redis the same whatever the topics
//     followed: a head read and a probe.
//   - When the stream no longer holds what was missed (trimmed, or the
//     epoch changed), the partition's local subscribers get the resync
//     signal (Feed.Reset, which runs OnResync), even when no message
//     follows to show it.
//
// What the probe cannot see: a message whose live copy alone was lost
// on a connection that stays subscribed and delivers what follows
// (probes included). Redis does not do that on the server that ran the
// publish: it drops a connection, or a slot's channels with a notice,
// never one message. A replica that serves a subscription can: it gets
// the master's publishes over the replication link (a full
// resynchronisation skips what was published meanwhile) or the cluster
// bus (at most once). So a node subscribes on the master: on a Cluster,
// where a replica serves SSUBSCRIBE and a client whose view of the slots
// is stale after a failover sends it there, each session first runs the
// probe script on its own connection, which a replica refuses (MOVED),
// and subscribes again later; a demoted master drops its sharded
// subscriptions (Redis 7.0), and Sentinel kills the pub/sub clients of
// the instances it turns into replicas. What remains is a subscription
// moved to a replica without either (a standalone master turned replica
// by hand: its head reads then fail, and each check ends the session),
// and a loss Redis does not make. So every 600th
// check (10 minutes with the default CheckInterval) is also an audit:
// once the probe is back, it reads the followed topics' messages after
// the last delivery up to the head, through the topic index (a lookup
// per topic, as a reconnect's catch-up), and what it finds was lost:
// delivered, and the subscription replaced. The audit sees such a loss
// only when no later message of a followed topic was delivered before
// it ran (it reads from the last delivery), and not when a reconnect
// came between (the catch-up reads from the last head a probe vouched
// for). The one-channel design found every such loss at the next
// message, at the price of every message of the partition.
//
// The head read is a script that may start a new epoch, so it writes:
// while Redis refuses writes (a replica not yet promoted, READONLY, or
// out of memory under noeviction), a node cannot read a head, and its
// clients' resync signal waits until Redis accepts writes again. Nothing
// is delivered out of order or silently skipped meanwhile; the signal is
// late, not lost.
//
// Stats counts these events (catch-ups that found messages, recovered
// messages, stuck subscriptions, reconnects, resyncs, new epochs) and the
// feed lag.
//
// Nodes of versions before the topic channels publish on one channel per
// partition, {fanout:p}:live, which a node subscribes too: during a
// rolling upgrade, it receives their messages in order with the others.
// The older nodes receive nothing live from upgraded ones: they fill
// each hole from the stream and their quiet partitions' checks find the
// rest, late, until they are upgraded. (On a Cluster they name the
// partitions' keys and channels otherwise, and the two refuse each
// other: see Cluster key layout.)
//
// # What a node pays for a topic it has no subscriber of
//
// Nothing: a node subscribes a topic's channel only while it has a local
// subscriber of the topic (and for one CheckInterval after the last one
// left), and receives nothing of the others, whatever partition they
// share with its topics. Publishing costs the same whatever the nodes
// follow: one script call.
//
// Redis pays for the subscriptions instead, measured on redis-server 7.0
// on the project's 2-core machine (TestChannels_Cost, with
// FANOUT_REDIS_MEASURE=1), for a node following 3,334 topics of one
// partition: subscribing their channels (at the node's start, or after
// a reconnect: SUBSCRIBE or SSUBSCRIBE with 1,000 channels each) took 5
// to 13 ms, 0.7 to 1.1 µs of Redis CPU per channel; each subscribed
// channel takes about 216 bytes (used_memory) for its first node and 127
// for each other node that subscribes it. The catch-up after a reconnect
// (and the audit, every 600th check) reads those topics' messages
// through the topic index: about 10 ms of Redis CPU for 3,334 topics
// behind 1,000 messages of others (a lookup per topic). The node reads
// them 256 topics per script call, so that no call holds Redis for long:
// 14 calls, the longest 2.1 ms (SLOWLOG), where one call of all 3,334
// took 10.6 ms. The periodic check of a quiet partition used to be such
// a read whenever the head had moved: for a node following 3,334 topics
// of a partition whose other topics' messages move the head, 1.56 ms of
// Redis time per check, against 0.10 ms with the probe, whatever the
// topics (TestCheck_Cost, commandstats, a check every 100 ms, the head
// moved before every other one, the machine loaded: load average 10 to
// 12).
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
// # The client: rueidis, chosen by measurement
//
// The engine uses github.com/redis/rueidis. Both candidates ran the
// publish script against one local redis-server on the project's 2-core
// machine (redis/clientbench, 20,000 publishes, 3 runs, medians):
//
//	goroutines   go-redis v9.23.0        rueidis v1.0.79
//	1            91.9 µs/op, 15 allocs   92.9 µs/op, 3 allocs
//	2            55.1 µs/op, 15 allocs   54.5 µs/op, 3 allocs
//	64           22.2 µs/op, 15 allocs   13.4 µs/op, 3 allocs
//
// Alone they are the same round trip; with many concurrent publishers
// rueidis's automatic pipelining gives 1.65 times the throughput (about
// 75,000 publishes/s against 45,000), with a fifth of the allocations.
package redis
