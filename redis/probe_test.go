package redis_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// allCommandCalls returns how many times srv ran each command (INFO
// commandstats), by lower-case name.
func allCommandCalls(t *testing.T, srv *redistest.Server) map[string]int64 {
	t.Helper()
	info, err := redistest.String(srv.Do("INFO", "commandstats"))
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int64{}
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		calls[name] = v
	}
	return calls
}

// commandUsec returns the µs srv spent in the commands clients sent
// (INFO commandstats, scripts and pings: what the scripts run inside is
// in theirs).
func commandUsec(t *testing.T, srv *redistest.Server) int64 {
	t.Helper()
	info, err := redistest.String(srv.Do("INFO", "commandstats"))
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
		if !ok || !slices.Contains([]string{"evalsha", "eval", "evalsha_ro", "eval_ro", "ping"}, name) {
			continue
		}
		_, rest, _ = strings.Cut(rest, ",usec=")
		n, _, _ := strings.Cut(rest, ",")
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		sum += v
	}
	return sum
}

// TestEngine_QuietCheckIsConstant: a node follows 1,000 topics of a
// partition whose head keeps moving with messages of a topic it does not
// follow (so it receives nothing: each of its checks runs). Each check
// makes a constant number of commands, whatever the topics followed: a
// head read and a probe, no read of the followed topics.
func TestEngine_QuietCheckIsConstant(t *testing.T) {
	srv := redistest.Start(t)
	opts := fredis.Options{Prefix: newPrefix(), CheckInterval: 50 * time.Millisecond}
	e, _ := started(t, &opts, srv.Addr())
	pub := newEngine(t, "pub", &opts, srv.Addr())
	ctx := context.Background()
	var topics []string
	for i := range 1000 {
		topics = append(topics, "t"+strconv.Itoa(i))
	}
	if err := e.Subscribe(ctx, topics); err != nil {
		t.Fatal(err)
	}
	defer e.Unsubscribe(topics)
	warm := e.Stats().Checks // a first check loads the scripts
	eventually(t, func() bool { return e.Stats().Checks >= warm+2 }, "two checks")
	before, checks := allCommandCalls(t, srv), e.Stats().Checks
	const rounds = 10
	for i := range rounds {
		if err := pub.Publish(ctx, "other", fanout.NewMessage([]byte(strconv.Itoa(i)))); err != nil {
			t.Fatal(err)
		}
		n := e.Stats().Checks
		eventually(t, func() bool { return e.Stats().Checks >= n+2 }, "two more checks")
	}
	after, st := allCommandCalls(t, srv), e.Stats()
	checks = st.Checks - checks
	reads := after["evalsha_ro"] - before["evalsha_ro"] + after["eval_ro"] - before["eval_ro"]
	// The commands the node sends: scripts (the commands they run inside
	// are counted too, by name: left out) and pings, less the other
	// node's publishes.
	var all int64
	for _, name := range []string{"evalsha", "eval", "evalsha_ro", "eval_ro", "ping"} {
		all += after[name] - before[name]
	}
	all -= rounds
	t.Logf("%d checks: %d commands in all (%.1f per check), %d reads", checks, all, float64(all)/float64(checks), reads)
	if reads != 0 {
		t.Errorf("%d checks read the followed topics %d times: want no read", checks, reads)
	}
	// A head read and a probe per check, and what does not depend on
	// the topics: the two nodes' heartbeats (presence), a check in
	// flight at either end. (Reading the 1,000 topics made it 4.)
	if want := 3 * int64(checks); all > want {
		t.Errorf("%d commands for %d checks, want at most %d (about 2 per check: a head read and a probe script)", all, checks, want)
	}
	if st.Stuck != 0 || st.Reconnects != 0 {
		t.Errorf("stats %+v: want no stuck subscription, no reconnect", st)
	}
}

