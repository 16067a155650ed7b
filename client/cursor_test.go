package client

import (
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fanout-go/fanout"
)

// step is one ID a cursor takes in: whole for a position signal's or an
// SSE event's, not for a WebSocket message's.
type step struct {
	id    string
	whole bool
}

func pos(id string) step { return step{id, true} }
func msg(id string) step { return step{id, false} }

func TestCursor(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []step
		want  string
	}{
		{"empty", nil, ""},
		{"one message", []step{msg("e-1")}, "e-1"},
		{"a message without an ID changes nothing", []step{msg("e-1"), msg("")}, "e-1"},
		{"messages of one partition", []step{pos("e-0"), msg("e-1"), msg("e-2")}, "e-2"},
		{"a message moves its own partition", []step{pos("e-5.e:3-7"), msg("e:3-8")}, "e-5.e:3-8"},
		{"and partition 0", []step{pos("e-5.e:3-7"), msg("e-6"), msg("e-7")}, "e-7.e:3-7"},
		{"a message of a partition the cursor lacks is inserted in order", []step{pos("e-5.e:3-7"), msg("e:2-1")}, "e-5.e:2-1.e:3-7"},
		{"at the end", []step{pos("e-5.e:3-7"), msg("e:15-4")}, "e-5.e:3-7.e:15-4"},
		{"at the front", []step{pos("e:2-5.e:3-7"), msg("e-9")}, "e-9.e:2-5.e:3-7"},
		{"a message of a new epoch replaces its partition's", []step{pos("e-5.e:3-7"), msg("f:3-1")}, "e-5.f:3-1"},
		{"a position replaces the whole cursor", []step{pos("e-5.e:3-7"), msg("e:4-1"), pos("e:3-9")}, "e:3-9"},
		{"a composite position too", []step{pos("e-5.e:3-7"), pos("f-1.f:2-2")}, "f-1.f:2-2"},
		{"a message's composite moves each of its partitions", []step{pos("e-5.e:3-7"), msg("e:3-8.e:4-1")}, "e-5.e:3-8.e:4-1"},
		{"an SSE event's composite replaces", []step{pos("e-5.e:3-7"), pos("e:3-8.e:4-1")}, "e:3-8.e:4-1"},
		{"an opaque message ID replaces", []step{pos("e-5.e:3-7"), msg("abc")}, "abc"},
		{"the last opaque ID", []step{msg("abc"), msg("def")}, "def"},
		{"a position after an opaque ID replaces it", []step{msg("abc"), msg("e:3-9")}, "e:3-9"},
		{"an opaque position", []step{pos("not a position")}, "not a position"},
		{"partitions out of order: opaque", []step{pos("e-5"), msg("e:3-7.e-6")}, "e:3-7.e-6"},
		{"and a message after it replaces it", []step{msg("e:3-7.e-6"), msg("e-7")}, "e-7"},
		{"a partition twice: opaque", []step{msg("e-1.e-2")}, "e-1.e-2"},
		{"an empty piece: opaque", []step{pos("e-1"), msg("e-1.")}, "e-1."},
		{"a leading separator: opaque", []step{msg(".e-1")}, ".e-1"},
		{"a non-canonical piece: opaque", []step{msg("e-1.e:03-2")}, "e-1.e:03-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c cursor
			for _, s := range tc.steps {
				c.set(s.id, s.whole)
			}
			if got := c.String(); got != tc.want {
				t.Errorf("cursor %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCursor_NoAllocs: a stream of one partition, the common case, costs
// the cursor nothing per message; one of several a string per message.
func TestCursor_NoAllocs(t *testing.T) {
	var c cursor
	c.set("e-5", true)
	ids := []string{"e-6", "e-7"}
	i := 0
	if n := testing.AllocsPerRun(100, func() { c.set(ids[i%2], false); i++ }); n != 0 {
		t.Errorf("%v allocations a message", n)
	}
	c.set("e-5.e:3-7", true)
	ids = []string{"e:3-8", "e-6"}
	if n := testing.AllocsPerRun(100, func() { c.set(ids[i%2], false); i++ }); n > 1 {
		t.Errorf("%v allocations a message of several partitions", n)
	}
}

// FuzzCursor: whatever IDs a server sends, the cursor is either the last
// ID that is not made of positions, byte for byte, or a composite of one
// position per partition, in increasing partition order, each the last
// position of its partition that the cursor took in since the last whole
// ID, which a second cursor reads back the same.
func FuzzCursor(f *testing.F) {
	f.Add("e-5.e:3-7", true, "e:3-8", false, "e:2-1", false)
	f.Add("e-5", false, "e-1.e-2", true, "e-9", false)
	f.Add("abc", false, "e:9999-18446744073709551615", false, "E_9:1-0", false)
	f.Add("e:3-7.e-6", true, "", false, "e-1.e:2-2.e:3-3", false)
	f.Fuzz(func(t *testing.T, a string, wa bool, b string, wb bool, c string, wc bool) {
		var cur cursor
		model := map[int]string{} // the model: one position per partition
		opaque := ""              // or the last opaque ID
		for _, s := range []step{{a, wa}, {b, wb}, {c, wc}} {
			cur.set(s.id, s.whole)
			if s.id == "" {
				continue
			}
			ps, ok := splitComposite(s.id)
			switch {
			case !ok:
				opaque, model = s.id, map[int]string{}
				continue
			case s.whole || opaque != "":
				opaque, model = "", map[int]string{}
			}
			for _, p := range ps {
				model[p.partition] = p.id
			}
		}
		got := cur.String()
		if opaque != "" {
			if got != opaque {
				t.Fatalf("cursor %q, want the opaque %q", got, opaque)
			}
			return
		}
		keys := slices.Sorted(func(yield func(int) bool) {
			for k := range model {
				if !yield(k) {
					return
				}
			}
		})
		var want []string
		for _, k := range keys {
			want = append(want, model[k])
		}
		if got != strings.Join(want, ".") {
			t.Fatalf("cursor %q, want %q", got, strings.Join(want, "."))
		}
		if got == "" {
			return
		}
		var again cursor
		again.set(got, true)
		if again.String() != got || len(again.parts) != len(keys) {
			t.Fatalf("read back %q as %q (%d parts), want %d", got, again.String(), len(again.parts), len(keys))
		}
	})
}

// splitComposite is the model's reading of a composite ID: pieces that
// fanout.ParseID reads and fanout.Position.ID writes back the same, in
// strictly increasing partition order.
func splitComposite(id string) ([]part, bool) {
	var ps []part
	for _, piece := range strings.Split(id, ".") {
		p, err := fanout.ParseID(piece)
		if err != nil || p.ID() != piece {
			return nil, false
		}
		if len(ps) > 0 && ps[len(ps)-1].partition >= p.Partition {
			return nil, false
		}
		ps = append(ps, part{p.Partition, piece})
	}
	return ps, true
}

// TestCursor_Vectors: the cursor reads every composite ID of
// docs/protocol.md's vectors (../testdata/protocol/ids.json) as its
// positions, and every position as one; what is neither it keeps
// opaquely, as it came.
func TestCursor_Vectors(t *testing.T) {
	var file struct {
		Valid      []struct{ ID string }
		Invalid    []struct{ ID, Why string }
		Composites struct {
			Valid []struct {
				ID        string
				Positions []string
			}
			Invalid []struct{ ID, Why string }
		}
	}
	b, err := os.ReadFile("../testdata/protocol/ids.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Composites.Valid) == 0 || len(file.Composites.Invalid) == 0 {
		t.Fatal("ids.json has no composites")
	}
	valid := file.Composites.Valid
	for _, v := range file.Valid {
		valid = append(valid, struct {
			ID        string
			Positions []string
		}{v.ID, []string{v.ID}})
	}
	for _, v := range valid {
		var c cursor
		c.set(v.ID, true)
		var got []string
		for _, p := range c.parts {
			got = append(got, p.id)
		}
		if !slices.Equal(got, v.Positions) || c.String() != v.ID {
			t.Errorf("%q: positions %q (cursor %q), want %q", v.ID, got, c.String(), v.Positions)
		}
	}
	for _, v := range append(file.Invalid, file.Composites.Invalid...) {
		var c cursor
		c.set(v.ID, false)
		if len(c.parts) != 0 || c.String() != v.ID {
			t.Errorf("%q (%s): cursor %q with %d positions, want it opaque", v.ID, v.Why, c.String(), len(c.parts))
		}
	}
}

// BenchmarkCursor: what the cursor costs a message of a stream of one
// partition, and of sixteen (each message moving one of them).
func BenchmarkCursor(b *testing.B) {
	for _, n := range []int{1, 16} {
		b.Run(strconv.Itoa(n)+" partitions", func(b *testing.B) {
			var ids, parts []string
			for p := range n {
				id := "k2f9w-1000000"
				if p > 0 {
					id = "k2f9w:" + strconv.Itoa(p) + "-1000000"
				}
				parts = append(parts, id)
				ids = append(ids, strings.Replace(id, "-1000000", "-1000001", 1))
			}
			var c cursor
			c.set(strings.Join(parts, "."), true)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				c.set(ids[i%n], false)
			}
		})
	}
}
