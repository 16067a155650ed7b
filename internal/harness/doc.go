// Package harness is what the programs that measure fanout from outside
// (bench/, soak/) and the Redis engine's tests share: child processes
// driven by one command per line of standard input, a redis-server
// launcher with a RESP client for set-up and faults, a TCP proxy that
// adds latency, freezes or cuts connections, the few lines of a raw
// WebSocket client (the opening handshake and a client's frame), and a
// reader of /proc/PID/status.
//
// It uses the standard library only, so that the root module's
// requirements stay what the library itself needs. It is for Linux (the
// children die with their parent through Pdeathsig); elsewhere the
// package is empty.
package harness
