package client_test

import (
	"strings"
	"testing"

	"github.com/fanout-go/fanout/client"
)

// BenchmarkReadEvents reads a stream of 1,000 events of 1 KiB, with IDs.
func BenchmarkReadEvents(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 1000; i++ {
		sb.WriteString("id: k2f9w-" + "12345" + "\ndata: " + strings.Repeat("x", 1024) + "\n\n")
	}
	s := sb.String()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		_ = client.ReadEvents(strings.NewReader(s), 1<<20, func(client.Message, bool) error { return nil })
	}
}
