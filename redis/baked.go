package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout/redis/internal/script"
)

// The scripts that write (publish, head) compare the identity recorded
// with the partition's epoch to that of the server process they run in:
// its run_id, and its master_replid while it is a master, which every
// promotion changes (see "Histories that go back" in
// docs/redis-engine.md). Reading them from INFO on every call cost 2 to
// 4 µs of Redis CPU, a tenth of a publish. Instead the engine bakes the
// identity into the script's text, with a random nonce (script.Bake), and
// makes sure that the text is only ever run by the process, and the
// role, it describes:
//
//   - The text is sent once, by EVAL, which runs its probe: the script
//     answers the identity of the server it runs in, from INFO, and
//     writes nothing. The engine keeps the text (and runs it again) only
//     when the probe answered the baked identity: the process that
//     cached it is the one the text speaks of. A probe that found another
//     (the server changed since the engine asked) leaves the text cached
//     in a process it does not describe, but its nonce is known to this
//     engine alone, which drops it and never sends it again.
//   - From then on it runs by EVALSHA only, which no other process can
//     answer: a restarted server, a promoted replica, another Cluster
//     master lack the text (Redis 7 neither persists nor replicates its
//     script cache), and answer NOSCRIPT. The engine then asks the
//     identity (the script as written, not baked, answers the probe) and
//     loads a text for it. rueidis.Lua would answer NOSCRIPT with an EVAL
//     of the same text, on the new server, with the old identity baked
//     in: these scripts never go through it.
//   - The same process can change identity while it keeps the text: made
//     a replica of another server, it is resynchronised from it (its
//     data set replaced, its script cache kept: redis-server 7.0 does not
//     flush it), and promoted again with a new master_replid. So a text
//     is trusted without a check for checkEvery at most (the engine's
//     CheckInterval) after its identity was last found the server's: the
//     first call after that runs its checking twin (script.Checking),
//     which reads INFO, and fails with FANOUTSTALE, writing nothing, when
//     the identity is no longer the server's; the engine then loads a
//     text for the new one, and the call runs with it. A call that finds
//     the server a replica (READONLY) or fails on the connection (a
//     failover, Sentinel's CLIENT KILL) makes the texts of that identity
//     checked at their next call; so does a text loaded while the server
//     was a replica, at every call (its identity has no master_replid).
//   - SCRIPT FLUSH, or Redis dropping scripts loaded by EVAL (7.4 keeps
//     500 at most), is the same process: NOSCRIPT, the probe finds the
//     identity unchanged, and the next call goes on with a new text.
//
// So every call compares the epoch's identity with that of its own
// server process, as when it read INFO, but for a process that was made
// a replica, resynchronised and promoted again within checkEvery of the
// last check of this engine's text, with no call of the engine meeting
// it as a replica: that engine's calls go on with the old identity until
// the check (see the remaining window in docs/redis-engine.md). Two
// engines on one server load texts of their own (their nonces differ)
// with the same identity: they agree on it, as they agreed on INFO's.

// bakedScript runs one of those scripts (script.Publish or script.Head).
type bakedScript struct {
	src        string        // the script as written: reads INFO
	probe      *rueidis.Lua  // src: its probe answers the identity of any server
	load       chan struct{} // one load at a time (a slot: waiting ends with ctx)
	checkEvery time.Duration // how long a text runs unchecked (the engine's CheckInterval)

	mu   sync.Mutex
	byID map[string]*bakedText // the text loaded into each server process, by identity and key

	parts []atomic.Pointer[bakedText] // the text each partition ran last
}

// bakedText is a text of the script loaded into the server process whose
// identity (the probe's answer) is id, baked with the calls' arguments
// of key (script.BakedKey).
type bakedText struct {
	id, key, sha string
	check        string // script.Checking's twin of the text
	checkSHA     string // its SHA1

	// When (monotonic: clock) the last call that found the identity the
	// server's was sent, and when a reply last said that the server may
	// have changed role since (see suspect): a check sent before that
	// does not count.
	checked, suspected atomic.Int64
}

