package bolt_test

import (
	"path/filepath"
	"testing"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/bolt"
	"github.com/fanout-go/fanout/enginetest"
)

// The store passes the engine conformance suite under each durability
// setting, with a count bound the suite checks.
func TestStore_Conformance(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]bolt.Options{
		"batched": {MaxCount: 64},
		"each":    {MaxCount: 64, MaxBatch: 1},
		"nosync":  {MaxCount: 64, NoSync: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			enginetest.RunStore(t, func(t *testing.T) fanout.ReplayStore {
				return openStore(t, filepath.Join(t.TempDir(), "fanout.db"), &opts)
			}, 64)
		})
	}
}

// openStore opens a Store at path, closed when t ends.
func openStore(t testing.TB, path string, opts *bolt.Options) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}
