package redis_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// v010Publish returns the publish script of v0.1.0 (its ensure, index
// and publish parts, as "git show redis/v0.1.0:redis/internal/script/"
// has them, in internal/script/testdata/v0.1.0): it records the run_id
// alone (field r), and starts an epoch with an HSET of e, h, r and n,
// leaving the hash's other fields.
func v010Publish(t *testing.T) string {
	t.Helper()
	var src string
	for _, f := range []string{"ensure", "index", "publish"} {
		b, err := os.ReadFile(filepath.Join("internal", "script", "testdata", "v0.1.0", f+".lua"))
		if err != nil {
			t.Fatal(err)
		}
		src += string(b)
	}
	return src
}

// identity returns srv's run_id and master_replid, as INFO tells them.
func identity(t *testing.T, srv *redistest.Server) (run, replid string) {
	t.Helper()
	info, err := redistest.String(srv.Do("INFO", "server", "replication"))
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) string {
		_, v, _ := strings.Cut(info, "\n"+name+":")
		v, _, _ = strings.Cut(v, "\r")
		return v
	}
	return field("run_id"), field("master_replid")
}

// TestIdentity_MixedVersions: during a rolling upgrade, a node of v0.1.0
// (its publish script, which records the run_id alone) and one of this
// version (which records the master_replid with it, field q) publish in
// turn on one partition: neither starts a new epoch over the other's
// messages, whichever started the epoch, also when v0.1.0 left a q of
// another process behind (it starts an epoch without removing q). A q of
// this process and another master_replid (a promotion since it was
// written) does start one.
func TestIdentity_MixedVersions(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	tag := "{" + prefix + ":0}"
	meta := tag + ":meta"
	e := newEngine(t, "new", &fredis.Options{Prefix: prefix}, srv.Addr())
	c := newClient(t, "old", srv.Addr())
	old := rueidis.NewLuaScript(v010Publish(t))
	ctx := context.Background()
	run, replid := identity(t, srv)

	var seen fanout.Position // the head after the last publish, either version's
	publish := func(byOld bool, data string) {
		t.Helper()
		if byOld {
			reply, err := old.Exec(ctx, c, []string{meta, tag + ":log"}, []string{"old", "1", seen.Epoch, strconv.FormatUint(seen.Offset, 10),
				tag + ":live", "0", "10000", "0", "a", "t", data, "60000"}).AsStrSlice()
			if err != nil || len(reply) != 2 {
				t.Fatalf("v0.1.0's publish: %v %v", reply, err)
			}
		} else if err := e.Publish(ctx, "a", fanout.NewMessage([]byte(data))); err != nil {
			t.Fatal(err)
		}
		h := head(t, e, "a")
		if seen.Epoch != "" && (h.Epoch != seen.Epoch || h.Offset != seen.Offset+1) {
			t.Fatalf("after %q (by v0.1.0: %v), the head is %+v; want offset %d of epoch %s: a new epoch", data, byOld, h, seen.Offset+1, seen.Epoch)
		}
		seen = h
	}
	q := func() string {
		t.Helper()
		v, err := redistest.String(srv.Do("HGET", meta, "q"))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	publish(true, "o1") // v0.1.0 starts the epoch: no q
	for i := range 5 {
		publish(false, "n"+strconv.Itoa(i))
		publish(true, "o"+strconv.Itoa(i))
	}
	if got := q(); got != run[:16]+replid {
		t.Errorf("q = %q; want the server's run_id (16 digits) and master_replid %q", got, run[:16]+replid)
	}
	if enc, err := srv.Do("OBJECT", "ENCODING", meta); err != nil || enc != "listpack" {
		t.Errorf("the meta hash is encoded as %v (%v); want a listpack: q must not take more than 64 bytes", enc, err)
	}

	// A q of another process: what v0.1.0 leaves when it starts an epoch
	// after a restart.
	if _, err := srv.Do("HSET", meta, "q", strings.Repeat("0", 56)); err != nil {
		t.Fatal(err)
	}
	publish(false, "n5")
	publish(true, "o5")
	if got := q(); got != run[:16]+replid {
		t.Errorf("q = %q after a stale one; want it set again, %q", got, run[:16]+replid)
	}

	// A q of this process and another master_replid: written before a
	// promotion. The next publish starts a new epoch.
	if _, err := srv.Do("HSET", meta, "q", run[:16]+strings.Repeat("0", 40)); err != nil {
		t.Fatal(err)
	}
	if err := e.Publish(ctx, "a", fanout.NewMessage([]byte("after"))); err != nil {
		t.Fatal(err)
	}
	h := head(t, e, "a")
	if h.Epoch == seen.Epoch || h.Offset != 1 {
		t.Fatalf("after a publish over a history written under another master_replid, the head is %+v; want offset 1 of a new epoch (not %s)", h, seen.Epoch)
	}
	seen = h // this version started the epoch: v0.1.0 goes on in it
	publish(true, "o6")
	publish(false, "n6")
}
