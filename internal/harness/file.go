//go:build linux

package harness

import (
	"io"
	"os"
)

// WriteFile creates (or truncates) the file at path and writes what w
// writes into it: a report's plot or table. The file is closed, also on
// failure; the error is the first of the write and the close.
func WriteFile(path string, w io.WriterTo) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
