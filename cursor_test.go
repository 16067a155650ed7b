package fanout_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/fanout-go/fanout"
)

func TestCursor_RoundTrip(t *testing.T) {
	cases := map[string]fanout.Cursor{
		"k2f9w-42":                     {{Epoch: "k2f9w", Offset: 42}},
		"e:3-10":                       {{Epoch: "e", Partition: 3, Offset: 10}},
		"k2f9w-42.k2f9x:3-17":          {{Epoch: "k2f9w", Offset: 42}, {Epoch: "k2f9x", Partition: 3, Offset: 17}},
		"a:1-0.b:2-1.c:15-2.d:9999-3":  {{Epoch: "a", Partition: 1}, {Epoch: "b", Partition: 2, Offset: 1}, {Epoch: "c", Partition: 15, Offset: 2}, {Epoch: "d", Partition: 9999, Offset: 3}},
		"e-0.e:1-18446744073709551615": {{Epoch: "e"}, {Epoch: "e", Partition: 1, Offset: 1<<64 - 1}},
	}
	for id, want := range cases {
		c, err := fanout.ParseCursor(id)
		if err != nil || len(c) != len(want) {
			t.Fatalf("ParseCursor(%q) = %v, %v; want %v", id, c, err, want)
		}
		for i := range c {
			if c[i] != want[i] {
				t.Errorf("ParseCursor(%q)[%d] = %+v, want %+v", id, i, c[i], want[i])
			}
		}
		if got := want.String(); got != id {
			t.Errorf("%v.String() = %q, want %q", want, got, id)
		}
	}
}

func TestCursor_Invalid(t *testing.T) {
	for _, id := range []string{
		"", ".", "e-1.", ".e-1", "e-1..e:1-2", "e:1-1.e-2", "e:1-1.e:1-2", "e:2-1.f:1-1",
		"e-1.x", "e-1,e:1-2", "e-1 .e:1-2", "e:0-1.e:1-1",
		strings.Repeat("e-1.", fanout.MaxLastEventIDLen/4) + "e-1",
	} {
		if c, err := fanout.ParseCursor(id); !errors.Is(err, fanout.ErrUnknownID) {
			t.Errorf("ParseCursor(%q) = %v, %v; want ErrUnknownID", id, c, err)
		}
	}
	// The longest there is at 16 partitions fits MaxLastEventIDLen.
	var c fanout.Cursor
	for p := range 16 {
		c = append(c, fanout.Position{Epoch: strings.Repeat("e", 32), Partition: 9984 + p, Offset: 1<<64 - 1})
	}
	if id := c.String(); len(id) != 16*58+15 || len(id) > fanout.MaxLastEventIDLen {
		t.Errorf("16 longest positions: %d bytes", len(id))
	} else if _, err := fanout.ParseCursor(id); err != nil {
		t.Errorf("ParseCursor of 16 longest positions: %v", err)
	}
}

func TestCursor_With(t *testing.T) {
	var c fanout.Cursor
	for _, p := range []fanout.Position{
		{Epoch: "e", Partition: 3, Offset: 1},
		{Epoch: "e", Partition: 1, Offset: 1},
		{Epoch: "e", Partition: 7, Offset: 1},
		{Epoch: "e", Partition: 3, Offset: 2},
		{},
	} {
		c = c.With(p)
	}
	if got, want := c.String(), "e:1-1.e:3-2.e:7-1"; got != want {
		t.Errorf("With: %q, want %q", got, want)
	}
	if p, ok := c.Find(3); !ok || p.Offset != 2 {
		t.Errorf("Find(3) = %+v, %v", p, ok)
	}
	if _, ok := c.Find(2); ok {
		t.Error("Find(2) found a position")
	}
}

// FuzzParseCursor checks that every ID ParseCursor accepts has exactly
// that spelling (Cursor.String writes it back), holds positions in
// increasing partition order, and agrees with ParseID on one position.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"k2f9w-42", "k2f9w-42.k2f9x:3-17", "e-0.e:1-1.e:2-2", "e:2-1.e:1-1",
		"e-1..e:1-1", "e-1.", "e:1-01", "a.b", "\xff-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := fanout.ParseCursor(s)
		p, perr := fanout.ParseID(s)
		if perr == nil && (err != nil || len(c) != 1 || c[0] != p) {
			t.Fatalf("ParseID(%q) = %+v but ParseCursor = %v, %v", s, p, c, err)
		}
		if err != nil {
			if !errors.Is(err, fanout.ErrUnknownID) {
				t.Fatalf("ParseCursor(%q): %v, not ErrUnknownID", s, err)
			}
			return
		}
		if got := c.String(); got != s {
			t.Fatalf("ParseCursor(%q).String() = %q", s, got)
		}
		for i := 1; i < len(c); i++ {
			if c[i-1].Partition >= c[i].Partition {
				t.Fatalf("ParseCursor(%q): partitions out of order: %v", s, c)
			}
		}
	})
}
