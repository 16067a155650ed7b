package redis

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout/redis/internal/script"
)

// The scripts that write (publish, head) compare the run_id recorded
// with the partition's epoch to that of the server process they run in
// (see "Histories that go back" in docs/redis-engine.md). Reading it
// from INFO server on every call cost 2 to 4 µs of Redis CPU, a tenth of
// a publish. Instead the engine bakes the run_id into the script's text,
// with a random nonce (script.Bake), and makes sure that the text is
// only ever run by the process whose run_id it holds:
//
//   - The text is sent once, by EVAL, which runs its probe: the script
//     answers the run_id of the server it runs in, from INFO, and writes
//     nothing. The engine keeps the text (and runs it again) only when
//     the probe answered the baked run_id: the process that cached it
//     is the one the text speaks of. A probe that found another (the
//     server changed since the engine asked) leaves the text cached in a
//     process it does not describe, but its nonce is known to this
//     engine alone, which drops it and never sends it again.
//   - From then on it runs by EVALSHA only, which no other process can
//     answer: a restarted server, a promoted replica, another Cluster
//     master lack the text (Redis 7 neither persists nor replicates its
//     script cache), and answer NOSCRIPT. The engine then asks the run_id
//     (the script as written, not baked, answers the probe) and loads a
//     text for it. rueidis.Lua would answer NOSCRIPT with an EVAL of the
//     same text, on the new server, with the old run_id baked in: these
//     scripts never go through it.
//   - SCRIPT FLUSH, or Redis dropping scripts loaded by EVAL (7.4 keeps
//     500 at most), is the same process: NOSCRIPT, the probe finds the
//     run_id unchanged, and the next call goes on with a new text.
//
// So every call compares the epoch's run_id with that of its own server
// process, as when it read INFO, and the first write after a restart or a
// failover still starts a new epoch. Two engines on one server load
// texts of their own (their nonces differ) with the same run_id: they
// agree on it, as they agreed on INFO's.

// bakedScript runs one of those scripts (script.Publish or script.Head).
type bakedScript struct {
	src   string        // the script as written: reads INFO
	probe *rueidis.Lua  // src: its probe answers the run_id of any server
	load  chan struct{} // one load at a time (a slot: waiting ends with ctx)

	mu    sync.Mutex
	byRun map[string]*bakedText // the text loaded into each server process, by run_id and key

	parts []atomic.Pointer[bakedText] // the text each partition ran last
}

// bakedText is a text of the script loaded into the server process whose
// run_id is run, baked with the calls' arguments of key (script.BakedKey).
type bakedText struct{ run, key, sha string }

func newBakedScript(src string, partitions int) *bakedScript {
	return &bakedScript{
		src:   src,
		probe: rueidis.NewLuaScript(src),
		load:  make(chan struct{}, 1),
		byRun: map[string]*bakedText{},
		parts: make([]atomic.Pointer[bakedText], partitions),
	}
}

// exec runs the script on partition p's keys.
func (s *bakedScript) exec(ctx context.Context, c rueidis.Client, p int, keys, args []string) rueidis.RedisResult {
	for attempt := 0; ; attempt++ {
		t := s.parts[p].Load()
		if t != nil {
			r := c.Do(ctx, c.B().Evalsha().Sha1(t.sha).Numkeys(int64(len(keys))).Key(keys...).Arg(args...).Build())
			if !isNoScript(r.Error()) || attempt == 3 {
				return r
			}
		}
		if err := s.reload(ctx, c, p, t, keys, args); err != nil {
			return rueidis.NewErrorResult(err)
		}
	}
}

// execMulti runs the script on several partitions, pipelined: ps[i] with
// keys[i] and args[i].
func (s *bakedScript) execMulti(ctx context.Context, c rueidis.Client, ps []int, keys, args [][]string) []rueidis.RedisResult {
	out := make([]rueidis.RedisResult, len(ps))
	cmds := make(rueidis.Commands, 0, len(ps))
	var at []int // the index in ps of each of cmds
	for i, p := range ps {
		if t := s.parts[p].Load(); t != nil {
			cmds = append(cmds, c.B().Evalsha().Sha1(t.sha).Numkeys(int64(len(keys[i]))).Key(keys[i]...).Arg(args[i]...).Build())
			at = append(at, i)
		} else {
			out[i] = s.exec(ctx, c, p, keys[i], args[i])
		}
	}
	if len(cmds) == 0 {
		return out
	}
	for j, r := range c.DoMulti(ctx, cmds...) {
		i := at[j]
		if isNoScript(r.Error()) {
			r = s.exec(ctx, c, ps[i], keys[i], args[i]) // not run: run it again, with a new text
		}
		out[i] = r
	}
	return out
}

// isNoScript reports whether err says that the text was not run: the
// server lacks it (NOSCRIPT), or it was baked with other arguments
// (FANOUTBAKED: see script.Bake).
func isNoScript(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && (re.IsNoScript() || re.Error() == "FANOUTBAKED")
}

// reload finds the text for partition p's server and args, loading one
// if needed, after failed (nil: none yet) was not found there.
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
	if failed != nil && failed.key == key && s.byRun[failed.run+" "+key] == failed {
		delete(s.byRun, failed.run+" "+key) // that process lost it (or is gone)
	}
	s.mu.Unlock()
	for range 3 {
		run, err := s.probe.Exec(ctx, c, keys, []string{"?"}).ToString()
		if err != nil {
			return err
		}
		if !isRunID(run) {
			return fmt.Errorf("fanout/redis: the server's run_id is %q, not 40 hex digits", run)
		}
		s.mu.Lock()
		t := s.byRun[run+" "+key]
		s.mu.Unlock()
		if t != nil && t != failed {
			// Another partition's server: its text may serve this one too
			// (if not, NOSCRIPT again, and it is dropped).
			s.parts[p].Store(t)
			return nil
		}
		text := script.Bake(s.src, run, randomID(16), args)
		got, err := c.Do(ctx, c.B().Eval().Script(text).Numkeys(int64(len(keys))).Key(keys...).Arg("?").Build()).ToString()
		if err != nil {
			return err
		}
		if got != run {
			continue // the server changed since the probe: ask again
		}
		sum := sha1.Sum([]byte(text))
		t = &bakedText{run: run, key: key, sha: hex.EncodeToString(sum[:])}
		s.mu.Lock()
		s.byRun[run+" "+key] = t
		s.mu.Unlock()
		s.parts[p].Store(t)
		return nil
	}
	return fmt.Errorf("fanout/redis: the server's run_id kept changing while the scripts were loaded")
}

func isRunID(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
