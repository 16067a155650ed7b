package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
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
		// Many topics, each node's subscribers of its own third of
		// them: 4 publishing goroutines spread over the nodes, then one
		// sequential publisher.
		{"topics", []string{"-topics", "30", "-publishers", "4"}},
		{"topics-sequential", []string{"-topics", "30", "-publishers", "1"}},
		// The same on a Redis Cluster of three masters: fanout's topics
		// in 16 partitions over the masters, centrifuge's channels
		// keyed by their own hash tags.
		{"cluster", []string{"-cluster", "-topics", "30", "-publishers", "4"}},
		// centrifuge with sharded PUB/SUB on the Cluster.
		{"cluster-sharded", []string{"-cluster", "-centrifuge-sharded", "16", "-topics", "30", "-publishers", "4"}},
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
			if tc.name == "resume" {
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
			if tc.name != "resume" && !strings.Contains(text, "| centrifuge | 2    |") {
				t.Errorf("no per-node rows:\n%s", text)
			}
			if !strings.Contains(text, "0 holes in the live feed") {
				t.Errorf("no engine counters:\n%s", text)
			}
			if strings.HasPrefix(tc.name, "cluster") && !strings.Contains(text, "a Redis Cluster of 3 masters") {
				t.Errorf("not on a Redis Cluster:\n%s", text)
			}
		})
	}
}

// TestNodeWorkload_Topics checks the -topics layout: each node's
// subscribers follow only its topics, all of them together, and expect
// exactly the messages published to them; the bystander's topics are
// never published to.
func TestNodeWorkload_Topics(t *testing.T) {
	for _, tc := range []struct{ topics, subs, msgs int }{{30, 12, 60}, {10000, 1000, 3000}, {10, 30, 7}, {3, 3, 100}} {
		w := nodeWorkload{Nodes: 3, Burst: 10, Msgs: tc.msgs, Topics: tc.topics}
		published := map[string]int64{}
		for seq := range tc.msgs {
			published[w.topic(seq)]++
		}
		covered := map[string]bool{}
		for j := range tc.subs {
			topics, want := w.subTopics(j, tc.subs)
			var got int64
			for _, topic := range topics {
				k, err := strconv.Atoi(strings.TrimPrefix(topic, "t"))
				if err != nil || k%3 != j%3 {
					t.Fatalf("%+v: subscriber %d on node %d follows %s", tc, j, j%3, topic)
				}
				covered[topic] = true
				got += published[topic]
			}
			if got != want {
				t.Errorf("%+v: subscriber %d expects %d messages, its topics get %d", tc, j, want, got)
			}
		}
		if len(covered) != tc.topics {
			t.Errorf("%+v: the subscribers follow %d topics, want all %d", tc, len(covered), tc.topics)
		}
		n := 0
		for _, ts := range w.bystanderTopics(tc.subs, 10) {
			for _, topic := range ts {
				n++
				if published[topic] != 0 {
					t.Errorf("%+v: the bystander's topic %s is published to", tc, topic)
				}
			}
		}
		if n != w.nodeTopics(0) {
			t.Errorf("%+v: the bystander follows %d topics, want %d, as many as a node serves", tc, n, w.nodeTopics(0))
		}
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
			fl := newNodeFleet(side, nodeWorkload{Nodes: 2, Burst: 2, Msgs: 4}, 1, 0, make([]int64, 4))
			s := fl.subs[0]
			_ = fl.fanoutFrame(ws, s, p)
			_ = fl.centrifugeFrame(ws, s, p)
		}
	})
}
