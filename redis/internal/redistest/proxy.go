package redistest

import (
	"testing"

	"github.com/fanout-go/fanout/internal/harness"
)

// Proxy is a TCP proxy on a loopback port in front of a server (see
// harness.Proxy): latency, frozen connections, cuts.
type Proxy = harness.Proxy

// StartProxy starts a proxy to target, closed when t ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := harness.StartProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}
