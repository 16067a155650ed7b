package main

import (
	"syscall"
	"time"
)

// What a message is stamped with. The publisher publishes on a schedule
// (a burst every tick). A Publish that blocks (go-sse's Joe, melody's hub
// channel) holds the publisher back, and stamping each message as Publish
// is called would hide that wait from the latency (coordinated omission):
// a message is stamped with the time it was due. But the publisher's own
// timer is late too, and that is no peer's doing: time.Sleep wakes up to
// ~1ms late on Linux (it rides on epoll's millisecond timeout), and even
// nanosleep wakes a few hundred microseconds late on this busy 2-core
// machine. So a message is stamped with the later of its due time and the
// publisher's last wake-up: the timer's lateness is forgiven, every
// moment the publisher then spends in Publish calls is charged. The mean
// lateness is reported (CSV timer_late_s).

// pacer sleeps the publisher until each burst is due.
type pacer struct {
	wake  time.Duration // when the last sleep ended
	late  time.Duration // summed lateness of the wake-ups
	wakes int
}

// until sleeps until due (monotonic, since clockBase), if it is ahead.
// nanosleep blocks only this goroutine's thread; the runtime runs the
// others meanwhile.
func (p *pacer) until(due time.Duration) {
	d := due - now()
	if d <= 0 {
		return
	}
	for d > 0 {
		ts := syscall.NsecToTimespec(int64(d))
		_ = syscall.Nanosleep(&ts, nil) // EINTR (the runtime's signals): sleep the rest
		d = due - now()
	}
	p.wake = due - d
	p.late -= d
	p.wakes++
}

// stamp returns the time a message due at due is stamped with.
func (p *pacer) stamp(due time.Duration) time.Duration { return max(due, p.wake) }

// meanLate returns the mean lateness of the wake-ups.
func (p *pacer) meanLate() time.Duration {
	if p.wakes == 0 {
		return 0
	}
	return p.late / time.Duration(p.wakes)
}
