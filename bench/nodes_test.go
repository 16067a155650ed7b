package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/centrifugal/protocol"
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
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"plain", nil},
		// Every client drops its connection once, mid-run, and resumes
		// from its position: no gap, no duplicate.
		{"resume", []string{"-nodes-drop", "20"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"-nodes", "3", "-subs", "12", "-msgs", "60", "-burst", "3", "-tick", "2ms",
				"-bystanders", "2", "-repeats", "1", "-nodes-idle", "10ms"}, tc.args...)
			if err := run(args, &out, &errOut); err != nil {
				t.Fatalf("run: %v\n%s", err, errOut.String())
			}
			text := out.String()
			t.Log("\n" + text)
			if strings.Contains(text, "note:") {
				t.Errorf("a run reported a problem:\n%s\n%s", text, errOut.String())
			}
			wantReconnects := "0"
			if tc.args != nil {
				wantReconnects = "12"
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
				if r := row[7]; r != wantReconnects {
					t.Errorf("%s: %s reconnects, want %s", side.Name, r, wantReconnects)
				}
			}
			if !strings.Contains(text, "0 holes in the live feed") {
				t.Errorf("no engine counters:\n%s", text)
			}
		})
	}
}

// TestConnectCommand decodes the centrifuge client's connect command with
// centrifuge's own decoder.
func TestConnectCommand(t *testing.T) {
	for _, tc := range []struct {
		name   string
		epoch  string
		offset uint64
	}{{"new", "", 0}, {"recover", "AbCd", 1<<40 + 7}} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, err := protocol.NewProtobufCommandDecoder(connectCommand(benchTopic, tc.epoch, tc.offset)).Decode()
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if cmd.Id != 1 || cmd.Connect == nil {
				t.Fatalf("command %+v", cmd)
			}
			sub := cmd.Connect.Subs[benchTopic]
			switch {
			case tc.epoch == "" && len(cmd.Connect.Subs) != 0:
				t.Errorf("subs %v, want none", cmd.Connect.Subs)
			case tc.epoch != "" && (sub == nil || !sub.Recover || sub.Epoch != tc.epoch || sub.Offset != tc.offset):
				t.Errorf("subs %v, want %s recovering from %s/%d", cmd.Connect.Subs, benchTopic, tc.epoch, tc.offset)
			}
		})
	}
}

// FuzzNodeFrames feeds both sides' frame readers arbitrary frames: they
// must not panic, whatever the network sends.
func FuzzNodeFrames(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 3, 'a', 'b', 'c'})
	f.Add(append([]byte{5}, connectCommand(benchTopic, "e", 1)...))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, p []byte) {
		a, b := net.Pipe()
		defer a.Close()
		go func() { _, _ = io.Copy(io.Discard, b) }()
		ws := &rawWS{conn: a}
		for _, side := range nodeSides {
			fl := newNodeFleet(side, 1, 0, config{Msgs: 4, Burst: 2}, 2, make([]int64, 4))
			s := fl.subs[0]
			_ = fl.fanoutFrame(ws, s, p)
			_ = fl.centrifugeFrame(ws, s, p)
		}
	})
}
