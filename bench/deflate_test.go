package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// TestDeflate_EveryPeer runs -deflate once with tiny settings: every peer
// delivers every message (the checking client inflates each and checks
// its size), the compressing ones send a fraction of the plain bytes, the
// others the plain frames.
func TestDeflate_EveryPeer(t *testing.T) {
	var out, errOut bytes.Buffer
	args := []string{"-deflate", "-deflate-subs", "4", "-deflate-msgs", "5", "-deflate-sizes", "1024,70000", "-repeats", "1", "-quiet"}
	if err := run(args, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	text := out.String()
	if strings.Contains(text, "note:") {
		t.Errorf("a run reported a problem:\n%s", text)
	}
	for _, p := range deflatePeers {
		n := 0
		for line := range strings.Lines(text) {
			cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
			if len(cells) < 4 || strings.TrimSpace(cells[1]) != p.Name {
				continue
			}
			n++
			ratio, err := strconv.ParseFloat(strings.TrimSpace(cells[3]), 64)
			if err != nil || p.Compress && ratio >= 0.5 || !p.Compress && ratio != 1 {
				t.Errorf("%s at %s: %s of the plain bytes on the wire", p.Name, strings.TrimSpace(cells[0]), cells[3])
			}
		}
		if n != 2 {
			t.Errorf("%d rows for %s, want one per size:\n%s", n, p.Name, text)
		}
	}
}
