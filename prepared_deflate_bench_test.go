package fanout_test

import (
	"bytes"
	"compress/flate"
	"fmt"
	"testing"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/testkit/payload"
)

// BenchmarkHub_PublishDeflate is BenchmarkHub_Publish with 4 KiB of JSON
// per message, in bursts of 10, to subscribers that all negotiated
// permessage-deflate (deflate), beside the same Hub without Compression
// (plain). The message is compressed once per publish: ns/op, allocs/op
// and allocs/pub/sub grow from 10 subscribers to 1000 as the plain rows
// do, while wireB/msg (bytes written per delivery) is a third of theirs.
func BenchmarkHub_PublishDeflate(b *testing.B) {
	for _, mode := range []struct {
		name  string
		every int
	}{{"plain", 0}, {"deflate", 1}} {
		for _, subs := range []int{10, 100, 1000} {
			b.Run(fmt.Sprintf("%s/subs=%d", mode.name, subs), func(b *testing.B) {
				benchPublish(b, deflateHubSize(mode.every, 4<<10)(b, subs), 10)
			})
		}
	}
}

// BenchmarkMessage_Deflate measures what Compression adds to a publish,
// once whatever the number of subscribers: compressing a fresh message's
// JSON payload into its frame.
func BenchmarkMessage_Deflate(b *testing.B) {
	for _, size := range []int{1 << 10, 4 << 10, 16 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			data := payload.JSON(size, 1)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			var n int
			for b.Loop() {
				n = len(fanout.NewMessage(data).WireDeflateFrame())
			}
			b.ReportMetric(float64(n)/float64(size), "ratio")
		})
	}
}

// BenchmarkDeflateLevel measures compress/flate itself at the levels a
// Hub could use, on the same JSON, for the choice of wsframe.DeflateLevel
// (BestSpeed): ratio is compressed over plain size. Compressing is paid
// once per publish, but the first delivery of each message waits for it.
func BenchmarkDeflateLevel(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10, 64 << 10} {
		data := payload.JSON(size, 1)
		for _, level := range []int{flate.BestSpeed, 2, 4, flate.DefaultCompression} {
			b.Run(fmt.Sprintf("size=%d/level=%d", size, level), func(b *testing.B) {
				var out bytes.Buffer
				fw, err := flate.NewWriter(&out, level)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(size))
				for b.Loop() {
					out.Reset()
					fw.Reset(&out)
					_, _ = fw.Write(data)
					_ = fw.Flush()
				}
				b.ReportMetric(float64(out.Len()-4)/float64(size), "ratio")
			})
		}
	}
}
