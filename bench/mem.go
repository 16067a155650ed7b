package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"syscall"
	"unsafe"

	"github.com/fanout-go/fanout/internal/harness"
)

// memSnapshot is what a server process holds, read in that process after a
// GC. Sizes are bytes.
type memSnapshot struct {
	// RSS is the process's resident set (VmRSS): what the machine pays,
	// including heap pages the runtime has freed but not yet returned.
	RSS uint64 `json:"rss"`
	// RSSScavenged is VmRSS right after debug.FreeOSMemory: the floor the
	// runtime could shrink to.
	RSSScavenged uint64 `json:"rss_scavenged"`
	// HWM is the peak resident set so far (VmHWM).
	HWM uint64 `json:"hwm"`
	// HeapInuse is the heap's in-use spans (runtime.MemStats.HeapInuse):
	// live objects plus the unused room in their spans.
	HeapInuse uint64 `json:"heap_inuse"`
	// StackInuse is the goroutine stacks (runtime.MemStats.StackInuse).
	StackInuse uint64 `json:"stack_inuse"`
	// Live is the live heap objects: what -idle reported before.
	Live uint64 `json:"live"`
	// GoMapped is what the runtime holds from the OS and has not
	// released: heap, stacks and its own metadata.
	GoMapped   uint64 `json:"go_mapped"`
	Goroutines int    `json:"goroutines"`
	// Subscribers is the server's count, read just before the GC.
	Subscribers int `json:"subscribers"`
}

var memMetrics = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
}

// readMem collects a GC'ed memSnapshot of this process; it returns freed
// memory to the OS last, so that RSS is read as the process held it.
func readMem(subscribers int) memSnapshot {
	runtime.GC()
	runtime.GC()
	s := make([]metrics.Sample, len(memMetrics))
	for i, name := range memMetrics {
		s[i].Name = name
	}
	metrics.Read(s)
	m := memSnapshot{
		Live:        s[0].Value.Uint64(),
		HeapInuse:   s[0].Value.Uint64() + s[1].Value.Uint64(),
		StackInuse:  s[2].Value.Uint64(),
		GoMapped:    s[3].Value.Uint64() - s[4].Value.Uint64(),
		Goroutines:  runtime.NumGoroutine(),
		Subscribers: subscribers,
	}
	m.RSS, m.HWM = procStatus("VmRSS:"), procStatus("VmHWM:")
	debug.FreeOSMemory()
	m.RSSScavenged = procStatus("VmRSS:")
	return m
}

// procStatus returns a "kB" field of /proc/self/status in bytes.
func procStatus(field string) uint64 { return harness.ProcStatus("/proc/self/status", field) }

// monoNow reads CLOCK_MONOTONIC, which, unlike time.Now's monotonic
// reading, every process on the machine shares: a server stamps a message
// with it and a client process compares its arrival against the stamp.
func monoNow() int64 {
	var ts syscall.Timespec
	_, _, _ = syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, 1 /* CLOCK_MONOTONIC */, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}
