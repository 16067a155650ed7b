package bolt_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind (every
// Store's writer must have returned by Close), and runs the child process
// of TestCrash when the test binary is re-executed as one.
func TestMain(m *testing.M) {
	if crashChild() {
		return
	}
	goleak.VerifyTestMain(m)
}
