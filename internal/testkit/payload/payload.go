// Package payload makes the message bodies that the compression tests and
// measurements send (the root package's tests, e2e/ and bench/): JSON like
// an application's, which deflate shrinks, and random bytes, which it
// cannot. Both are deterministic in their seed, so that a failure
// reproduces. It is apart from testkit because bench/, a program, uses it
// too and must not import package testing; it depends on the standard
// library only.
package payload

import (
	"fmt"
	"math/rand/v2"
)

// JSON returns n bytes of JSON (n ≥ 16) like an application's: an array of
// quotes with symbols, prices, sizes, sides, times and IDs, from a
// generator seeded with seed, padded with spaces to exactly n bytes. It
// deflates to less than 40% of its size from 1 KiB up (about a third).
func JSON(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	syms := []string{"AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "META", "TSLA", "BRK.B"}
	b := append(make([]byte, 0, n), `{"quotes":[`...)
	var q []byte
	for i := 0; ; i++ {
		q = q[:0]
		if i > 0 {
			q = append(q, ',')
		}
		q = fmt.Appendf(q, `{"symbol":%q,"price":%d.%02d,"size":%d,"side":%q,"time":%d,"id":"%016x"}`,
			syms[rng.IntN(len(syms))], rng.IntN(2000), rng.IntN(100), rng.IntN(5000),
			[]string{"buy", "sell"}[rng.IntN(2)], 1_700_000_000_000+rng.Int64N(1_000_000), rng.Uint64())
		if len(b)+len(q)+2 > n {
			break
		}
		b = append(b, q...)
	}
	for len(b) < n-2 {
		b = append(b, ' ')
	}
	return append(b, "]}"...)
}

// Random returns n bytes from a generator seeded with seed: what deflate
// cannot shrink, or garbage where a file or a frame is expected.
func Random(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}
