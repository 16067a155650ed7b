package script_test

// TestPublishCost breaks the publish script's Redis CPU down by part: it
// runs variants of the script, each with one part removed (or changed),
// against one real redis-server, and reports per variant the script's
// own time (commandstats usec_per_call of EVALSHA) and the server
// process's CPU (INFO cpu: getrusage, which is what bench/ reads from
// /proc) per publish, medians of rounds interleaved over the variants.
// With FANOUT_CENTRIFUGE_LUA set to the directory of centrifuge's
// internal/redis_lua, it runs centrifuge's stream publish script too, on
// the same server and workload, for comparison (read at run time, not
// copied). It runs only when FANOUT_REDIS_MEASURE is set;
// FANOUT_COST_ROUNDS sets the rounds (3), FANOUT_COST_ONLY a regexp of
// the variants to run, and FANOUT_COST_PAIRED reports each variant minus
// a run of the first one (or of FANOUT_COST_BASE, a variant's name) just
// before it (the machine's load drifts too much between rounds for small
// differences). A "+10 X" variant runs X
// ten more times per publish: a tenth of its difference is X's cost.
// Results of 2026-12-07: bench/results/redis-publish-cost.txt; the
// batched variants (", batches of n": the engine's group commit), of
// 2026-12-08: bench/results/redis-group-commit.txt. The scripts of
// earlier steps those files compare with (testdata/main, prev, sets,
// hash, unbatched: the script before the group commit) are in the
// repository's history; testdata keeps the script before the index
// moved into the meta hash (zset), which the mixed-versions test runs.

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout/redis/internal/redistest"
	"github.com/fanout-go/fanout/redis/internal/script"
)

const (
	costTopics  = 10_000 // topics, round-robin: bench/'s -topics 10000
	costPrefill = 11_000 // publishes before measuring: the stream is full (10,000) and trims
	costN       = 20_000 // publishes measured
	costG       = 16     // publishing goroutines (rueidis pipelines them)
	costMaxLen  = "10000"
	costMaxAge  = "86400000"  // 24 h
	costLife    = "108000000" // 30 h: HistoryAge and a quarter
)

// variant is one way of publishing: a script, and the keys and args of
// publish number i under prefix.
type variant struct {
	name string
	src  string
	subs int // subscribers of each live channel (4: three nodes and the bystander)
	keys func(prefix string, i int) []string
	args func(prefix string, i int) []string
	chs  func(prefix string) []string // the live channels subscribers follow
	// batch: messages per call (0: 1), i to i+batch-1 (the engine's
	// group commit: see redis/commit.go).
	batch int
}

// batched is v with batch messages per call: publish i's args, then
// those of i+1 to i+n-1 (channel, topic, kind, data each).
func batched(v variant, n int) variant {
	v.name = fmt.Sprintf("%s, batches of %d", v.name, n)
	v.batch = n
	args := v.args
	v.args = func(prefix string, i int) []string {
		a := args(prefix, i)
		for k := 1; k < n; k++ {
			b := args(prefix, i+k)
			a = append(a, b[4], b[8], b[9], b[10])
		}
		return a
	}
	return v
}

func swap(t *testing.T, src, old, repl string) string {
	t.Helper()
	if n := strings.Count(src, old); n != 1 {
		t.Fatalf("variant: %q found %d times", old, n)
	}
	return strings.Replace(src, old, repl, 1)
}

func rep10(stmt string) string { return strings.Repeat("\n"+stmt, 10) + "\n" }

func topicOf(i int) string { return fmt.Sprintf("t%05d", i%costTopics) }

var data = strings.Repeat("x", 64)

