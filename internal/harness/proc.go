//go:build linux

package harness

import (
	"os"
	"strconv"
	"strings"
)

// ProcStatus returns a "kB" field ("VmRSS:", "VmHWM:") of a
// /proc/PID/status file (path) in bytes, 0 where there is none.
func ProcStatus(path, field string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}
