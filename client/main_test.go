package client_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: every
// Client, Hub and server a test opens must be closed by the time it ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
