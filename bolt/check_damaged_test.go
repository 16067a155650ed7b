package bolt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/bolt"
)

// pageSize is the page size of the stores the tests write: bbolt's
// default, the operating system's.
var pageSize = os.Getpagesize()

// validStore returns the bytes of a closed store file with history:
// msgs Appends of 200 bytes, several pages of a log bucket under a branch
// page. It is built once per size and shared (read only).
var validStore = sync.OnceValues(func() (map[int][]byte, error) {
	files := map[int][]byte{}
	dir, err := os.MkdirTemp("", "fanout-bolt-valid")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	for _, msgs := range []int{3, 300} {
		path := filepath.Join(dir, "store.db")
		s, err := bolt.Open(path, nil)
		if err != nil {
			return nil, err
		}
		for i := range msgs {
			data := bytes.Repeat([]byte{byte('a' + i%26)}, 200)
			if _, err := s.Append(context.Background(), "t", fanout.NewMessage(data)); err != nil {
				return nil, errors.Join(err, s.Close())
			}
		}
		if err := s.Close(); err != nil {
			return nil, err
		}
		if files[msgs], err = os.ReadFile(path); err != nil {
			return nil, err
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	return files, nil
})

func storeBytes(t testing.TB, msgs int) []byte {
	t.Helper()
	files, err := validStore()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(files[msgs])
}

// openWorks opens the file at path and, if Open succeeds, checks that the
// store works (Head, Append, Read, Close): Open must either refuse a file
// or serve it, never panic or hand out a store that cannot work. It
// returns Open's error.
func openWorks(t *testing.T, path string) error {
	t.Helper()
	s, err := bolt.Open(path, &bolt.Options{LockTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	ctx := context.Background()
	h, err := s.Head(ctx)
	if err != nil {
		t.Fatalf("Head of an opened store: %v", err)
	}
	m, err := s.Append(ctx, "t", fanout.NewMessage([]byte("after")))
	if err != nil {
		t.Fatalf("Append to an opened store: %v", err)
	}
	if m.Position() != h.Next() {
		t.Fatalf("appended at %s after head %s", m.ID(), h.ID())
	}
	if got, _, err := s.Read(ctx, h, []string{"t"}); err != nil || len(got) != 1 || string(got[0].Data()) != "after" {
		t.Fatalf("Read after the Append: %d messages, %v", len(got), err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return nil
}

// overwrite returns file with the pages from..to (excluded) replaced by
// fill's bytes.
func overwrite(file []byte, from, to int, fill func([]byte)) []byte {
	to = min(to, len(file)/pageSize)
	fill(file[from*pageSize : to*pageSize])
	return file
}

func zero(b []byte) { clear(b) }

// randomBytes returns n bytes of garbage(seed).
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	garbage(seed)(b)
	return b
}

func garbage(seed uint64) func([]byte) {
	return func(b []byte) {
		r := rand.New(rand.NewPCG(seed, seed))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	}
}

// TestOpen_Damaged: Open refuses every damaged file with an error wrapping
// bolt.ErrDamaged that names the file, rather than panicking (in a
// goroutine bbolt starts, which no caller can recover: a server would
// crash-loop at startup) or serving it.
func TestOpen_Damaged(t *testing.T) {
	t.Parallel()
	valid := storeBytes(t, 300)
	pages, inUse := len(valid)/pageSize, pagesInUse(valid)
	if inUse < 8 || inUse > pages {
		t.Fatalf("the valid store has %d pages, %d in use: not what the cases need", pages, inUse)
	}
	cases := map[string][]byte{
		"not bbolt, text":    bytes.Repeat([]byte("this is not a bbolt file\n"), 2000),
		"not bbolt, garbage": randomBytes(64<<10, 1),
		"one byte":           {0},
		"100 bytes":          valid[:100],
		"one page":           valid[:pageSize],
		"two pages":          valid[:2*pageSize],
		"three pages":        valid[:3*pageSize],
		"half":               valid[:len(valid)/2],
		"last page cut":      valid[:(inUse-1)*pageSize],
		"one byte cut":       valid[:inUse*pageSize-1],
		"meta pages zeroed":  overwrite(bytes.Clone(valid), 0, 2, zero),
		"data pages zeroed":  overwrite(bytes.Clone(valid), 2, pages, zero),
		"data pages garbage": overwrite(bytes.Clone(valid), 2, pages, garbage(2)),
		"all pages garbage":  overwrite(bytes.Clone(valid), 0, pages, garbage(3)),
	}
	for name, file := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "ticker.db")
			if err := os.WriteFile(path, file, 0o600); err != nil {
				t.Fatal(err)
			}
			err := openWorks(t, path)
			if !errors.Is(err, bolt.ErrDamaged) {
				t.Fatalf("Open: %v, want an error wrapping ErrDamaged", err)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "damaged") {
				t.Fatalf("Open's error does not say which file is damaged: %v", err)
			}
		})
	}
}

// pagesInUse returns how many pages of the bbolt file are allocated (the
// rest, bbolt grows the file by ahead of need): the high water mark in
// the first meta page (written in the machine's byte order).
func pagesInUse(file []byte) int {
	return int(binary.NativeEndian.Uint64(file[16+40:]))
}

// A file cut after its pages in use holds its history: bbolt grows files
// ahead of need.
func TestOpen_UnusedPagesCut(t *testing.T) {
	t.Parallel()
	valid := storeBytes(t, 300)
	path := filepath.Join(t.TempDir(), "ticker.db")
	if err := os.WriteFile(path, valid[:pagesInUse(valid)*pageSize], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := openWorks(t, path); err != nil {
		t.Fatalf("Open: %v", err)
	}
	s := openStore(t, path, nil)
	if h := head(t, s); h.Offset != 301 { // and openWorks's Append
		t.Fatalf("reopened at %s, want offset 301", h.ID())
	}
}

// TestOpen_DamagedPage: zeroing or overwriting any one page of a store
// with garbage gets a working store (a page that was free) or ErrDamaged,
// never a panic; and the file of a store with history does not open if
// every data page is damaged.
func TestOpen_DamagedPage(t *testing.T) {
	t.Parallel()
	valid := storeBytes(t, 300)
	for page := range len(valid) / pageSize {
		for _, fill := range []struct {
			name string
			fn   func([]byte)
		}{{"zeroed", zero}, {"garbage", garbage(uint64(page))}} {
			path := filepath.Join(t.TempDir(), "ticker.db")
			if err := os.WriteFile(path, overwrite(bytes.Clone(valid), page, page+1, fill.fn), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := openWorks(t, path); err != nil && !errors.Is(err, bolt.ErrDamaged) {
				t.Fatalf("page %d %s: Open: %v, want nil or ErrDamaged", page, fill.name, err)
			}
		}
	}
}

// An empty file is a new store: bbolt creates a file and then writes its
// first pages, so a process that died in between left an empty file that
// holds no history.
func TestOpen_EmptyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ticker.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := openWorks(t, path); err != nil {
		t.Fatalf("Open of an empty file: %v", err)
	}
}

// FuzzOpen mutates a small valid store file (bytes written over it at an
// offset, or the file cut short) and checks that Open either serves it or
// fails: it never panics, whatever the file holds. The seeds run as a
// unit test.
func FuzzOpen(f *testing.F) {
	f.Add(uint32(0), []byte{}, uint32(0))                                        // intact
	f.Add(uint32(0), []byte{}, uint32(1))                                        // cut to one byte
	f.Add(uint32(0), []byte{}, uint32(3*4096+17))                                // cut within the pages
	f.Add(uint32(16), []byte{0xff, 0xff, 0xff, 0xff}, uint32(0))                 // meta 0's magic
	f.Add(uint32(2*4096), bytes.Repeat([]byte{0}, 4096), uint32(0))              // page 2 zeroed
	f.Add(uint32(3*4096), []byte{9, 0, 0, 0, 0, 0, 0, 0, 2, 0, 5, 0}, uint32(0)) // a page that says it is another
	f.Add(uint32(3*4096+16), []byte{0xff, 0xff, 0, 0, 0xff, 0xff}, uint32(0))    // an element out of the page
	f.Add(uint32(4*4096+32), []byte("0"), uint32(0))                             // bucket "meta" made a key: bbolt's ErrIncompatibleValue
	for page := range uint32(5) {                                                // a key and value whose sizes add up to 0 in 32 bits
		f.Add(page*4096+16+8, []byte{0, 0, 0, 0x80, 0, 0, 0, 0x80}, uint32(0))
	}
	f.Fuzz(func(t *testing.T, off uint32, patch []byte, size uint32) {
		file := storeBytes(t, 3)
		if len(patch) > 0 {
			at := int(off) % len(file)
			copy(file[at:], patch)
		}
		if size > 0 {
			file = file[:int(size)%len(file)]
		}
		path := filepath.Join(t.TempDir(), "ticker.db")
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := openWorks(t, path); err != nil && !errors.Is(err, bolt.ErrDamaged) {
			t.Fatalf("Open: %v, want nil or ErrDamaged", err)
		}
	})
}

// A second process opening a store file that a process has open fails
// after LockTimeout with an error that says the file is locked by another
// process (and wraps ErrLocked).
func TestOpen_LockedByAnotherProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ticker.db")
	c := startChild(t, path, "batched") // listening: it has the file open
	s, err := bolt.Open(path, &bolt.Options{LockTimeout: 50 * time.Millisecond})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open of a file another process has open succeeded")
	}
	if !errors.Is(err, bolt.ErrLocked) || !strings.Contains(err.Error(), "locked by another process") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a file another process has open: %v, want ErrLocked, saying so", err)
	}
	c.shutdown(t)
	if err := openWorks(t, path); err != nil {
		t.Fatalf("Open once the other process exited: %v", err)
	}
}
