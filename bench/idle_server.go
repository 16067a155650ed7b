package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fanout-go/fanout"
	"github.com/fanout-go/fanout/internal/harness"
)

// The server child of -idle and -scale: it serves one peer (or, for
// -scale, a fanout Hub with a Broker attached) on 127.0.0.1, prints its
// address, and answers the parent's commands:
//
//	count            {"subscribers": n}, without a GC
//	mem              a memSnapshot (after a GC)
//	broadcast SEQ N  publishes an N-byte message stamped with CLOCK_MONOTONIC
//	                 and numbered SEQ to every subscriber; answers when and
//	                 how long the call took
//	profile PREFIX   writes PREFIX.heap.pb.gz and PREFIX.goroutines.txt
//	cpu [PATH]       starts a CPU profile into PATH; without PATH, stops it
//	rusage           {"cpu": ns}: the CPU time this process has used
//
// Its standard input closing ends it, after it closed the server.

// scaleServer names the server child of -scale.
const scaleServer = "scale"

// serverHello is a server child's first line.
type serverHello struct {
	Addr string `json:"addr"`
	PID  int    `json:"pid"`
	Err  string `json:"err,omitempty"`
}

// broadcastReply answers "broadcast".
type broadcastReply struct {
	Sent int64  `json:"sent"` // CLOCK_MONOTONIC ns, the message's stamp
	Call int64  `json:"call"` // ns the Publish call took
	Err  string `json:"err,omitempty"`
}

func serverChild(o options) error {
	if o.idleProfile != "" {
		// Sample every 4 KiB (the default is 512 KiB) so that a few
		// thousand connections give a profile worth reading.
		runtime.MemProfileRate = 4 << 10
	}
	need := max(o.idle, o.scale) + 256
	if msg := raiseFileLimit(uint64(need)); msg != "" {
		_ = harness.Reply(serverHello{Err: msg})
		return nil
	}
	srv, err := newChildServer(o.idleServer)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if o.idleTLS {
		cfg, err := selfSignedTLS(o.idleH2)
		if err != nil {
			return err
		}
		ln = tls.NewListener(ln, cfg)
	}
	if o.idleWrap {
		ln = wrapListener{Listener: ln, unwrap: o.idleUnwrap}
	}
	var cpuf, tracef *os.File
	return serveChild(srv, srv.Close, ln, func(cmd string, args []string) any {
		switch cmd {
		case "count":
			return memSnapshot{Subscribers: srv.Subscribers()}
		case "mem":
			return readMem(srv.Subscribers())
		case "broadcast":
			if len(args) != 2 {
				return broadcastReply{Err: "usage: broadcast SEQ SIZE"}
			}
			seq, _ := strconv.Atoi(args[0])
			size, _ := strconv.Atoi(args[1])
			sent := monoNow()
			b := newPayload(max(size, minMsgSize), time.Duration(sent), seq)
			err := srv.Publish(b)
			r := broadcastReply{Sent: sent, Call: monoNow() - sent}
			if err != nil {
				r.Err = err.Error()
			}
			return r
		case "profile":
			if len(args) != 1 {
				return map[string]string{"err": "usage: profile PREFIX"}
			}
			if err := writeProfiles(args[0]); err != nil {
				return map[string]string{"err": err.Error()}
			}
			return map[string]string{}
		case "rusage":
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			return map[string]int64{"cpu": ru.Utime.Nano() + ru.Stime.Nano()}
		case "cpu":
			if len(args) == 0 {
				pprof.StopCPUProfile()
				trace.Stop()
				if cpuf != nil {
					_ = cpuf.Close()
				}
				if tracef != nil {
					_ = tracef.Close()
				}
				return map[string]string{}
			}
			f, err := os.Create(args[0])
			if err == nil {
				err = pprof.StartCPUProfile(f)
			}
			// And an execution trace: where the Broadcast call waits.
			var tf *os.File
			if err == nil {
				tf, err = os.Create(strings.TrimSuffix(args[0], ".cpu.pb.gz") + ".trace")
			}
			if err == nil {
				err = trace.Start(tf)
			}
			if err != nil {
				return map[string]string{"err": err.Error()}
			}
			cpuf, tracef = f, tf
			return map[string]string{}
		}
		return map[string]string{"err": "unknown command " + cmd}
	})
}

