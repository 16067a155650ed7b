package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestIdle measures idle memory with a few connections per peer, in
// every variant: the server and the clients run in child processes (this
// test binary again, see TestMain).
func TestIdle(t *testing.T) {
	peers := []string{"gorilla", "go-sse", "fanout-hub", "fanout-broker"}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"plain", nil},
		{"tls", []string{"-idle-tls"}},
		{"wrap", []string{"-idle-wrap"}},
		{"tls+wrap", []string{"-idle-tls", "-idle-wrap"}},
		{"tls+h2", []string{"-idle-tls", "-idle-h2"}},
		{"wrap+unwrap", []string{"-idle-wrap", "-idle-unwrap"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"-idle", "20", "-repeats", "1", "-idle-settle", "0", "-peers", strings.Join(peers, ",")}, tc.args...)
			if err := run(args, &out, &errOut); err != nil {
				t.Fatalf("run: %v\n%s", err, errOut.String())
			}
			text := out.String()
			if !strings.Contains(text, " over "+tc.name+" ") || strings.Contains(text, "note:") {
				t.Errorf("unexpected output:\n%s", text)
			}
			for _, p := range peers {
				row := tableRow(text, p)
				if row == nil || row[len(row)-1] != "20" {
					t.Errorf("%s: want 20 connected, got row %q\n%s", p, row, text)
					continue
				}
				if row[1] == "-" || row[3] == "-" {
					t.Errorf("%s: no RSS or HeapInuse: %q", p, row)
				}
			}
		})
	}
}
