package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestNodes runs -nodes with a few subscribers: both sides must deliver
// every message, in order, across three nodes on a real redis-server,
// and the bystander's subscribers must receive nothing. Without
// redis-server it skips; under CI it fails instead.
func TestNodes(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is required under CI: %v", err)
		}
		t.Skipf("redis-server not installed: %v", err)
	}
	var out, errOut bytes.Buffer
	args := []string{"-nodes", "3", "-subs", "12", "-msgs", "60", "-burst", "3", "-tick", "2ms",
		"-bystanders", "2", "-repeats", "1", "-nodes-idle", "10ms"}
	if err := run(args, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	text := out.String()
	t.Log("\n" + text)
	if strings.Contains(text, "note:") {
		t.Errorf("a run reported a problem:\n%s\n%s", text, errOut.String())
	}
	for _, side := range nodeSides {
		row := tableRow(text, side.Name)
		if row == nil {
			t.Errorf("no row for %s:\n%s", side.Name, text)
			continue
		}
		if lost := row[6]; lost != "0" {
			t.Errorf("%s lost %s messages", side.Name, lost)
		}
	}
	if !strings.Contains(text, "0 holes in the live feed") {
		t.Errorf("no engine counters:\n%s", text)
	}
}
