package bolt

import (
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

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