var clockStart = time.Now()

// clock returns the monotonic time in ns since the package started.
func clock() int64 { return int64(time.Since(clockStart)) }

func newBakedScript(src string, partitions int, checkEvery time.Duration) *bakedScript {
	return &bakedScript{
		src:        src,
		probe:      rueidis.NewLuaScript(src),
		load:       make(chan struct{}, 1),
		checkEvery: checkEvery,
		byID:       map[string]*bakedText{},
		parts:      make([]atomic.Pointer[bakedText], partitions),
	}
}

// due reports whether t's next call must check its identity: it was
// loaded while the server was a replica (no master_replid), was suspected
// since its last check, or was checked more than every ago.
func (t *bakedText) due(every time.Duration) bool {
	at := t.checked.Load()
	return len(t.id) != 80 || t.suspected.Load() >= at || clock()-at >= int64(every)
}

// exec runs the script on partition p's keys.
func (s *bakedScript) exec(ctx context.Context, c rueidis.Client, p int, keys, args []string) rueidis.RedisResult {
	for attempt := 0; ; attempt++ {
		t := s.parts[p].Load()
		if t != nil {
			var r rueidis.RedisResult
			if t.due(s.checkEvery) {
				r = s.execChecked(ctx, c, t, keys, args)
			} else {
				r = c.Do(ctx, c.B().Evalsha().Sha1(t.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build())
				s.suspect(t, r.Error())
			}
			if !isNoScript(r.Error()) || attempt == 3 {
				return r
			}
		}
		if err := s.reload(ctx, c, p, t, keys, args); err != nil {
			return rueidis.NewErrorResult(err)
		}
	}
}

// execChecked runs t's checking twin, by EVALSHA, or EVAL when the
// server lacks it: it checks the identity in the same call, so it may
// run anywhere. It answers FANOUTSTALE (taken for NOSCRIPT: see
// isNoScript) where t's identity is no longer the server's.
func (s *bakedScript) execChecked(ctx context.Context, c rueidis.Client, t *bakedText, keys, args []string) rueidis.RedisResult {
	sent := clock()
	r := c.Do(ctx, c.B().Evalsha().Sha1(t.checkSHA).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build())
	if re, ok := rueidis.IsRedisErr(r.Error()); ok && re.IsNoScript() {
		r = c.Do(ctx, c.B().Eval().Script(t.check).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build())
	}
	switch err := r.Error(); {
	case err == nil:
		t.checked.Store(sent)
	case isStale(err):
		s.suspectID(t.id) // the other texts of that identity are stale too
	default:
		s.suspect(t, err)
	}
	return r
}

// suspect makes the texts of t's identity checked at their next call
// when err, a call's, says that the server may have changed role: it is
// a replica (READONLY), or the connection failed (a failover may have
// made the address another server's, or Sentinel killed the clients of
// a server it reconfigured).
func (s *bakedScript) suspect(t *bakedText, err error) {
	if err == nil {
		return
	}
	if re, ok := rueidis.IsRedisErr(err); ok && !strings.HasPrefix(re.Error(), "READONLY") {
		return
	}
	t.suspected.Store(clock())
	s.suspectID(t.id)
}

// suspectID makes every text of identity id checked at its next call.
func (s *bakedScript) suspectID(id string) {
	now := clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.byID {
		if t.id == id {
			t.suspected.Store(now)
		}
	}
}

// execMulti runs the script on several partitions, pipelined: ps[i] with
// keys[i] and args[i].
func (s *bakedScript) execMulti(ctx context.Context, c rueidis.Client, ps []int, keys, args [][]string) []rueidis.RedisResult {
	out := make([]rueidis.RedisResult, len(ps))
	cmds := make(rueidis.Commands, 0, len(ps))
	var at []int           // the index in ps of each of cmds
	var texts []*bakedText // the text each of cmds runs
	for i, p := range ps {
		if t := s.parts[p].Load(); t != nil && !t.due(s.checkEvery) {
			cmds = append(cmds, c.B().Evalsha().Sha1(t.sha).Numkeys(int64(len(keys[i]))).Key(keys[i]...).Arg(args[i]...).Build())
			at, texts = append(at, i), append(texts, t)
		} else {
			out[i] = s.exec(ctx, c, p, keys[i], args[i])
		}
	}
	if len(cmds) == 0 {
		return out
	}
	for j, r := range c.DoMulti(ctx, cmds...) {
		i := at[j]
		s.suspect(texts[j], r.Error())
		if isNoScript(r.Error()) {
			r = s.exec(ctx, c, ps[i], keys[i], args[i]) // not run: run it again, with a new text
		}
		out[i] = r
	}
	return out
}

// isNoScript reports whether err says that the text was not run: the
// server lacks it (NOSCRIPT), it was baked with other arguments
// (FANOUTBAKED: see script.Bake), or with another identity (FANOUTSTALE:
// see script.Checking).
func isNoScript(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && (re.IsNoScript() || re.Error() == "FANOUTBAKED" || re.Error() == "FANOUTSTALE")
}

func isStale(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && re.Error() == "FANOUTSTALE"
}

// reload finds the text for partition p's server and args, loading one
// if needed, after failed (nil: none yet) was not found there, or found
// stale.
func (s *bakedScript) reload(ctx context.Context, c rueidis.Client, p int, failed *bakedText, keys, args []string) error {
	select {
	case s.load <- struct{}{}:
		defer func() { <-s.load }()
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	if t := s.parts[p].Load(); t != failed {
		return nil // another call loaded one meanwhile
	}
	s.mu.Lock()
	key := script.BakedKey(s.src, args)
	if failed != nil && failed.key == key && s.byID[failed.id+" "+key] == failed {
		delete(s.byID, failed.id+" "+key) // that process lost it (or is gone, or changed)
	}
	s.mu.Unlock()
	for range 3 {
		id, err := s.probe.Exec(ctx, c, keys, []string{"?"}).ToString()
		if err != nil {
			return err
		}
		if !isIdentity(id) {
			return fmt.Errorf("fanout/redis: the server's run_id and master_replid are %q, not 40 or 80 hex digits", id)
		}
		s.mu.Lock()
		t := s.byID[id+" "+key]
		s.mu.Unlock()
		if t != nil && t != failed {
			// Another partition's server: its text may serve this one too
			// (if not, NOSCRIPT again, and it is dropped).
			s.parts[p].Store(t)
			return nil
		}
		text := script.Bake(s.src, id, randomID(16), args)
		sent := clock()
		got, err := c.Do(ctx, c.B().Eval().Script(text).Numkeys(int64(len(keys))).Key(keys...).Arg("?").Build()).ToString()
		if err != nil {
			return err
		}
		if got != id {
			continue // the server changed since the probe: ask again
		}
		t = &bakedText{id: id, key: key, sha: sha1Hex(text)}
		t.check = script.Checking(text)
		t.checkSHA = sha1Hex(t.check)
		t.checked.Store(sent) // the probe, in the process that cached it
		s.mu.Lock()
		s.byID[id+" "+key] = t
		s.mu.Unlock()
		s.parts[p].Store(t)
		return nil
	}
	return fmt.Errorf("fanout/redis: the server's identity kept changing while the scripts were loaded")
}

func sha1Hex(text string) string {
	sum := sha1.Sum([]byte(text))
	return hex.EncodeToString(sum[:])
}

// isIdentity reports whether s is a probe's answer: a run_id, followed by
// a master_replid when the server is a master, 40 hex digits each.
func isIdentity(s string) bool {
	if len(s) != 40 && len(s) != 80 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