// newChildServer returns the server a server child runs.
func newChildServer(name string) (server, error) {
	if name == scaleServer {
		return newMixed(), nil
	}
	ps, err := selectPeers(name)
	if err != nil {
		return nil, err
	}
	if len(ps) != 1 {
		return nil, fmt.Errorf("-idle-server takes one peer, not %q", name)
	}
	return ps[0].New(peerOptions{Topic: benchTopic}), nil
}

// writeProfiles writes the heap profile (in-use space as of the last GC,
// which readMem just ran) and the goroutines, aggregated by stack.
func writeProfiles(prefix string) error {
	if err := os.MkdirAll(filepath.Dir(prefix), 0o755); err != nil {
		return err
	}
	for name, debug := range map[string]int{"heap": 0, "goroutine": 1} {
		ext := ".heap.pb.gz"
		if name == "goroutine" {
			ext = ".goroutines.txt"
		}
		f, err := os.Create(prefix + ext)
		if err != nil {
			return err
		}
		err = pprof.Lookup(name).WriteTo(f, debug)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// mixed is the server of -scale: a fanout Hub with a Broker attached, so
// that WebSocket (/ws) and SSE (/sse) subscribers share one fan-out and
// one Broadcast reaches them all. Both have their defaults.
type mixed struct {
	hub    *fanout.Hub
	broker *fanout.Broker
	mux    *http.ServeMux
}

func newMixed() *mixed {
	m := &mixed{hub: fanout.NewHub(nil), mux: http.NewServeMux()}
	m.broker = fanout.NewBroker(&fanout.BrokerOptions{Hub: m.hub})
	m.mux.Handle("/ws", m.hub)
	m.mux.Handle("/sse", m.broker)
	return m
}

func (m *mixed) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.mux.ServeHTTP(w, r) }

func (m *mixed) Publish(b []byte) error {
	var err error
	// A region in the execution trace of -idle-profile: the call's span.
	trace.WithRegion(context.Background(), "Broadcast", func() {
		err = m.hub.Broadcast(context.Background(), fanout.NewMessage(b))
	})
	return err
}

// Subscribers counts both kinds: the Broker shares the Hub's subscribers.
func (m *mixed) Subscribers() int { return m.hub.Len() }

func (m *mixed) Close() {
	_ = m.broker.Close()
	_ = m.hub.Close()
}

// wrapListener is -idle-wrap: it hands out each connection wrapped in a
// struct that embeds net.Conn, as many production listeners do (proxy
// protocol, metrics, connection limits), so that the server sees neither a
// *net.TCPConn nor a *tls.Conn. With -idle-unwrap its connections give the
// one under them through Unwrap() net.Conn, fanout's convention for a
// wrapper that buffers no reads, so that fanout can watch the socket.
type wrapListener struct {
	net.Listener
	unwrap bool
}

type wrappedConn struct{ net.Conn }

// unwrapConn is a wrappedConn that keeps no read bytes of its own.
type unwrapConn struct{ net.Conn }

func (c *unwrapConn) Unwrap() net.Conn { return c.Conn }

func (l wrapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.unwrap {
		return &unwrapConn{c}, nil
	}
	return &wrappedConn{c}, nil
}

// selfSignedTLS returns a server configuration with a certificate made on
// the spot (ECDSA P-256, for 127.0.0.1), offering HTTP/1.1 only, unless h2
// is set (-idle-h2, where each SSE client has a connection of its own, as
// each browser has). The clients do not verify it.
func selfSignedTLS(h2 bool) (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "fanout bench"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	protos := []string{"http/1.1"}
	if h2 {
		protos = []string{"h2", "http/1.1"}
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos:   protos,
	}, nil
}
