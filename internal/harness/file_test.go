//go:build linux

package harness

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type failingWriterTo struct{}

func (failingWriterTo) WriteTo(w io.Writer) (int64, error) {
	n, _ := io.WriteString(w, "half")
	return int64(n), errors.New("disk full")
}

// TestWriteFile: the file holds what was written, replacing what was
// there; a failing write's error is returned; a path that cannot be
// created fails.
func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plot.png")
	if err := os.WriteFile(path, []byte("older and longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, strings.NewReader("new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Fatalf("the file holds %q", b)
	}
	if err := WriteFile(path, failingWriterTo{}); err == nil || err.Error() != "disk full" {
		t.Fatalf("a failing write: %v", err)
	}
	if err := WriteFile(filepath.Join(path, "under-a-file"), strings.NewReader("x")); err == nil {
		t.Fatal("creating a file under a file succeeded")
	}
}
