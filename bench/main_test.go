package main

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// racyPeers are the peers whose library races under -race, and racyReason
// says how: the tests leave them out then.
var racyPeers = []string{"go-sse"}

const racyReason = "go-sse v0.12.0's Joe flushes a session from its own goroutine while net/http finishes the request its handler returned from"

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
	peers := allPeers
	if raceEnabled {
		t.Logf("without %v under -race: %s", racyPeers, racyReason)
		peers = slices.DeleteFunc(slices.Clone(allPeers), func(p peer) bool { return slices.Contains(racyPeers, p.Name) })
	}
	var names []string
	for _, p := range peers {
		names = append(names, p.Name)
	}
	for _, client := range []string{"coder", "raw"} {
		t.Run(client, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := []string{"-subs", "5", "-msgs", "50", "-burst", "5", "-repeats", "1", "-wsclient", client,
				"-peers", strings.Join(names, ",")} // every peer, the named-only ones too
			if err := run(args, &out, &errOut); err != nil {
				t.Fatalf("run: %v\n%s", err, errOut.String())
			}
			text := out.String()
			if strings.Contains(text, "note:") {
				t.Errorf("a run reported a problem:\n%s", text)
			}
			for _, p := range peers {
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
