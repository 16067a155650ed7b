package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Why Open reads the file's pages itself before bbolt opens it:
//
// bbolt (v1.5) checks only the meta pages' checksums at open. With
// NoFreelistSync, a writable open then rebuilds the free list by walking
// every page of the tree, in a goroutine of its own (DB.freepages, from
// loadFreelist): a page that is not what its parent says (zeroed, garbage,
// another page's) fails an assertion there (Page.FastCheck, "assertion
// failed: Page expected to be: …"), a page beyond the end of a file cut
// short faults on the memory map (SIGBUS: a fatal error, not even a
// panic), and any inconsistency the walk reports is turned into a panic
// while the walking goroutine is left blocked. None of this reaches the
// caller as an error, and no recover can stop it: a server would
// crash-loop at startup. Nor can bbolt's own Tx.Check help, as it
// rebuilds the free list the same way before checking, and any cursor
// over a damaged page can fault.
//
// So checkFile reads the file with ReadAt (which cannot fault) and checks
// what bbolt will rely on: a valid meta page chosen as bbolt chooses it,
// a file as long as the pages it claims, and a tree whose every page is
// within the file, is the page its parent names, of the right type,
// referenced once, with its elements inside it and its keys in order
// (what bbolt's walk and cursors assume), inline buckets included, and
// the free list when the file has one. It holds bbolt's shared lock
// meanwhile (a read-only open, which reads only the meta pages), so that
// no process writes the file while it is read, and a file another
// process has open is reported as locked rather than damaged. It reads
// a page at a time (the pages of a tree are scattered over the file): on
// a full store of the default MaxCount (100000 messages, 2048 pages) it
// took 6 to 9 ms where bbolt's own open took 1 to 2 ms (BenchmarkOpen, 2
// shared vCPUs), once per process start.

// bbolt's file format (go.etcd.io/bbolt/internal/common), written in the
// machine's byte order.
const (
	pageHeaderSize   = 16 // id uint64, flags uint16, count uint16, overflow uint32
	elementSize      = 16 // branch: pos, ksize uint32, pgid uint64; leaf: flags, pos, ksize, vsize uint32
	bucketHeaderSize = 16 // root pgid uint64, sequence uint64; an inline page follows if root is 0
	metaEnd          = pageHeaderSize + 64
	flagBranch       = 0x01
	flagLeaf         = 0x02
	flagFreelist     = 0x10
	flagBucketLeaf   = 0x01
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	noFreelist       = ^uint64(0)
)

var ne = binary.NativeEndian

func damaged(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrDamaged}, args...)...)
}

// checkFile returns an error wrapping ErrDamaged if the file at path is
// not a whole bbolt file (see above), or ErrLocked if another process has
// it open. A missing or empty file is a new store (bbolt creates the file,
// then writes its first pages).
func checkFile(path string, lockTimeout time.Duration) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || info.Size() == 0 {
		return err
	}
	db, openErr := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if errors.Is(openErr, berrors.ErrTimeout) {
		return locked(lockTimeout)
	}
	if openErr == nil {
		defer db.Close()
	}
	info, err := f.Stat() // now that no writer has the file
	if err != nil {
		return err
	}
	c := &checker{r: f, size: info.Size()}
	if err := c.check(); err != nil {
		return err
	}
	return openErr // refused for a reason other than its pages, if any
}

func locked(timeout time.Duration) error {
	return fmt.Errorf("%w (waited %s)", ErrLocked, timeout)
}

type checker struct {
	r        io.ReaderAt
	size     int64
	pageSize int64
	hwm      uint64 // pages below are allocated
	seen     []bool // pages of the tree and free list
}

type meta struct {
	valid                     bool
	pageSize                  uint32
	root, freelist, hwm, txid uint64
}

// parseMeta reads the meta of the page that b starts (at least metaEnd
// bytes), and whether bbolt finds it valid (Meta.Validate).
func parseMeta(b []byte) meta {
	h := fnv.New64a()
	h.Write(b[pageHeaderSize : metaEnd-8])
	return meta{
		valid:    ne.Uint32(b[16:]) == boltMagic && ne.Uint32(b[20:]) == boltVersion && ne.Uint64(b[72:]) == h.Sum64(),
		pageSize: ne.Uint32(b[24:]),
		root:     ne.Uint64(b[32:]),
		freelist: ne.Uint64(b[48:]),
		hwm:      ne.Uint64(b[56:]),
		txid:     ne.Uint64(b[64:]),
	}
}

