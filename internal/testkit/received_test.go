package testkit

import (
	"slices"
	"strings"
	"testing"
)

type rec struct {
	id, data         string
	position, resync bool
}

func (r rec) RecordID() string           { return r.id }
func (r rec) IsPosition() bool           { return r.position }
func (r rec) ResyncData() (string, bool) { return r.data, r.resync }

// TestReceived: the position is where a client with no record resumes
// from; records count, positions do not; a late position, a resync, a
// record without ID (unless NoIDs) and a noted problem are problems.
func TestReceived(t *testing.T) {
	var c Received[rec]
	if c.LastID() != "" || c.FirstID() != "" {
		t.Fatal("IDs before anything arrived")
	}
	c.Add(rec{id: "p", position: true})
	if c.LastID() != "p" || c.FirstID() != "" || len(c.Problems()) != 0 {
		t.Fatalf("after a position: last %q, first %q, problems %v", c.LastID(), c.FirstID(), c.Problems())
	}
	c.Add(rec{id: "1", data: "a"})
	c.Add(rec{id: "2", data: "b"})
	if c.LastID() != "2" || c.FirstID() != "1" || len(c.Records()) != 2 || len(c.Problems()) != 0 {
		t.Fatalf("after two records: last %q, first %q, %d records, problems %v", c.LastID(), c.FirstID(), len(c.Records()), c.Problems())
	}
	c.Add(rec{id: "q", position: true})
	c.Add(rec{data: "lost", resync: true})
	c.Add(rec{data: "c"})
	c.Problem("its own: %d", 7)
	want := []string{"a position after record 2", "resync signal after record 2: lost", "record without ID after record 3", "its own: 7"}
	got := c.Problems()
	if len(got) != len(want) {
		t.Fatalf("problems %q, want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("problem %d: %q, want %q…", i, got[i], want[i])
		}
	}
	if ids := []string{c.Records()[0].id, c.Records()[1].id}; !slices.Equal(ids, []string{"1", "2"}) {
		t.Fatalf("records %v", c.Records())
	}
	plain := Received[rec]{NoIDs: true}
	plain.Add(rec{data: "x"})
	if len(plain.Problems()) != 0 || plain.LastID() != "" {
		t.Fatalf("NoIDs: problems %v", plain.Problems())
	}
}
