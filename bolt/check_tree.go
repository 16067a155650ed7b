package bolt

import (
	"bytes"
	"fmt"
)

// page checks the page id of a bucket's tree, and the tree under it, whose
// keys must be in [lo, hi) (hi nil: no bound).
func (c *checker) page(id uint64, lo, hi []byte) error {
	b, err := c.span(id)
	if err != nil {
		return err
	}
	switch flags := ne.Uint16(b[8:]); flags {
	case flagLeaf:
		return c.leaf(b, fmt.Sprintf("page %d", id), lo, hi, false)
	case flagBranch:
	default:
		return damaged("page %d: flags %#x where a branch or leaf page belongs", id, flags)
	}
	n := int(ne.Uint16(b[10:]))
	if n == 0 || pageHeaderSize+n*elementSize > len(b) {
		return damaged("page %d: branch of %d elements", id, n)
	}
	keys := make([][]byte, n+1)
	for i := range n {
		e := b[pageHeaderSize+i*elementSize:]
		if keys[i], err = slice(b, pageHeaderSize+i*elementSize, ne.Uint32(e), int64(ne.Uint32(e[4:]))); err != nil {
			return fmt.Errorf("page %d, key %d: %w", id, i, err)
		}
	}
	keys[n] = hi
	if err := inOrder(keys[:n], lo, hi); err != nil {
		return fmt.Errorf("page %d: %w", id, err)
	}
	for i := range n {
		if err := c.page(ne.Uint64(b[pageHeaderSize+i*elementSize+8:]), keys[i], keys[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// leaf checks the leaf page b (a page of the file, or an inline bucket's,
// which bbolt never writes holding a bucket), and the buckets it holds.
func (c *checker) leaf(b []byte, name string, lo, hi []byte, inline bool) error {
	n := int(ne.Uint16(b[10:]))
	if pageHeaderSize+n*elementSize > len(b) {
		return damaged("%s: leaf of %d elements", name, n)
	}
	keys := make([][]byte, n)
	vals := make([][]byte, n)
	for i := range n {
		at := pageHeaderSize + i*elementSize
		e := b[at:]
		ksize := int64(ne.Uint32(e[8:]))
		kv, err := slice(b, at, ne.Uint32(e[4:]), ksize+int64(ne.Uint32(e[12:])))
		if err != nil {
			return fmt.Errorf("%s, element %d: %w", name, i, err)
		}
		keys[i], vals[i] = kv[:ksize], kv[ksize:]
	}
	if err := inOrder(keys, lo, hi); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for i := range n {
		if ne.Uint32(b[pageHeaderSize+i*elementSize:])&flagBucketLeaf == 0 {
			continue
		}
		v := vals[i]
		switch {
		case inline, len(v) < bucketHeaderSize:
			return damaged("%s: bucket %q", name, keys[i])
		case ne.Uint64(v) != 0:
			if err := c.page(ne.Uint64(v), nil, nil); err != nil {
				return err
			}
		case len(v) < bucketHeaderSize+pageHeaderSize || ne.Uint16(v[bucketHeaderSize+8:]) != flagLeaf:
			return damaged("%s: inline bucket %q", name, keys[i])
		default:
			if err := c.leaf(v[bucketHeaderSize:], fmt.Sprintf("inline bucket %q", keys[i]), nil, nil, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// slice returns the n bytes at pos from the element at b[at:], if they
// are in b.
func slice(b []byte, at int, pos uint32, n int64) ([]byte, error) {
	start := int64(at) + int64(pos)
	end := start + n
	if end > int64(len(b)) {
		return nil, damaged("bytes %d to %d out of a %d-byte page", start, end, len(b))
	}
	return b[start:end], nil
}

// inOrder checks that keys increase, from lo on, and are below hi if not
// nil.
func inOrder(keys [][]byte, lo, hi []byte) error {
	prev := lo
	for i, k := range keys {
		if i == 0 && bytes.Compare(k, prev) < 0 || i > 0 && bytes.Compare(k, prev) <= 0 || hi != nil && bytes.Compare(k, hi) >= 0 {
			return damaged("key %d out of order", i)
		}
		prev = k
	}
	return nil
}
