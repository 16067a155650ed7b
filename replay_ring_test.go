package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fanout-go/fanout"
)

// rsAppend appends one text message per topic to r and returns the stored
// copies, in order. Each payload is "<topic>:<i>" (topic "" is written "*").
func rsAppend(t testing.TB, r *fanout.Ring, topics ...string) []*fanout.Message {
	t.Helper()
	out := make([]*fanout.Message, 0, len(topics))
	for i, topic := range topics {
		label := topic
		if label == "" {
			label = "*"
		}
		m := fanout.NewMessage([]byte(label + ":" + strconv.Itoa(i)))
		sm, err := r.Append(context.Background(), topic, m)
		require.NoError(t, err)
		require.Empty(t, m.ID(), "Append must not modify the message it is given")
		out = append(out, sm)
	}
	return out
}

// rsIDs returns the IDs of ms.
func rsIDs(ms []*fanout.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID()
	}
	return out
}

// rsEpoch returns the prefix of a Ring's ID ("<epoch>-"), so tests can
// forge IDs that look like the Ring's own.
func rsEpoch(t testing.TB, id string) string {
	t.Helper()
	i := strings.LastIndexByte(id, '-')
	require.Positive(t, i, "ID %q has no epoch prefix", id)
	return id[:i+1]
}

func TestRing_IDsOrderedAcrossTopics(t *testing.T) {
	t.Parallel()
	r := fanout.NewRing(nil)
	all := rsAppend(t, r, "a", "b", "", "a", "c", "b", "")
	ids := rsIDs(all)
	seen := map[string]bool{}
	for i, m := range all {
		require.NotEmpty(t, m.ID(), "message %d has no ID", i)
		require.False(t, seen[m.ID()], "ID %q assigned twice", m.ID())
		seen[m.ID()] = true
		assert.Equal(t, fanout.Text, m.Type())
	}
	// Since over every topic, from each ID, returns exactly the later
	// messages, in append order, whatever their topic: the IDs are one
	// order across topics.
	for i, id := range ids {
		got, err := ringSince(context.Background(), r, id, []string{"a", "b", "c"})
		require.NoError(t, err, "Since(%q)", id)
		assert.Equal(t, ids[i+1:], rsIDs(got), "Since(ID %d)", i)
		for j, m := range got {
			assert.Same(t, all[i+1+j], m, "Since returns the stored message Append returned")
		}
	}
	assert.Equal(t, len(all), r.Len())
}

func TestRing_Since(t *testing.T) {
	t.Parallel()
	r := fanout.NewRing(&fanout.RingOptions{Size: 64})
	all := rsAppend(t, r, "a", "b", "", "a", "c", "b", "", "c", "a")
	data := func(ms []*fanout.Message) []string {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = string(m.Data())
		}
		return out
	}
	cases := []struct {
		name   string
		from   int // index of the last message the client received
		topics []string
		want   []string
	}{
		{"one topic", 0, []string{"a"}, []string{"*:2", "a:3", "*:6", "a:8"}},
		{"two topics", 1, []string{"b", "c"}, []string{"*:2", "c:4", "b:5", "*:6", "c:7"}},
		{"from a foreign topic", 4, []string{"a"}, []string{"*:6", "a:8"}},
		{"broadcasts only", 0, nil, []string{"*:2", "*:6"}},
		{"unknown topic", 2, []string{"zzz"}, []string{"*:6"}},
		{"every topic", 6, []string{"a", "b", "c"}, []string{"c:7", "a:8"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ringSince(context.Background(), r, all[tc.from].ID(), tc.topics)
			require.NoError(t, err)
			assert.Equal(t, tc.want, data(got))
			for _, m := range got {
				assert.NotEmpty(t, m.ID(), "a replayed message carries its ID")
			}
		})
	}
}

