package redis

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/rueidis"
)

// check is the quiet partition's periodic check (see docs/redis-engine.md, Live
// delivery): it reads the head (a new epoch, or a history that went
// back, is found even when nothing is published), then publishes a
// token of its own on the node's probe channel, through the client (to
// the slot's master, where the scripts run), and waits, PingTimeout at
// most, for it to come back over the subscription. Redis sends one
// connection's messages in the order it executed their publishes, so
// once the probe has come, every message of the followed channels up to
// the head has come before it (and is delivered: the inbox is handled up
// to the probe). A probe that does not come means a subscription that no
// longer delivers, hung or left on a server that no longer gets the
// publishes: it is replaced (Stats.Stuck), and the new session catches
// up from the stream. Every auditEvery-th check, once the probe came,
// also reads the followed topics' messages after the last delivery up
// to the head (see audit): what it finds was lost on a connection that
// stayed subscribed, which the probe cannot see.
func (p *part) check(closed <-chan error) error {
	e := p.e
	ctx, cancel := context.WithTimeout(e.ctx, e.opts.PingTimeout)
	defer cancel()
	e.stats.checks.Add(1)
	head, err := e.head(ctx, p)
	if err != nil {
		return err
	}
	if !head.SameLog(p.last) {
		// A new epoch (or no baseline yet): the subscribers get the
		// resync signal, and head is the baseline. Nothing is read.
		if err := p.sync(ctx, head); err != nil {
			return err
		}
	}
	p.settle(head.Offset)
	token := randomID(16)
	if err := probeScript.Exec(ctx, e.client, p.keys[:1], []string{p.probe, token, e.shardedArg}).Error(); err != nil {
		return fmt.Errorf("fanout/redis: publishing the probe: %w", err)
	}
	// The wait takes the follower's wake signals: those of topics added
	// meanwhile (acquire) too, whose channels the loop subscribes.
	defer p.signal()
	for probed := false; !probed; {
		select {
		case err := <-closed:
			return fmt.Errorf("subscription connection closed: %v", err)
		case <-ctx.Done():
			if e.ctx.Err() != nil {
				return nil
			}
			e.stats.stuck.Add(1)
			return errProbeLost
		case <-p.wake:
			if _, probed, err = p.drain(token); err != nil {
				return err
			}
		}
	}
	if p.checks++; p.checks >= p.auditEvery() && head.SameLog(p.last) && p.last.Offset < head.Offset {
		p.checks = 0
		n, err := p.audit(ctx, head)
		if err != nil {
			return err
		}
		if n > 0 {
			e.stats.stuck.Add(1)
			return errStuck
		}
		p.last = head // every message of the followed topics up to it is delivered
	}
	p.probed = head
	return nil
}

// probeScript publishes the probe (ARGV[2]) on the probe channel
// (ARGV[1]; with SPUBLISH when ARGV[3] is "1"). It is a script naming
// the partition's meta key, declared as one that may write (a shebang
// without no-writes), only so that it runs where the publish script
// runs, the slot's master: a bare SPUBLISH is served by a replica too
// (sharded pub/sub is), and so is a script without flags that writes
// nothing, which a client whose view of a Cluster is stale sends there;
// a probe that a replica delivers to a subscription of its own says
// nothing of the messages published on the master.
// TestFault_ClusterFailoverOldMasterAlive saw exactly that with both:
// the subscription was on the old master, now a replica, the probes
// came back, the new master's messages did not.
var probeScript = rueidis.NewLuaScript(probeSource)

const probeSource = "#!lua\n" + `redis.call(ARGV[3] == '1' and 'SPUBLISH' or 'PUBLISH', ARGV[1], ARGV[2]) return 1`

var errProbeLost = errors.New("fanout/redis: the probe published on the partition did not come back over its subscription: resubscribing")

// defaultAuditEvery is how many checks make one audit: 10 minutes with
// the default CheckInterval.
const defaultAuditEvery = 600

func (p *part) auditEvery() int {
	if n := p.auditN.Load(); n > 0 {
		return int(n)
	}
	return defaultAuditEvery
}

// probeMark starts the inbox entry of a message of the probe channel,
// followed by its payload (live payloads start with an epoch).
const probeMark = "\x00"
