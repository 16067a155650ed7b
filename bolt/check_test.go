package bolt

import (
	"context"
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
