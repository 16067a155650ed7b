package main

import (
	"io"
	"slices"
	"testing"
)

// TestSumCmdStats: a Cluster's commandstats add up by command, most time
// first.
func TestSumCmdStats(t *testing.T) {
	got := sumCmdStats(
		[]cmdStat{{"evalsha", 10, 500}, {"spublish", 3, 30}},
		[]cmdStat{{"spublish", 4, 40}, {"ping", 1, 1}},
		nil,
		[]cmdStat{{"evalsha", 5, 250}},
	)
	want := []cmdStat{{"evalsha", 15, 750}, {"spublish", 7, 70}, {"ping", 1, 1}}
	if !slices.Equal(got, want) {
		t.Errorf("sumCmdStats = %v, want %v", got, want)
	}
}

// TestClusterOptions: -cluster belongs to -nodes, -centrifuge-sharded to
// -cluster.
func TestClusterOptions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-cluster"}, false},
		{[]string{"-nodes", "3", "-centrifuge-sharded", "16"}, false},
		{[]string{"-nodes", "3", "-cluster", "-centrifuge-sharded", "-1"}, false},
		{[]string{"-nodes", "3", "-cluster"}, true},
		{[]string{"-nodes", "3", "-cluster", "-centrifuge-sharded", "16"}, true},
		{[]string{"-node-server", "centrifuge", "-cluster", "-centrifuge-sharded", "16"}, true}, // a node child
	} {
		_, err := parseOptions(tc.args, io.Discard)
		if (err == nil) != tc.ok {
			t.Errorf("%v: error %v, want ok %v", tc.args, err, tc.ok)
		}
	}
}
