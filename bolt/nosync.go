package bolt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Under NoSync, what an Append wrote lives in the operating system's page
// cache until the kernel writes it back: it survives the process, not the
// machine. If the machine crashes, the file may have lost recent
// transactions, or be torn (bbolt's meta page written, the pages it
// points to not), and a store that went on from an older head would give
// old IDs to new messages: clients would resume silently wrong.
//
// So a NoSync session marks the file with a file beside it, PATH.nosync,
// holding the ID of the machine's boot (written and synced before the
// session's first write; removed by Close once everything is synced). An
// Open that finds a mark of another boot, or cannot tell the boot,
// deletes the store's file without reading it, and starts a new one: a new
// epoch, so every client resyncs. A mark of this boot means the process
// died but the page cache holds all it wrote: the history is whole.

func markPath(path string) string { return path + ".nosync" }

// dropUnsynced deletes the store file at path when a NoSync session ended
// without Close before the machine restarted (see above). It fails if a
// process has the file open.
func dropUnsynced(path string, lockTimeout time.Duration) error {
	mark, err := os.ReadFile(markPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if boot := bootID(); boot != "" && string(mark) == boot {
		return nil
	}
	// A read-only open takes the lock and reads only the meta pages
	// (checksummed): it tells whether a process has the file open.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return locked(lockTimeout)
	}
	if err == nil {
		_ = db.Close()
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Remove(markPath(path))
}

// writeMark marks the file at path as open by a NoSync session, durably.
func writeMark(path string) error {
	f, err := os.Create(markPath(path))
	if err != nil {
		return err
	}
	_, err = f.WriteString(bootID())
	if err == nil {
		err = f.Sync()
	}
	if err := errors.Join(err, f.Close()); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// clearMark removes the mark of a NoSync session, once every write of it
// is synced: db.Sync is an fdatasync of the whole file.
func clearMark(db *bbolt.DB, path string) error {
	if _, err := os.Stat(markPath(path)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := db.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return os.Remove(markPath(path))
}

// syncDir makes a file created in dir durable (where that is possible).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" { // Windows cannot sync a directory
		return err
	}
	return nil
}