func TestRing_SinceNewestIsEmpty(t *testing.T) {
	t.Parallel()
	r := fanout.NewRing(&fanout.RingOptions{Size: 2})
	all := rsAppend(t, r, "a", "b", "a", "b", "")
	got, err := ringSince(context.Background(), r, all[len(all)-1].ID(), []string{"a", "b"})
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestRing_UnknownIDs(t *testing.T) {
	t.Parallel()
	r := fanout.NewRing(nil)
	all := rsAppend(t, r, "a", "a", "a")
	epoch := rsEpoch(t, all[0].ID())
	other := rsAppend(t, fanout.NewRing(nil), "a", "a", "a", "a")
	cases := map[string]string{
		"empty":            "",
		"garbage":          "not-an-id",
		"another Ring's":   other[1].ID(),
		"epoch only":       epoch,
		"not yet assigned": epoch + "4",
		"far future":       epoch + "18446744073709551615",
		"overflow":         epoch + "18446744073709551616",
		"negative":         epoch + "-1",
		"not a number":     epoch + "x",
		"leading zero":     epoch + "01", // names message 1, but the Ring never assigned it
		"plus sign":        epoch + "+1",
		"trailing junk":    all[0].ID() + "x",
		"trailing space":   all[0].ID() + " ",
		"leading space":    " " + all[0].ID(),
		"newline":          all[0].ID() + "\n",
		"no epoch":         strings.TrimPrefix(all[0].ID(), epoch),
		"doubled":          all[0].ID() + all[0].ID(),
		"long":             epoch + strings.Repeat("9", 600),
	}
	for name, id := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ringSince(context.Background(), r, id, []string{"a"})
			require.ErrorIs(t, err, fanout.ErrUnknownID, "Since(%q) = %d messages", id, len(got))
			assert.Nil(t, got)
		})
	}
	// The Ring's own IDs still work, and offset 0 is the position before
	// the first message (a new subscriber's, on an empty Ring).
	got, err := ringSince(context.Background(), r, all[0].ID(), []string{"a"})
	require.NoError(t, err)
	assert.Equal(t, rsIDs(all[1:]), rsIDs(got))
	got, err = ringSince(context.Background(), r, epoch+"0", []string{"a"})
	require.NoError(t, err)
	assert.Equal(t, rsIDs(all), rsIDs(got))
}

func TestRing_Eviction(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts *fanout.RingOptions
		size int
	}{
		{"size 4", &fanout.RingOptions{Size: 4}, 4},
		{"size 1", &fanout.RingOptions{Size: 1}, 1},
		{"default 1024", nil, 1024},
		{"negative size means default", &fanout.RingOptions{Size: -3}, 1024},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := fanout.NewRing(tc.opts)
			topics := make([]string, tc.size+5)
			for i := range topics {
				topics[i] = []string{"a", "b", ""}[i%3]
			}
			all := rsAppend(t, r, topics...)
			last := len(all) - 1
			assert.Equal(t, tc.size, r.Len(), "Len counts what the ring keeps")

			// Missed exactly Size messages: all of them are still kept.
			from := last - tc.size
			got, err := ringSince(context.Background(), r, all[from].ID(), []string{"a", "b"})
			require.NoError(t, err, "a gap of exactly Size is served")
			assert.Equal(t, rsIDs(all[from+1:]), rsIDs(got))

			// One more, and the first missed message is gone.
			_, err = ringSince(context.Background(), r, all[from-1].ID(), []string{"a", "b"})
			require.ErrorIs(t, err, fanout.ErrUnknownID, "a gap of Size+1 must resync")
			_, err = ringSince(context.Background(), r, all[0].ID(), []string{"a", "b"})
			require.ErrorIs(t, err, fanout.ErrUnknownID)
		})
	}
}

func TestRing_MaxAge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// A generous MaxAge changes nothing.
	r := fanout.NewRing(&fanout.RingOptions{MaxAge: time.Hour})
	all := rsAppend(t, r, "a", "a")
	got, err := ringSince(ctx, r, all[0].ID(), []string{"a"})
	require.NoError(t, err)
	assert.Equal(t, rsIDs(all[1:]), rsIDs(got))

	r = fanout.NewRing(&fanout.RingOptions{MaxAge: time.Millisecond})
	all = rsAppend(t, r, "a", "a")
	eventually(t, func() bool {
		_, err := ringSince(ctx, r, all[0].ID(), []string{"a"})
		return errors.Is(err, fanout.ErrUnknownID)
	}, waitTimeout, "missed messages older than MaxAge expire")
	_, err = ringSince(ctx, r, all[0].ID(), []string{"a"})
	require.ErrorIs(t, err, fanout.ErrUnknownID)

	// A client that missed nothing has nothing expired: it is up to date.
	got, err = ringSince(ctx, r, all[1].ID(), []string{"a"})
	require.NoError(t, err)
	assert.Empty(t, got)

	// A fresh message after an old ID is served while it is young. Each
	// try appends a new one, so a stall of the machine only costs a retry.
	prev := all[1].ID()
	eventually(t, func() bool {
		m := rsAppend(t, r, "a")[0]
		got, err := ringSince(ctx, r, prev, []string{"a"})
		prev = m.ID()
		return err == nil && len(got) == 1 && got[0].ID() == m.ID()
	}, waitTimeout, "a message younger than MaxAge is replayed")
}

