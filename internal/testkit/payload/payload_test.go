package payload

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"testing"
)

// TestJSON: the payload is valid JSON of exactly n bytes, the same for one
// seed and different for another, and deflate shrinks it to less than
// 40% from 1 KiB up, as the compression tests assume; Random's it cannot.
func TestJSON(t *testing.T) {
	for _, n := range []int{16, 100, 1 << 10, 16 << 10} {
		b := JSON(n, 1)
		if len(b) != n {
			t.Fatalf("JSON(%d): %d bytes", n, len(b))
		}
		if !json.Valid(b) {
			t.Fatalf("JSON(%d) is not valid JSON: %q", n, b)
		}
		if !bytes.Equal(b, JSON(n, 1)) {
			t.Fatalf("JSON(%d, 1) differs between calls", n)
		}
		if n >= 1<<10 && bytes.Equal(b, JSON(n, 2)) {
			t.Fatalf("JSON(%d) is the same for seeds 1 and 2", n)
		}
		if n >= 1<<10 {
			if c := deflated(t, b); c*5 >= n*2 {
				t.Fatalf("JSON(%d) deflates to %d bytes, 40%% or more", n, c)
			}
		}
	}
	r := Random(16<<10, 1)
	if len(r) != 16<<10 || bytes.Equal(r, Random(16<<10, 2)) {
		t.Fatalf("Random: %d bytes, or the same for two seeds", len(r))
	}
	if c := deflated(t, r); c < len(r) {
		t.Fatalf("Random(%d) deflates to %d bytes", len(r), c)
	}
}

func deflated(t *testing.T, b []byte) int {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}
