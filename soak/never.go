package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// neverSession connects and never reads: the node must close the
// connection (its queue fills, or its writes time out), which the kernel's
// TCP state shows without a read.
func (c *soakClient) neverSession(ctx context.Context, addr string) error {
	c.mu.Lock()
	q := c.query()
	c.mu.Unlock()
	var tc *net.TCPConn
	var state func() (int, error)
	var err error
	switch c.spec.kind {
	case kSSE:
		var conn *sseConn
		conn, err = dialSSE(ctx, addr, "/events?"+q.Encode(), "", 8<<10)
		if err == nil {
			tc, state = conn.tc, func() (int, error) { return tcpState(conn.tc) }
		}
	default:
		var conn *wsConn
		conn, err = dialWS(ctx, addr, "/ws?"+q.Encode(), "", 8<<10)
		if err == nil {
			tc, state = conn.tc, func() (int, error) { return tcpState(conn.tc) }
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %v", errDialed, err)
	}
	defer tc.Close()
	start := time.Now()
	node := c.sys.nodeAt(addr)
	kills := node.killCount()
	c.mu.Lock()
	c.connects++
	c.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		if c.r.quiet.Load() {
			return errQuiet
		}
		st, err := state()
		if err != nil || st != tcpEstablished {
			c.r.neverClosed(c, time.Since(start))
			return errNeverClosed
		}
		if time.Since(start) > neverBound && node.killCount() != kills {
			// Its node was SIGKILLed meanwhile: the kernel closed the
			// dead process's socket normally, its FIN behind the data
			// this client never read. No process can reset it any more;
			// the kernel gives up on it by itself (tcp_orphan_retries).
			c.r.neverKilled(c)
			return errNodeKilled
		}
		if time.Since(start) > neverBound {
			// Either the node did not close it, or it closed it normally
			// behind unsent data, which the client, never reading, never
			// reaches: an orphan (TestHub_AbortedWriteThenCloseFrameIsReset and
			// TestBroker_PolicyCloseOfIdleWriterIsReset pin the two found).
			kind, seen := "never-open", "its node has not reported it gone"
			c.r.mu.Lock()
			if g := c.r.gone[c.id]; len(g) > 0 && g[len(g)-1].At > monoNow()-int64(neverBound) {
				kind = "never-orphan"
				seen = fmt.Sprintf("its node reported it gone %.1fs ago (err %q), so it closed it normally, its FIN behind unsent data",
					float64(monoNow()-g[len(g)-1].At)/1e9, g[len(g)-1].Err)
			}
			c.r.mu.Unlock()
			if kind == "never-open" { // what does its node say?
				var info map[string]any
				if n := node; n.call("sub "+c.id, &info, 5*time.Second) == nil {
					b, _ := json.Marshal(info["subs"])
					seen += "; the node has it as " + string(b)
				}
				if n := node; n != nil {
					var st map[string]string
					if n.call("stacks", &st, 5*time.Second) == nil {
						f := filepath.Join(c.r.o.out, fmt.Sprintf("never-open-%s-%d.stacks.txt", strings.ReplaceAll(c.id, "/", "_"), time.Now().Unix()))
						if os.WriteFile(f, []byte(st["stacks"]), 0o644) == nil {
							seen += "; its node's goroutines in " + f
						}
					}
				}
			}
			seen += "; the node's socket: " + peerSocket(tc)
			c.mu.Lock()
			c.r.rec.violation(c.chk, kind, "a client that never reads was still connected after %v; %s", neverBound, seen)
			c.mu.Unlock()
			return errNeverClosed
		}
	}
}

// neverBound is how long a client that never reads may stay connected:
// its queue (QueueSize messages) fills within seconds at the run's rates;
// for the PolicyDrop group, the write that blocks then times out
// (WriteTimeout, 10s).
const neverBound = 45 * time.Second
