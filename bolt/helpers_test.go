package bolt

import (
	"context"
	"fmt"
	"testing"

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