// TestCheck_Cost measures the Redis CPU of a quiet partition's check for
// a node following 3,334 of its topics while another node publishes on a
// topic it does not follow (its head moves, it receives nothing). It runs
// only when FANOUT_REDIS_MEASURE is set; the figures are in the package
// documentation.
func TestCheck_Cost(t *testing.T) {
	if os.Getenv("FANOUT_REDIS_MEASURE") == "" {
		t.Skip("set FANOUT_REDIS_MEASURE=1 to measure")
	}
	srv := redistest.Start(t)
	opts := fredis.Options{Prefix: newPrefix(), CheckInterval: 100 * time.Millisecond}
	e, _ := started(t, &opts, srv.Addr())
	pub := newEngine(t, "pub", &opts, srv.Addr())
	ctx := context.Background()
	var topics []string
	for i := range 3334 {
		topics = append(topics, "topic"+strconv.Itoa(i))
	}
	if err := e.Subscribe(ctx, topics); err != nil {
		t.Fatal(err)
	}
	defer e.Unsubscribe(topics)
	publish := func(i int) {
		if err := pub.Publish(ctx, "other", fanout.NewMessage([]byte(strconv.Itoa(i)))); err != nil {
			t.Fatal(err)
		}
	}
	const rounds = 20
	publish(0) // the script loaded
	usec := commandUsec(t, srv)
	for i := range rounds {
		publish(i)
	}
	perPublish := (commandUsec(t, srv) - usec) / rounds
	cpu, usec, checks := redisCPU(t, srv), commandUsec(t, srv), e.Stats().Checks
	for i := range rounds {
		publish(i)
		n := e.Stats().Checks
		eventually(t, func() bool { return e.Stats().Checks >= n+2 }, "two more checks")
	}
	used := commandUsec(t, srv) - usec - rounds*perPublish
	cpu = redisCPU(t, srv) - cpu
	checks = e.Stats().Checks - checks
	t.Logf("%d checks of a partition whose head moved before every other one, 3,334 topics followed: %d µs in commands (commandstats), %.1f µs per check (%d µs per publish left out); Redis CPU in all %v",
		checks, used, float64(used)/float64(checks), perPublish, cpu)
}

// TestEngine_AuditOwesAddedTopicNothingBefore: a topic subscribed while
// its partition is followed is owed nothing stored before: the audit
// (every check here) neither delivers its older message nor takes the
// subscription for stuck.
func TestEngine_AuditOwesAddedTopicNothingBefore(t *testing.T) {
	srv := redistest.Start(t)
	opts := fredis.Options{Prefix: newPrefix(), CheckInterval: 50 * time.Millisecond}
	e, rec := started(t, &opts, srv.Addr())
	fredis.SetAuditEvery(e, 1)
	pub := newEngine(t, "pub", &opts, srv.Addr())
	ctx := context.Background()
	publish := func(topic, data string) {
		t.Helper()
		if err := pub.Publish(ctx, topic, fanout.NewMessage([]byte(data))); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Subscribe(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	defer e.Unsubscribe([]string{"a"})
	publish("a", "1")
	rec.Wait(t, 1, waitTimeout)
	publish("b", "before") // b not yet followed here
	if err := e.Subscribe(ctx, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	defer e.Unsubscribe([]string{"b"})
	n := e.Stats().Checks
	eventually(t, func() bool { return e.Stats().Checks >= n+4 }, "four checks")
	publish("b", "2")
	if got := data(rec.Wait(t, 2, waitTimeout)); strings.Join(got, " ") != "1 2" {
		t.Fatalf("delivered %v, want [1 2]: b's message before its Subscribe is not owed", got)
	}
	if st := e.Stats(); st.Stuck != 0 || st.Recovered != 0 || st.Reconnects != 0 {
		t.Errorf("stats %+v: want nothing stuck, nothing recovered", st)
	}
}

// TestEngine_SubscribeDuringProbe: topics subscribed while a check waits
// for its probe (slow here: every byte to and from Redis is delayed)
// are subscribed at once: the wait does not swallow the follower's
// signal that they came.
func TestEngine_SubscribeDuringProbe(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.StartProxy(t, srv.Addr())
	opts := fredis.Options{Prefix: newPrefix(), CheckInterval: 20 * time.Millisecond, PingTimeout: time.Second}
	e, _ := started(t, &opts, proxy.Addr())
	ctx := context.Background()
	if err := e.Subscribe(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	defer e.Unsubscribe([]string{"a"})
	proxy.SetDelay(20 * time.Millisecond)
	n := e.Stats().Checks
	eventually(t, func() bool { return e.Stats().Checks >= n+2 }, "checks")
	for i := range 10 {
		topic := "n" + strconv.Itoa(i)
		start := time.Now()
		if err := e.Subscribe(ctx, []string{topic}); err != nil {
			t.Fatalf("Subscribe %s after %v: %v", topic, time.Since(start), err)
		}
		defer e.Unsubscribe([]string{topic})
	}
	if st := e.Stats(); st.Stuck != 0 || st.Reconnects != 0 {
		t.Errorf("stats %+v: want nothing stuck", st)
	}
}
