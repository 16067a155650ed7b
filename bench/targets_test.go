package main

import (
	"strings"
	"testing"
	"time"
)

// TestTargets_BrokerAtOfferedRate: when the Broker delivers the offered
// rate, its ratio to go-sse's is a floor set by the workload, not the
// Broker's lead, and the target's detail says so; below it, it does not.
func TestTargets_BrokerAtOfferedRate(t *testing.T) {
	c := config{Subs: 200, Burst: 10, Size: 64, Tick: time.Millisecond} // offered 2.0M deliveries/s
	detail := func(broker float64) string {
		var sums []summary
		for peer, v := range map[string]float64{"fanout-broker": broker, "go-sse": 206e3} {
			s := summary{Peer: peer, Runs: 3}
			s.Figs[figDeliv] = stat{v, v, v}
			sums = append(sums, s)
		}
		for _, tg := range checkTargets(c, sums) {
			if strings.HasPrefix(tg.Name, "broker delivered/s") {
				return tg.Detail
			}
		}
		t.Fatal("no broker delivered/s target")
		return ""
	}
	if d := detail(1.99e6); !strings.Contains(d, "offered rate") {
		t.Errorf("Broker at 1.99M of 2.0M offered: detail %q does not say the ratio is bounded by the offered rate", d)
	}
	if d := detail(1.5e6); strings.Contains(d, "offered rate") {
		t.Errorf("Broker at 1.5M of 2.0M offered: detail %q says it is at the offered rate", d)
	}
}
