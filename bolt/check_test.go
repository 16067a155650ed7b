package bolt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	bbolt "go.etcd.io/bbolt"
)

// BenchmarkOpen measures what checking the file (check.go) adds to Open,
// on a full store of the default MaxCount (100000 messages of 64 bytes,
// appended by 256 publishers: records of several messages): "check" is
// checkFile alone, "bbolt" bbolt's own writable open (which walks every
// page too), "Open" all of Open.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "fanout.db")
	s, err := Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	m := fanout.NewMessage(make([]byte, 64))
	for range 256 {
		wg.Go(func() {
			for range 100_000 / 256 {
				if _, err := s.Append(context.Background(), "bench", m); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if info, err := os.Stat(path); err == nil {
		b.Logf("%d messages: a file of %d pages", 100_000/256*256, info.Size()/int64(os.Getpagesize()))
	}
	b.Run("check", func(b *testing.B) {
		for b.Loop() {
			if err := checkFile(path, time.Second); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bbolt", func(b *testing.B) {
		for b.Loop() {
			db, err := bbolt.Open(path, 0o600, &bbolt.Options{NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
			if err != nil {
				b.Fatal(err)
			}
			_ = db.Close()
		}
	})
	b.Run("Open", func(b *testing.B) {
		for b.Loop() {
			s, err := Open(path, nil)
			if err != nil {
				b.Fatal(err)
			}
			_ = s.Close()
		}
	})
}

// A file written by a bbolt that syncs its free list (as edit's does) is
// read with it: a free list page overwritten, or listing a page in use,
// fails Open with ErrDamaged (bbolt would panic reading the first, and
// hand the second out for a new page while in use).
func TestOpen_DamagedFreelist(t *testing.T) {
	t.Parallel()
	for name, damage := range map[string]func(page []byte, root uint64){
		"garbage":    func(page []byte, _ uint64) { copy(page[8:], "garbage!") },
		"root freed": func(page []byte, root uint64) { ne.PutUint16(page[10:], 1); ne.PutUint64(page[16:], root) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "fanout.db")
			s := mustOpen(t, path, nil)
			publishN(t, s, 3)
			mustClose(t, s)
			edit(t, path, func(meta *bbolt.Bucket) error { return meta.Put([]byte("x"), nil) })
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ps := os.Getpagesize()
			m := parseMeta(file)
			if other := parseMeta(file[ps:]); other.txid > m.txid {
				m = other
			}
			if m.freelist == noFreelist {
				t.Fatal("edit's bbolt wrote no free list")
			}
			damage(file[int(m.freelist)*ps:], m.root)
			if err := os.WriteFile(path, file, 0o600); err != nil {
				t.Fatal(err)
			}
			if s, err := Open(path, nil); !errors.Is(err, ErrDamaged) {
				if err == nil {
					_ = s.Close()
				}
				t.Fatalf("Open: %v, want ErrDamaged", err)
			}
		})
	}
}
