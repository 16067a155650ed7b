package main

import (
	"net"
	"net/http"
	"os"

	"github.com/fanout-go/fanout/internal/harness"
)

// The memory runs (-idle, -scale) and -nodes run their servers and
// clients in child processes: this program again, with an internal flag,
// driven by one command per line (see harness.Child).

// childEnv marks a child process, for a test binary's TestMain.
const childEnv = "FANOUT_BENCH_CHILD"

// startChild runs exe with args as a child.
func startChild(exe string, args ...string) (*harness.Child, error) {
	return harness.StartChild([]string{childEnv + "=1"}, exe, args...)
}

// serveChild serves h on ln, tells the parent its address, and answers
// commands with handle until standard input closes; then it calls stop
// and closes the HTTP server.
func serveChild(h http.Handler, stop func(), ln net.Listener, handle func(cmd string, args []string) any) error {
	hs := newHTTPServer(h)
	go func() { _ = hs.Serve(ln) }()
	defer func() {
		stop()
		_ = hs.Close()
	}()
	if err := harness.Reply(serverHello{Addr: ln.Addr().String(), PID: os.Getpid()}); err != nil {
		return err
	}
	return harness.ServeCommands(handle)
}