func fanoutVariant(name, src string, subs int, edit func(args []string) []string, noIndex bool) variant {
	return variant{
		name: name, src: src, subs: subs,
		keys: func(prefix string, _ int) []string {
			tag := "{" + prefix + ":0}"
			switch {
			case noIndex || !strings.Contains(src, "KEYS[3]"): // this version: the index in the meta hash
				return []string{tag + ":meta", tag + ":log"}
			case strings.Contains(src, "KEYS[4]"): // the index of sorted sets (testdata)
				return []string{tag + ":meta", tag + ":log", tag + ":ixt", tag + ":ixo"}
			}
			return []string{tag + ":meta", tag + ":log", tag + ":last"}
		},
		args: func(prefix string, i int) []string {
			a := []string{"node1", "1", "", "0", "{" + prefix + ":0}:live", "0", costMaxLen, costMaxAge, topicOf(i), "t", data, costLife}
			if edit != nil {
				a = edit(a)
			}
			return a
		},
		chs: func(prefix string) []string { return []string{"{" + prefix + ":0}:live"} },
	}
}

func variants(t *testing.T) []variant {
	run := strings.Repeat("a", 80) // a master's identity: its run_id and master_replid
	args := fanoutVariant("", "", 0, nil, false).args("", 0)
	// This branch's script, baked as the engine bakes it: the identity and
	// the bounds and life (see script.Bake); bake bakes it with a
	// variant's own arguments.
	baked := script.Bake(script.Publish, run, "nonce", args)
	bake := func(src string, edit func([]string) []string) string {
		return script.Bake(src, run, "nonce", edit(slices.Clone(args)))
	}
	const timeCall = "local time = redis.call('TIME')"
	vs := []variant{
		fanoutVariant("this branch", baked, 4, nil, false),
		fanoutVariant("this branch, 1 subscriber", baked, 1, nil, false),
		fanoutVariant("this branch, arguments not baked", script.Bake(script.Publish, run, "nonce", nil), 4, nil, false),
		fanoutVariant("this branch -TIME", swap(t, baked, "local time = redis.call('TIME')", "local time = {'1765000000', '123456'}"), 4, nil, false),
		fanoutVariant("this branch -age trim", bake(script.Publish, func(a []string) []string { a[7] = "0"; return a }), 4, func(a []string) []string { a[7] = "0"; return a }, false),
		fanoutVariant("this branch -keepAlive", bake(script.Publish, func(a []string) []string { return a[:11] }), 4, func(a []string) []string { return a[:11] }, false),
		fanoutVariant("this branch -PUBLISH", swap(t, baked, "redis.call(publish, ARGV[5], payload)", ""), 4, nil, false),
		batched(fanoutVariant("this branch", baked, 4, nil, false), 4),
		batched(fanoutVariant("this branch", baked, 4, nil, false), 16),
		batched(fanoutVariant("this branch", baked, 4, nil, false), 64),
		fanoutVariant("this branch, ensure only", swap(t, baked, "local maxLen, maxAge = ", "do return {epoch, '1'} end\nlocal maxLen, maxAge = "), 4, nil, false),
		fanoutVariant("+10 TIME", swap(t, baked, timeCall, timeCall+rep10("redis.call('TIME')")), 4, nil, false),
		fanoutVariant("+10 HMGET", swap(t, baked, timeCall, timeCall+rep10("redis.call('HMGET', meta, 'e', 'h', 'r', 'n')")), 4, nil, false),
		fanoutVariant("+10 HSET", swap(t, baked, timeCall, timeCall+rep10("redis.call('HSET', meta, 'x', '1')")), 4, nil, false),
		fanoutVariant("+10 XRANGE first", swap(t, baked, timeCall, timeCall+rep10("redis.call('XRANGE', log, '-', '+', 'COUNT', 1)")), 4, nil, false),
		fanoutVariant("+10 PTTL", swap(t, baked, timeCall, timeCall+rep10("redis.call('PTTL', meta)")), 4, nil, false),
		fanoutVariant("empty script, same args", "return {'e', '1'}", 4, nil, false),
	}
	if dir := os.Getenv("FANOUT_CENTRIFUGE_LUA"); dir != "" {
		fn, err1 := os.ReadFile(filepath.Join(dir, "broker_history_add_stream_fn.lua"))
		call, err2 := os.ReadFile(filepath.Join(dir, "broker_history_add_stream_call.lua"))
		if err1 != nil || err2 != nil {
			t.Fatalf("centrifuge's scripts: %v %v", err1, err2)
		}
		cf := func(name string, topics, subs int) variant {
			topic := func(i int) string { return fmt.Sprintf("t%05d", i%topics) }
			return variant{
				name: name, src: string(fn) + "\n" + string(call), subs: subs,
				keys: func(prefix string, i int) []string {
					return []string{prefix + ".stream." + topic(i), prefix + ".meta." + topic(i), prefix + ".result." + topic(i)}
				},
				// Its protobuf Publication of 64 bytes of data and a time: ~76 bytes.
				args: func(prefix string, i int) []string {
					return []string{data + "012345678901", "10000", "86400", prefix + ".ch." + topic(i), "2592000", "epoch1", "publish", "", "", "0", ""}
				},
				chs: func(prefix string) []string {
					chs := make([]string, topics)
					for k := range chs {
						chs[k] = prefix + ".ch." + topic(k)
					}
					return chs
				},
			}
		}
		vs = append(vs, cf("centrifuge, 10,000 topics", costTopics, 1), cf("centrifuge, 1 topic", 1, 4))
	}
	return vs
}