func (c *checker) check() error {
	if err := c.findPageSize(); err != nil {
		return err
	}
	if c.size < 2*c.pageSize {
		return damaged("%d bytes, shorter than two pages", c.size)
	}
	var m [2]meta
	for i := range m {
		b, err := c.read(int64(i)*c.pageSize, metaEnd)
		if err != nil {
			return err
		}
		m[i] = parseMeta(b)
	}
	// bbolt uses the meta of the highest transaction that is valid (DB.meta).
	if m[1].txid > m[0].txid {
		m[0], m[1] = m[1], m[0]
	}
	cur := m[0]
	if !cur.valid {
		cur = m[1]
	}
	switch {
	case !cur.valid:
		return damaged("no valid meta page: not a bbolt file, or both meta pages overwritten")
	case int64(cur.pageSize) != c.pageSize:
		return damaged("meta page of %d-byte pages at a %d-byte page", cur.pageSize, c.pageSize)
	case cur.hwm > uint64(c.size/c.pageSize):
		return damaged("%d bytes, cut short of its %d pages", c.size, cur.hwm)
	case cur.root < 2 || cur.root >= cur.hwm:
		return damaged("root page %d out of pages 2 to %d", cur.root, cur.hwm)
	}
	c.hwm = cur.hwm
	c.seen = make([]bool, c.hwm)
	c.seen[0], c.seen[1] = true, true
	var free []uint64
	if cur.freelist != noFreelist {
		var err error
		if free, err = c.freelist(cur.freelist); err != nil {
			return err
		}
	}
	if err := c.page(cur.root, nil, nil); err != nil {
		return err
	}
	for _, id := range free {
		if c.seen[id] {
			return damaged("page %d both in use and free", id)
		}
	}
	return nil
}

// findPageSize finds the page size as bbolt does (DB.getPageSize): from a
// valid meta page at the start, or one at a power of two from 1 KiB (the
// second), or else the default if either can be read.
func (c *checker) findPageSize() error {
	var buf [4096]byte
	n, err := c.r.ReadAt(buf[:], 0)
	readable := err == nil && n == len(buf)
	m := parseMeta(buf[:])
	for i := 0; !(readable && m.valid) && i <= 14; i++ {
		pos := int64(1024) << i
		if pos >= c.size-1024 {
			break
		}
		buf = [4096]byte{}
		n, err := c.r.ReadAt(buf[:], pos)
		if err == nil && n == len(buf) || err == io.EOF && int64(n) == c.size-pos {
			readable = true
			m = parseMeta(buf[:])
		} else {
			m.valid = false
		}
	}
	switch {
	case readable && m.valid:
		c.pageSize = int64(m.pageSize)
		if c.pageSize < 1024 || c.pageSize > 1<<24 {
			return damaged("page size %d", c.pageSize)
		}
	case readable:
		c.pageSize = int64(os.Getpagesize()) // bbolt's default
	default:
		return damaged("no meta page: not a bbolt file, or cut short")
	}
	return nil
}

// read returns n bytes of the file at off; the caller checked that they
// are in it.
func (c *checker) read(off, n int64) ([]byte, error) {
	b := make([]byte, n)
	if _, err := c.r.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("read %d bytes at %d: %w", n, off, err)
	}
	return b, nil
}

// span reads page id and its overflow pages, which must be allocated pages
// not seen before, and marks them seen. It checks what Page.FastCheck
// asserts: the page is the one asked for.
func (c *checker) span(id uint64) ([]byte, error) {
	if id < 2 || id >= c.hwm {
		return nil, damaged("page %d out of pages 2 to %d", id, c.hwm)
	}
	b, err := c.read(int64(id)*c.pageSize, c.pageSize)
	if err != nil {
		return nil, err
	}
	if got := ne.Uint64(b); got != id {
		return nil, damaged("page %d holds page %d", id, got)
	}
	last := id + uint64(ne.Uint32(b[12:]))
	if last >= c.hwm {
		return nil, damaged("page %d overflows to page %d, out of %d pages", id, last, c.hwm)
	}
	for p := id; p <= last; p++ {
		if c.seen[p] {
			return nil, damaged("page %d reached twice", p)
		}
		c.seen[p] = true
	}
	if last == id {
		return b, nil
	}
	return c.read(int64(id)*c.pageSize, int64(last-id+1)*c.pageSize)
}

// freelist checks the free list's page and returns the pages it lists.
func (c *checker) freelist(id uint64) ([]uint64, error) {
	b, err := c.span(id)
	if err != nil {
		return nil, err
	}
	if flags := ne.Uint16(b[8:]); flags != flagFreelist {
		return nil, damaged("page %d: free list page with flags %#x", id, flags)
	}
	data := b[pageHeaderSize:]
	n := uint64(ne.Uint16(b[10:]))
	if n == 0xFFFF { // the count is the first element
		n, data = ne.Uint64(data), data[8:]
	}
	if n > uint64(len(data)/8) {
		return nil, damaged("page %d: %d free pages do not fit", id, n)
	}
	free := make([]uint64, n)
	listed := make(map[uint64]bool, n)
	for i := range free {
		p := ne.Uint64(data[8*i:])
		if p < 2 || p >= c.hwm || listed[p] || c.seen[p] {
			return nil, damaged("page %d: free page %d", id, p)
		}
		listed[p] = true
		free[i] = p
	}
	return free, nil
}
