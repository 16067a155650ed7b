// Package bolt is a fanout.ReplayStore kept in a file (go.etcd.io/bbolt),
// for a server that runs on one node: its replay history survives a
// restart or a deploy, graceful or a kill -9, so a client that reconnects
// with the ID of the last message it received gets exactly what it missed
// (including what was published after the restart, before it came back),
// or the resync signal when that was evicted. No server to run.
//
//	store, err := bolt.Open("/var/lib/myapp/fanout.db", nil) // nil: defaults
//	hub := fanout.NewHub(&fanout.HubOptions{Replay: store})   // and close store after hub
//
// It is a module of its own, so that applications that do not use it do
// not download bbolt. The package example has a client resume across a
// restart.
//
// # One log, bounded as a whole
//
// All topics share one log, as in fanout.Ring: a client subscribed to
// several topics resumes them all from one ID ("k2f9w-42": the file's
// epoch and a dense offset). The bounds are on the whole log: MaxCount
// messages (100000 by default) and, optionally, MaxAge. A client resumes
// if what it missed, on every topic, is within both; otherwise it gets
// the resync signal. The bounds are overall, not per topic, because
// resuming is a question about the one log: "is every message after this
// ID still here?", answered with two comparisons for any set of topics.
// Per-topic bounds would need, for a client of several topics, the
// intersection of what each topic kept, and the file could no longer drop
// its oldest records whole (a record holds the messages of one commit, of
// all topics). The cost: a busy topic can push a quiet one's messages out
// sooner. Size MaxCount for the total rate times how long clients stay
// away, or bound by MaxAge with a MaxCount to spare.
//
// Reads honour the bounds exactly; the file is trimmed lazily, a quarter
// at a time, so it holds up to a quarter more (plus one commit's
// messages).
//
// # Durability
//
// An Append returns once the transaction holding it is committed (unless
// the store has a SyncWindow: see below): after that, its message is in
// the file. Concurrent Appends share one
// transaction and one fsync (group commit): a single writer goroutine
// commits whatever queued up while it was busy, with no timer, so a lone
// publisher waits for one commit and many publishers share each one.
//
//	setting            Options             Append returns after     lost on kill -9   lost on an OS crash or power loss
//	fsync per publish  MaxBatch: 1         its own commit, fsynced  nothing           nothing
//	batched (default)  zero value          a shared commit, fsynced nothing           nothing
//	no fsync           NoSync: true        a shared commit, written nothing           recent Appends, maybe the file: the
//	                                       to the page cache                          history is dropped (a new epoch)
//	window             SyncWindow: W       its message is in the    the last W (and   the last W (and the commit under way);
//	                                       store's memory           the commit under  the history is kept, in a new epoch
//	                                                                way); a new epoch
//
// "Nothing" means no Append that returned nil; an Append in progress when
// the process died may or may not be in the file (its publisher got no
// answer, and no subscriber saw it: clients that resume receive it if it
// is). Fsync per publish gives no stronger guarantee than batched: it only
// costs a commit and an fsync per Append. Both assume a disk that honours
// fsync.
//
// Under NoSync, an Append that returned is only in the operating system's
// page cache until the kernel writes it back. That survives the process
// dying, not the machine. So a NoSync session marks the file with
// PATH.nosync, holding the machine's boot ID (Linux), until Close has
// synced everything; an Open that finds the mark of an earlier boot (or
// cannot tell the boot, elsewhere than on Linux) deletes the file without
// reading it and starts anew, in a new epoch: every client resyncs, none
// resumes against a history that lost messages.
//
// With a SyncWindow (like Redis's "appendfsync everysec"), an Append
// returns as soon as its message has its offset and is in the store's
// memory, where Head and Reads see it at once; the writer commits and
// fsyncs everything that accumulated, in one transaction, W after the
// oldest of it (so W plus the commit's duration after an Append at
// worst). A publisher waits for no disk: one publisher publishes about as
// fast as over the Ring. The price is what a crash loses: the last W, and
// subscribers may have received, with their IDs, messages that are gone.
// Had the next session gone on in the same epoch, it would have given
// those offsets to new messages, and a client holding a lost ID would
// have resumed past them without a word. So a session with a window marks
// the file with PATH.window (synced before its first Append, removed by
// Close once everything is synced), and an Open that finds the mark keeps
// the log but starts a new epoch: every client resyncs once, whether or
// not the crash lost anything (the store cannot tell: telling would need
// the offsets handed out to be durable, an fsync on the publishing path,
// which is what the window avoids). After a clean Close, the epoch stays.
// The messages of a window are held in memory until committed; if a
// commit fails, they stay, the next window retries, and Close returns the
// error (the mark then stays too).
//
// # Throughput
//
// A publisher waits for its commit, and bbolt syncs twice per commit: one
// publisher alone is bound by the disk's fsync latency, and throughput
// grows with concurrent publishers, who share commits. Measured by
// BenchmarkHub_Publish (64-byte messages through a Hub to 10 WebSocket
// subscribers, until delivered) on a machine with 2 shared vCPUs and a
// virtual disk whose fdatasync took 0.25 to several ms, medians of 5 runs,
// publishes per second:
//
//	publishers  Ring   batched  fsync per publish  NoSync
//	1           319k   1.8k     3.1k               9.7k
//	16          345k   20.5k    2.7k               110k
//	256         461k   155k     2.6k               221k
//	1024        372k   305k     2.7k               222k
//
// Batched publishing comes within 2x of the in-memory Ring from about a
// thousand concurrent publishers (1.2x here; 1.6x in a session with the
// disk busier), not below.
//
// With a window (SyncWindow 100ms, "window" in the benchmark) a publisher
// does not wait for the disk, and publishing costs what it costs over the
// Ring: measured in another session, with the machine much busier (load
// average 5 to 15 on 2 vCPUs, so the numbers are noisier and lower),
// medians of 3 runs, publishes per second:
//
//	publishers  Ring   batched  window
//	1           140k   290      76k
//	1           207k            300k    (a second series)
//	16          75k    2.4k     123k
//	256         141k            138k
//
// One publisher comes within 2x of the Ring (1.8x, then 0.7x: the
// difference is the noise), where batched is 480 times slower.
//
// # Files and processes
//
// One process has the file open at a time (bbolt locks it): Open waits
// LockTimeout for another to let go, then fails with ErrLocked ("store
// file is locked by another process"). Open fails with ErrDamaged, and
// does not panic, on a file that is not a store of this package or is
// damaged (cut short, pages zeroed or overwritten: Open checks every page
// in use before bbolt reads them); delete it to start over (clients then
// resync). Deleting the file is also how to drop the history on purpose.
// The layout is described in record.go.
package bolt
