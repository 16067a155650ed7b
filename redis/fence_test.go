package redis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/enginetest"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// TestEngine_FailedPublishNotOvertaken: a Publish that gives up (its
// context ends) while its command waits on a connection that stopped
// moving is stored before the caller's later Publishes or not at all.
// Before, rueidis ran it once its connection moved again, after later
// Publishes that took its other connection: subscribers got the later
// messages first (found by the soak under CPU starvation).
func TestEngine_FailedPublishNotOvertaken(t *testing.T) {
	srv := redistest.Start(t)
	px := redistest.StartProxy(t, srv.Addr())
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{px.Addr()}, DisableCache: true,
		PipelineMultiplex: 1, // two connections for commands
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	e, err := fredis.New(c, &fredis.Options{Prefix: newPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	e.Start(enginetest.NewRecorder())
	publish := func(s string, d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return e.Publish(ctx, "t", fanout.NewMessage([]byte(s)))
	}
	order := []string{"before", "FIRST"}
	if err := publish("before", waitTimeout); err != nil {
		t.Fatal(err)
	}
	px.FreezeOn([]byte("FIRST"))
	if err := publish("FIRST", 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish(FIRST) on a frozen connection: %v, want the deadline", err)
	}
	for i := range 10 { // the same caller goes on, on either connection
		s := fmt.Sprintf("later-%d", i)
		order = append(order, s)
		_ = publish(s, 100*time.Millisecond)
	}
	px.Thaw()
	order = append(order, "after")
	if err := publish("after", waitTimeout); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	pid := e.Partition("t")
	head, err := e.Head(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	// FIRST's command, if it is still on its way, arrives soon after the
	// thaw: give it a second before reading what was stored.
	deadline := time.Now().Add(time.Second)
	for {
		msgs, _, err := e.Read(ctx, fanout.Position{Epoch: head.Epoch, Partition: pid}, []string{"t"})
		if err != nil {
			t.Fatal(err)
		}
		stored = stored[:0]
		for _, m := range msgs {
			stored = append(stored, string(m.Data()))
		}
		if slices.Contains(stored, "FIRST") || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	at := -1
	for _, s := range stored {
		i := slices.Index(order, s)
		if i < at {
			t.Fatalf("stored %v: %q after a message published later than it", stored, s)
		}
		at = i
	}
	if stored[0] != "before" || stored[len(stored)-1] != "after" {
		t.Fatalf("stored %v", stored)
	}
	t.Logf("stored %v", stored)
}
