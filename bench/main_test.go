package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets -idle start this test binary as its client process.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBench_EveryPeer runs the tool once with tiny settings: every peer
// must deliver every message, in order, with both WebSocket clients.
func TestBench_EveryPeer(t *testing.T) {
	for _, client := range []string{"coder", "raw"} {
		t.Run(client, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := []string{"-subs", "5", "-msgs", "50", "-burst", "5", "-repeats", "1", "-wsclient", client,
				"-peers", peerNames()} // every peer, the named-only ones too
			if err := run(args, &out, &errOut); err != nil {
				t.Fatalf("run: %v\n%s", err, errOut.String())
			}
			text := out.String()
			if strings.Contains(text, "note:") {
				t.Errorf("a run reported a problem:\n%s", text)
			}
			for _, p := range allPeers {
				row := tableRow(text, p.Name)
				if row == nil {
					t.Errorf("no row for %s:\n%s", p.Name, text)
					continue
				}
				if lost := row[len(row)-2]; lost != "0" {
					t.Errorf("%s lost %s messages", p.Name, lost)
				}
			}
		})
	}
}

// tableRow returns the cells of peer's row of a Markdown table.
func tableRow(text, peer string) []string {
	for line := range strings.Lines(text) {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) > 1 && strings.TrimSpace(cells[0]) == peer {
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			return cells
		}
	}
	return nil
}

// TestClients_DoNotAllocate checks that the clients allocate nothing per
// message, so that a run's allocations are the server's: against servers
// that allocate per publish and nothing per subscriber (the limit row for
// WebSocket, go-sse for SSE), a delivery costs (almost) nothing. (The
// fanout Broker no longer qualifies: since its writers start when there is
// something to write, each batch write allocates, about 0.45 per delivery
// in this test, in (*Subscriber).signal and step.)
func TestClients_DoNotAllocate(t *testing.T) {
	limit, _ := selectPeers("limit")
	broker, _ := selectPeers("go-sse")
	cfg := config{Subs: 50, Msgs: 400, Burst: 4, Size: 64, Tick: time.Millisecond, Stall: 10 * time.Second, Par: 16}
	for _, tc := range []struct {
		name string
		p    peer
		raw  bool
	}{{"coder", limit[0], false}, {"raw", limit[0], true}, {"sse", broker[0], false}} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.RawWS = tc.raw
			res, err := runOnce(tc.p, c, make([]int64, c.Subs*c.Msgs))
			if err != nil || res.Err != "" {
				t.Fatalf("run: %v %s", err, res.Err)
			}
			// The publisher's allocations are a few per message, spread
			// over 50 subscribers; a client allocation per message would
			// add 1.
			t.Logf("%.3f allocations per delivered message", res.AllocsPerMsg())
			if a := res.AllocsPerMsg(); a > 0.25 {
				t.Errorf("%.3f allocations per delivered message", a)
			}
		})
	}
}

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

func TestPayload_RoundTrip(t *testing.T) {
	b := newPayload(64, 123456789*time.Nanosecond, 4242)
	if len(b) != 64 {
		t.Fatalf("len %d", len(b))
	}
	d := decode(b)
	if !d.ok || d.warm || d.due != 123456789 || d.seq != 4242 {
		t.Errorf("decode = %+v", d)
	}
	w := decode(newWarmup(64, 7))
	if !w.ok || !w.warm || w.seq != 7 {
		t.Errorf("warm-up decode = %+v", w)
	}
	if decode([]byte("short")).ok || decode(bytes.Repeat([]byte("z"), 64)).ok {
		t.Error("garbage decoded")
	}
}

func TestStatOf(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want stat
	}{
		{[]float64{3, 1, 2}, stat{2, 1, 3}},
		{[]float64{4, 1, 3, 2}, stat{2.5, 1, 4}},
		{[]float64{5}, stat{5, 5, 5}},
	} {
		if got := statOf(tc.in); got != tc.want {
			t.Errorf("statOf(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

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