// TestRing_Concurrent runs appenders and readers at once (for -race): every
// Since either fails with ErrUnknownID (what it would return has been
// evicted meanwhile) or returns only messages of the topics asked for, each
// appender's in its append order, with no ID twice.
func TestRing_Concurrent(t *testing.T) {
	t.Parallel()
	const (
		appenders = 4
		perWriter = 2000
		readers   = 4
	)
	r := fanout.NewRing(&fanout.RingOptions{Size: 256})
	first := rsAppend(t, r, "")[0]

	var (
		mu    sync.Mutex
		known = []string{first.ID()}
		errs  = make(chan error, readers+appenders)
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	for w := range appenders {
		wg.Go(func() {
			topic := []string{"a", "b", ""}[w%3]
			for i := range perWriter {
				m := fanout.NewMessage(fmt.Appendf(nil, "%d/%s/%d", w, topic, i))
				sm, err := r.Append(context.Background(), topic, m)
				if err != nil {
					errs <- err
					return
				}
				if i%50 == 0 {
					mu.Lock()
					known = append(known, sm.ID())
					mu.Unlock()
				}
			}
		})
	}
	var readersWG sync.WaitGroup
	for rd := range readers {
		readersWG.Go(func() {
			topics := [][]string{{"a"}, {"b"}, {"a", "b"}, nil}[rd%4]
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				id := known[(n*7+rd)%len(known)]
				mu.Unlock()
				got, err := ringSince(context.Background(), r, id, topics)
				if err != nil {
					if !errors.Is(err, fanout.ErrUnknownID) {
						errs <- fmt.Errorf("Since(%q): %w", id, err)
						return
					}
					continue
				}
				if err := rsCheckReplay(got, topics); err != nil {
					errs <- fmt.Errorf("Since(%q): %w", id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readersWG.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Equal(t, 256, r.Len())
	mu.Lock()
	newest := known[len(known)-1]
	mu.Unlock()
	got, err := ringSince(context.Background(), r, newest, []string{"a", "b"})
	require.NoError(t, err)
	require.NoError(t, rsCheckReplay(got, []string{"a", "b"}))
}

// rsCheckReplay checks the messages of a Since made by TestRing_Concurrent
// (payloads "<writer>/<topic>/<i>"): topics as asked, each writer's in order.
func rsCheckReplay(got []*fanout.Message, topics []string) error {
	next := map[string]int{}
	ids := map[string]bool{}
	for _, m := range got {
		if m.ID() == "" || ids[m.ID()] {
			return fmt.Errorf("missing or repeated ID %q", m.ID())
		}
		ids[m.ID()] = true
		parts := strings.Split(string(m.Data()), "/")
		if len(parts) != 3 {
			return fmt.Errorf("payload %q", m.Data())
		}
		if parts[1] != "" && !slices.Contains(topics, parts[1]) {
			return fmt.Errorf("message %q of a topic not asked for (%v)", m.Data(), topics)
		}
		i, _ := strconv.Atoi(parts[2])
		if n, ok := next[parts[0]]; ok && i <= n {
			return fmt.Errorf("writer %s: message %d after %d", parts[0], i, n)
		}
		next[parts[0]] = i
	}
	return nil
}

// TestRing_Allocs pins the Ring's costs: Append allocates only the stored
// message (its ID included), Since only the slice it returns.
func TestRing_Allocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes what allocates")
	}
	ctx := context.Background()
	r := fanout.NewRing(&fanout.RingOptions{Size: 4096})
	m := fanout.NewMessage([]byte("payload"))
	appendAllocs := testing.AllocsPerRun(1000, func() {
		if _, err := r.Append(ctx, "a", m); err != nil {
			panic(err)
		}
	})
	assert.Equal(t, 1.0, appendAllocs, "allocations per Append")

	r = fanout.NewRing(&fanout.RingOptions{Size: 4096})
	from := rsAppend(t, r, "a")[0].ID()
	topics := make([]string, 100)
	for i := range topics {
		topics[i] = []string{"a", "b", ""}[i%3]
	}
	rsAppend(t, r, topics...)
	for _, tc := range []struct {
		name   string
		topics []string
	}{
		{"one topic", []string{"a"}},
		{"every topic", []string{"a", "b"}},
	} {
		var n int
		sinceAllocs := testing.AllocsPerRun(100, func() {
			got, err := ringSince(ctx, r, from, tc.topics)
			if err != nil {
				panic(err)
			}
			n = len(got)
		})
		assert.Positive(t, n)
		assert.LessOrEqual(t, sinceAllocs, 1.0, "%s: allocations per Since returning %d messages", tc.name, n)
	}
	newest := rsAppend(t, r, "a")[0].ID()
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		if _, err := ringSince(ctx, r, newest, []string{"a"}); err != nil {
			panic(err)
		}
	}), "Since with nothing missed allocates nothing")
}
