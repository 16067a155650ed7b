package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	bbolt "go.etcd.io/bbolt"
)

// edit opens the closed store file at path with bbolt itself and runs fn
// in a write transaction on its meta bucket.
func edit(t *testing.T, path string, fn func(meta *bbolt.Bucket) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bbolt.Tx) error { return fn(tx.Bucket(bucketMeta)) }); err != nil {
		t.Fatal(err)
	}
}

func mustOpen(t *testing.T, path string, opts *Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustClose(t *testing.T, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func publishN(t *testing.T, s *Store, n int) fanout.Position {
	t.Helper()
	var last *fanout.Message
	for i := range n {
		m, err := s.Append(context.Background(), "a", fanout.NewMessage(fmt.Append(nil, i)))
		if err != nil {
			t.Fatal(err)
		}
		last = m
	}
	return last.Position()
}

// A NoSync session marks the file until Close. Found marked at Open, the
// file keeps its history if the machine has not restarted since (the
// page cache held every write), and is started anew, in a new epoch, if
// it has.
func TestNoSync_UncleanEnd(t *testing.T) {
	t.Parallel()
	if bootID() == "" {
		t.Skip("no boot ID here: every unclean NoSync end starts a new epoch")
	}
	for name, tc := range map[string]struct {
		mark   string
		noSync bool // of the second session
		kept   bool
	}{
		"same boot":                {bootID(), false, true},
		"same boot, nosync again":  {bootID(), true, true},
		"another boot":             {"another-boot", false, false},
		"another boot, nosync too": {"another-boot", true, false},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "fanout.db")
			s := mustOpen(t, path, &Options{NoSync: true})
			if _, err := os.Stat(markPath(path)); err != nil {
				t.Fatalf("no mark while a NoSync session is open: %v", err)
			}
			last := publishN(t, s, 5)
			mustClose(t, s)
			if _, err := os.Stat(markPath(path)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Close left the mark: %v", err)
			}
			// As if the session had not closed.
			if err := os.WriteFile(markPath(path), []byte(tc.mark), 0o600); err != nil {
				t.Fatal(err)
			}
			s = mustOpen(t, path, &Options{NoSync: tc.noSync})
			head, _ := s.Head(context.Background())
			if kept := head == last; kept != tc.kept {
				t.Fatalf("reopened at %s after %s; want the history kept: %v", head.ID(), last.ID(), tc.kept)
			}
			if !tc.kept && head.Epoch == last.Epoch {
				t.Fatalf("history dropped but epoch %s kept", head.Epoch)
			}
			mustClose(t, s)
			if _, err := os.Stat(markPath(path)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the mark outlived a clean session: %v", err)
			}
		})
	}
}

// A stale-looking mark on a file another Store has open does not get the
// file deleted: Open fails on the lock.
func TestNoSync_MarkOfOpenFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fanout.db")
	s := mustOpen(t, path, &Options{NoSync: true})
	defer mustClose(t, s)
	last := publishN(t, s, 3)
	if err := os.WriteFile(markPath(path), []byte("another-boot"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(path, &Options{LockTimeout: 20 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		if err == nil {
			_ = s2.Close()
		}
		t.Fatalf("a second Open of an open file: %v, want ErrLocked", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the open store's file: %v", err)
	}
	if next := publishN(t, s, 1); next != last.Next() {
		t.Fatalf("the open store went on at %s after %s", next.ID(), last.ID())
	}
}

// Trimming deletes records in bulk once the log holds a quarter more than
// MaxCount, never fewer than MaxCount, and always keeps the newest.
func TestTrim_Bounds(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fanout.db")
	s := mustOpen(t, path, &Options{MaxCount: 8})
	for range 40 {
		publishN(t, s, 1)
		n := countLogged(t, s)
		if n < min(8, int(s.head.Load())) || n > 8+8/4 {
			t.Fatalf("at head %d the log holds %d messages; MaxCount is 8", s.head.Load(), n)
		}
	}
	mustClose(t, s)

	later := func() time.Time { return time.Now().Add(time.Hour) }
	s, err := open(path, &Options{MaxAge: time.Minute}, later)
	if err != nil {
		t.Fatal(err)
	}
	defer mustClose(t, s)
	publishN(t, s, 1)
	if n := countLogged(t, s); n != 1 {
		t.Fatalf("after everything expired the log holds %d messages, want the newest", n)
	}
}

func countLogged(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
			r, err := parseRecord(k, v)
			n += int(r.count)
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A file whose head and log disagree, or of an unknown layout, is refused
// at Open rather than served.
func TestOpen_Corrupt(t *testing.T) {
	t.Parallel()
	for name, damage := range map[string]func(meta *bbolt.Bucket) error{
		"head":    func(meta *bbolt.Bucket) error { return meta.Put(keyHead, offsetKey(999)) },
		"version": func(meta *bbolt.Bucket) error { return meta.Put(keyVersion, []byte{9}) },
		"epoch":   func(meta *bbolt.Bucket) error { return meta.Put(keyEpoch, []byte("no-dash-allowed")) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "fanout.db")
			s := mustOpen(t, path, nil)
			publishN(t, s, 3)
			mustClose(t, s)
			edit(t, path, damage)
			if s, err := Open(path, nil); !errors.Is(err, ErrDamaged) {
				if err == nil {
					_ = s.Close()
				}
				t.Fatalf("Open of a damaged file: %v, want ErrDamaged", err)
			}
		})
	}
}

// FuzzRecord: a record round-trips, and parsing any bytes as one fails
// cleanly rather than panicking or reading out of bounds.
func FuzzRecord(f *testing.F) {
	f.Add([]byte("a"), []byte("ev"), []byte("data"), true, []byte{})
	f.Add([]byte(""), []byte(""), []byte{0, 1, 2}, false, []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1})
	f.Fuzz(func(t *testing.T, topic, event, data []byte, binary bool, junk []byte) {
		m := fanout.NewMessage(data)
		if binary {
			m = fanout.NewBinaryMessage(data)
		}
		m = m.WithEvent(string(event))
		reqs := []request{{topic: string(topic), m: m}, {cancelled: true}, {topic: "x", m: fanout.NewMessage(nil)}}
		buf := appendRecord(nil, time.Unix(0, 42), reqs)
		r, err := parseRecord(offsetKey(7), buf)
		if err != nil || r.at != 42 || r.count != 2 {
			t.Fatalf("parseRecord of a record: %+v, %v", r, err)
		}
		var got []entry
		if err := r.each(func(e *entry) bool { got = append(got, *e); return true }); err != nil || len(got) != 2 {
			t.Fatalf("each: %d entries, %v", len(got), err)
		}
		e := got[0]
		if e.offset != 7 || !bytes.Equal(e.topic, topic) || !bytes.Equal(e.event, event) || !bytes.Equal(e.data, data) || e.binary != binary {
			t.Fatalf("round trip: %+v", e)
		}
		if got[1].offset != 8 || string(got[1].topic) != "x" {
			t.Fatalf("second entry: %+v", got[1])
		}

		if r, err := parseRecord(offsetKey(1), junk); err == nil {
			_ = r.each(func(*entry) bool { return true })
		}
	})
}
