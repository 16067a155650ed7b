package redis_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// Metrics: the engine measures itself for a metrics collector, with
// names that follow Prometheus's rules and values that are its Stats.
func TestEngine_Metrics(t *testing.T) {
	srv := redistest.Start(t)
	n := startNode(t, "m", &fredis.Options{Prefix: newPrefix()}, &nodeEvents{}, srv.Addr())
	for i := range 3 {
		if err := n.publish(context.Background(), "t", []byte(fmt.Sprint(i)), false); err != nil {
			t.Fatal(err)
		}
	}
	valid := regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	got := map[string]float64{}
	for _, m := range n.hub.EngineMetrics() {
		if !valid.MatchString(m.Name) || m.Help == "" || m.Counter != strings.HasSuffix(m.Name, "_total") {
			t.Errorf("metric %+v: a Prometheus name, a help text, and _total for counters only", m)
		}
		got[m.Name] = m.Value
	}
	if got["redis_published_total"] != float64(n.eng.Stats().Published) || got["redis_published_total"] != 3 {
		t.Errorf("redis_published_total = %v, Stats().Published = %d, want 3", got["redis_published_total"], n.eng.Stats().Published)
	}
	if len(got) != len(n.eng.Metrics()) {
		t.Errorf("metric names repeat: %v", got)
	}
}
