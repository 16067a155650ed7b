package redis

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout/redis/internal/redistest"
	"github.com/fanout-go/fanout/redis/internal/script"
)

// TestBaked_ArgumentsChange: the publish script's text has the call's
// bounds and keys' life written in (script.Bake); a call with others is
// refused by that text (FANOUTBAKED, before it writes anything) and runs
// with a text of its own, which the following calls take.
func TestBaked_ArgumentsChange(t *testing.T) {
	srv := redistest.Start(t)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	s := newBakedScript(script.Publish, 1, time.Second)
	tag := "{bakedargs:0}"
	keys := []string{tag + ":meta", tag + ":log"}
	publish := func(maxLen string) *bakedText {
		t.Helper()
		args := []string{"x", "1", "", "0", tag + ":live", "0", maxLen, "0", "a", "t", "d", "60000"}
		for range 5 {
			if err := s.exec(ctx, c, 0, keys, args).Error(); err != nil {
				t.Fatalf("publish with maxLen %s: %v", maxLen, err)
			}
		}
		return s.parts[0].Load()
	}
	first := publish("10")
	second := publish("20")
	if first == second || !strings.Contains(first.key, "7=10 ") || !strings.Contains(second.key, "7=20 ") {
		t.Fatalf("texts %+v then %+v; want one for each maxLen", first, second)
	}
	if third := publish("10"); third != first {
		t.Errorf("back to maxLen 10: text %+v, want the first one again %+v", third, first)
	}
	if n, err := srv.Do("XLEN", tag+":log"); err != nil || n.(int64) != 15 {
		t.Errorf("XLEN = %v, %v; want the 15 messages, each stored once", n, err)
	}
}
