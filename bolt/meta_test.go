package bolt

import (
	"errors"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"
)

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