func TestPublishCost(t *testing.T) {
	if os.Getenv("FANOUT_REDIS_MEASURE") == "" {
		t.Skip("set FANOUT_REDIS_MEASURE=1 to measure")
	}
	rounds := 3
	if r, err := strconv.Atoi(os.Getenv("FANOUT_COST_ROUNDS")); err == nil {
		rounds = r
	}
	srv := redistest.Start(t)
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	vs := variants(t)
	only := os.Getenv("FANOUT_COST_ONLY")
	paired := os.Getenv("FANOUT_COST_PAIRED") != "" // report each variant minus the first (or FANOUT_COST_BASE's)
	base := 0
	if b := os.Getenv("FANOUT_COST_BASE"); b != "" {
		base = slices.IndexFunc(vs, func(v variant) bool { return v.name == b })
		if base < 0 {
			t.Fatalf("FANOUT_COST_BASE: no variant %q", b)
		}
	}
	type m struct{ scriptUs, procUs []float64 }
	res := make([]m, len(vs))
	runVariant(t, srv, client, vs[0], "warmup") // the server's and the client's first run is slower
	for r := range rounds {
		for j := range vs {
			k := (j + r) % len(vs) // each round starts elsewhere: no variant always runs first
			v := vs[k]
			if only != "" && !regexp.MustCompile(only).MatchString(v.name) {
				continue
			}
			s, p := runVariant(t, srv, client, v, fmt.Sprintf("c%d-%d", r, k))
			if paired && k != base {
				// The difference from a run of the base variant just before.
				s0, p0 := runVariant(t, srv, client, vs[base], fmt.Sprintf("c%d-%d-base", r, k))
				s, p = s-s0, p-p0
			}
			res[k].scriptUs = append(res[k].scriptUs, s)
			res[k].procUs = append(res[k].procUs, p)
		}
	}
	t.Logf("%-28s %22s %22s", "variant", "script µs/op (range)", "process µs/op (range)")
	for k, v := range vs {
		if len(res[k].scriptUs) == 0 {
			continue
		}
		t.Logf("%-28s %8.2f (%5.2f–%5.2f) %8.2f (%5.2f–%5.2f)", v.name,
			median(res[k].scriptUs), slices.Min(res[k].scriptUs), slices.Max(res[k].scriptUs),
			median(res[k].procUs), slices.Min(res[k].procUs), slices.Max(res[k].procUs))
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// runVariant publishes costPrefill then costN messages with v under a
// fresh prefix, with v.subs subscribers draining each live channel, and
// returns the script's and the process's CPU per measured publish.
func runVariant(t *testing.T, srv *redistest.Server, c rueidis.Client, v variant, prefix string) (scriptUs, procUs float64) {
	t.Helper()
	ctx := context.Background()
	var conns []net.Conn
	var wg sync.WaitGroup
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
		wg.Wait()
	}()
	for range v.subs {
		cn, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, cn)
		var b strings.Builder
		chs := v.chs(prefix)
		fmt.Fprintf(&b, "*%d\r\n$9\r\nSUBSCRIBE\r\n", len(chs)+1)
		for _, ch := range chs {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(ch), ch)
		}
		if _, err := io.WriteString(cn, b.String()); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = io.Copy(io.Discard, cn) }()
	}
	// Wait until the subscriptions are in place.
	for _, ch := range v.chs(prefix)[:1] {
		for {
			n, err := c.Do(ctx, c.B().PubsubNumsub().Channel(ch).Build()).ToArray()
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := n[1].AsInt64(); got >= int64(v.subs) {
				break
			}
		}
	}
	lua := rueidis.NewLuaScript(v.src)
	batch := max(v.batch, 1)
	run := func(from, n int) {
		var next atomic.Int64
		next.Store(int64(from))
		var g sync.WaitGroup
		for range costG {
			g.Add(1)
			go func() {
				defer g.Done()
				for {
					i := int(next.Add(int64(batch))) - batch
					if i >= from+n {
						return
					}
					if err := lua.Exec(ctx, c, v.keys(prefix, i), v.args(prefix, i)).Error(); err != nil {
						t.Errorf("%s: %v", v.name, err)
						return
					}
				}
			}()
		}
		g.Wait()
	}
	run(0, costPrefill)
	if err := c.Do(ctx, c.B().ConfigResetstat().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	cpu0 := cpuOf(t, c)
	run(costPrefill, costN)
	procUs = (cpuOf(t, c) - cpu0) * 1e6 / costN
	stats, err := c.Do(ctx, c.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	scriptUs = field(t, stats, "cmdstat_evalsha:", "usec_per_call=") / float64(batch)
	if os.Getenv("FANOUT_COST_COMMANDS") != "" {
		// The commands the script called, each counted by commandstats
		// too: their CPU per publish.
		var b strings.Builder
		for _, l := range strings.Split(stats, "\r\n") {
			if name, rest, ok := strings.Cut(l, ":"); ok && strings.HasPrefix(name, "cmdstat_") {
				_, after, _ := strings.Cut(rest, "usec=")
				usec, _, _ := strings.Cut(after, ",")
				_, after, _ = strings.Cut(rest, "calls=")
				calls, _, _ := strings.Cut(after, ",")
				u, _ := strconv.ParseFloat(usec, 64)
				c, _ := strconv.ParseFloat(calls, 64)
				fmt.Fprintf(&b, " %s %.2fµs (%.2f calls)", strings.TrimPrefix(name, "cmdstat_"), u/costN, c/costN)
			}
		}
		t.Logf("%s per publish:%s", v.name, b.String())
	}
	if err := c.Do(ctx, c.B().Flushall().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	return scriptUs, procUs
}

func cpuOf(t *testing.T, c rueidis.Client) float64 {
	info, err := c.Do(context.Background(), c.B().Info().Section("cpu").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	return field(t, info, "used_cpu_sys:", "") + field(t, info, "used_cpu_user:", "")
}

// field returns the number after sub in the line of info that starts
// with line.
func field(t *testing.T, info, line, sub string) float64 {
	t.Helper()
	for _, l := range strings.Split(info, "\r\n") {
		if rest, ok := strings.CutPrefix(l, line); ok {
			if sub != "" {
				_, after, _ := strings.Cut(rest, sub)
				rest, _, _ = strings.Cut(after, ",")
			}
			f, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("%s%s: %v", line, sub, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in %q", line, info)
	return 0
}
