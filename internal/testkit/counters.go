package testkit

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// CheckCounters checks, with t.Errorf, the payloads a property test's
// client named name received, in order. Each is "P/LABEL/N": publisher
// P's Nth message to the topic LABEL, or to all of them when LABEL is
// "*". Every payload must be of one of topics; per publisher and label
// the counters must be consecutive (and start at 1 when fromOne: a
// client that cannot resume, which must see everything) and end at the
// publisher's last, finals[P][LABEL].
func CheckCounters(t testing.TB, name string, data, topics []string, finals []map[string]int, fromOne bool) {
	t.Helper()
	last := map[string]int{}
	for i, d := range data {
		parts := strings.Split(d, "/")
		n, err := strconv.Atoi(parts[len(parts)-1])
		if len(parts) != 3 || err != nil {
			t.Errorf("%s: record %d: payload %q", name, i, d)
			return
		}
		if parts[1] != "*" && !slices.Contains(topics, parts[1]) {
			t.Errorf("%s: record %d: %q of a topic it did not subscribe to", name, i, d)
		}
		key := parts[0] + "/" + parts[1]
		prev, seen := last[key]
		if seen && n != prev+1 || !seen && fromOne && n != 1 {
			t.Errorf("%s: record %d: %s counter %d after %d (gap or duplicate)", name, i, key, n, prev)
			return
		}
		last[key] = n
	}
	for key, n := range last {
		p, _ := strconv.Atoi(key[:strings.IndexByte(key, '/')])
		if want := finals[p][key[strings.IndexByte(key, '/')+1:]]; n != want {
			t.Errorf("%s: %s ends at %d, the publisher's last is %d", name, key, n, want)
		}
	}
}
