package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestScale runs -scale with a few subscribers of each kind: every one
// must receive every broadcast.
func TestScale(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"-scale", "30", "-scale-broadcasts", "2", "-idle-settle", "0", "-scale-sources", "3"}, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	text := out.String()
	if !strings.Contains(text, "30 of 30 subscribers connected") || strings.Contains(text, "note:") {
		t.Errorf("unexpected output:\n%s", text)
	}
	for _, seq := range []string{"1", "2"} {
		row := tableRow(text, seq)
		if row == nil || row[3] != "30 of 30" {
			t.Errorf("broadcast %s: got row %q\n%s", seq, row, text)
		}
	}
}
