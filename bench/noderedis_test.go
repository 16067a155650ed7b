package main

import (
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
