package bolt

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

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
