package redis_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/fanout-go/fanout"
	fredis "github.com/fanout-go/fanout/redis"
	"github.com/fanout-go/fanout/redis/internal/redistest"
)

// TestEngine_MaxMessageSize: a Hub on the Redis engine refuses a message
// over Limits.MaxMessageSize (1 MiB by default) with ErrTooLarge before
// the engine stores anything: the stream stays empty, the head where it
// was. A message of exactly the limit is stored.
func TestEngine_MaxMessageSize(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newPrefix()
	raw := newClient(t, "raw", srv.Addr())
	e := newEngine(t, "limits", &fredis.Options{Prefix: prefix}, srv.Addr())
	hub := fanout.NewHub(&fanout.HubOptions{Engine: e})
	defer hub.Close()
	ctx := context.Background()
	key := "{" + prefix + ":0}:log"
	stored := func() int64 {
		t.Helper()
		n, err := raw.Do(ctx, raw.B().Xlen().Key(key).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	head, err := e.Head(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}

	over := fanout.NewBinaryMessage(bytes.Repeat([]byte{1}, fanout.DefaultMaxMessageSize+1))
	if err := hub.Publish(ctx, "a", over); !errors.Is(err, fanout.ErrTooLarge) {
		t.Fatalf("Publish of MaxMessageSize+1 bytes: %v, want ErrTooLarge", err)
	}
	if err := hub.Broadcast(ctx, over); !errors.Is(err, fanout.ErrTooLarge) {
		t.Fatalf("Broadcast of MaxMessageSize+1 bytes: %v, want ErrTooLarge", err)
	}
	if n := stored(); n != 0 {
		t.Fatalf("%d entries stored, want none", n)
	}
	if now, err := e.Head(ctx, 0); err != nil || now != head {
		t.Fatalf("head %s (%v) after refused publishes, want %s", now.ID(), err, head.ID())
	}

	at := fanout.NewBinaryMessage(bytes.Repeat([]byte{2}, fanout.DefaultMaxMessageSize))
	if err := hub.Publish(ctx, "a", at); err != nil {
		t.Fatalf("Publish of MaxMessageSize bytes: %v", err)
	}
	if n := stored(); n != 1 {
		t.Fatalf("%d entries stored, want 1", n)
	}
}
