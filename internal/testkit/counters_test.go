package testkit

import (
	"fmt"
	"testing"
)

// recorder is a testing.TB that keeps what Errorf reports.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestCheckCounters(t *testing.T) {
	finals := []map[string]int{{"a": 3, "*": 1}, {"b": 2}}
	for _, tc := range []struct {
		name    string
		data    []string
		fromOne bool
		fails   bool
	}{
		{"complete", []string{"0/a/1", "0/*/1", "1/b/1", "0/a/2", "1/b/2", "0/a/3"}, true, false},
		{"resumed late", []string{"0/a/2", "1/b/2", "0/a/3"}, false, false},
		{"late, but must see all", []string{"0/a/2", "1/b/2", "0/a/3"}, true, true},
		{"gap", []string{"0/a/1", "0/a/3"}, false, true},
		{"duplicate", []string{"0/a/2", "0/a/2", "0/a/3"}, false, true},
		{"short of the last", []string{"0/a/1", "0/a/2"}, false, true},
		{"other topic", []string{"0/c/1"}, false, true},
		{"bad payload", []string{"0/a"}, false, true},
	} {
		r := &recorder{TB: t}
		CheckCounters(r, "c", tc.data, []string{"a", "b"}, finals, tc.fromOne)
		if got := len(r.errs) > 0; got != tc.fails {
			t.Errorf("%s: failed %v (%v), want %v", tc.name, got, r.errs, tc.fails)
		}
	}
}
