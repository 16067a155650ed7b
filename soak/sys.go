package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/fanout-go/fanout/internal/harness"
)

// monoNow reads CLOCK_MONOTONIC, which, unlike time.Now's monotonic
// reading, every process on the machine shares: a node stamps a message
// with it and a client in the parent compares its arrival against it.
func monoNow() int64 {
	var ts syscall.Timespec
	_, _, _ = syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, 1 /* CLOCK_MONOTONIC */, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

var startMono = monoNow()

// sinceStart is the time since this process started (the run's clock in
// reports).
func sinceStart() time.Duration { return time.Duration(monoNow() - startMono) }

// procRSS returns this process's VmRSS in bytes.
func procRSS() uint64 { return harness.ProcStatus("/proc/self/status", "VmRSS:") }

// countFDs returns how many file descriptors this process has open.
func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // the directory being read
}

// procCPU returns the CPU time process pid has used (utime+stime of
// /proc/PID/stat).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// machineCPU returns the machine's busy and total jiffies (/proc/stat).
func machineCPU() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// loadAvg returns the 1-minute load average.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// sockstat is the machine's TCP line of /proc/net/sockstat.
type sockstat struct {
	InUse, Orphan, TW, Alloc, Mem int // Mem in pages
}

func readSockstat() sockstat {
	var s sockstat
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return s
	}
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, "TCP:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		for i := 0; i+1 < len(f); i += 2 {
			v, _ := strconv.Atoi(f[i+1])
			switch f[i] {
			case "inuse":
				s.InUse = v
			case "orphan":
				s.Orphan = v
			case "tw":
				s.TW = v
			case "alloc":
				s.Alloc = v
			case "mem":
				s.Mem = v
			}
		}
	}
	return s
}

// peerSocket describes the other end of c as the kernel has it, when both
// ends are on this machine: its TCP state and send queue, from
// /proc/net/tcp ("" if it is not found: the peer's socket is gone).
func peerSocket(c *net.TCPConn) string {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return ""
	}
	hexAddr := func(a net.Addr) string {
		ta, ok := a.(*net.TCPAddr)
		if !ok || ta.IP.To4() == nil {
			return ""
		}
		ip := ta.IP.To4()
		return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ta.Port)
	}
	local, remote := hexAddr(c.RemoteAddr()), hexAddr(c.LocalAddr()) // the peer's view
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[1] == local && f[2] == remote {
			return "state " + f[3] + ", tx:rx queues " + f[4]
		}
	}
	return ""
}
