package enginetest_test

import (
	"testing"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/enginetest"
)

// A ReplayStore's tests run the suite on the in-process engine over it,
// each run on a fresh, empty store, with the capacity it keeps; an
// engine's tests call Run with a Harness instead (see the package doc).
// Here the store is fanout's Ring, kept to its last 64 messages.
//
// The example has no output to check, so go test compiles it but does not
// run it: the suite reports through the *testing.T of the test that calls
// it, which only go test makes. fanout's own tests run this very call
// (TestLocalEngine_Conformance).
func Example() {
	// In a _test.go file of the package that implements the store:
	testConformance := func(t *testing.T) {
		enginetest.RunStore(t, func(*testing.T) fanout.ReplayStore {
			return fanout.NewRing(&fanout.RingOptions{Size: 64}) // your store, fresh and empty
		}, 64)
	}
	_ = testConformance // func TestConformance(t *testing.T) { ... }
}
