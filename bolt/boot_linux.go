package bolt

import (
	"bytes"
	"os"
)

// bootID returns an ID of this boot of the machine: the page cache, and
// so what a NoSync session wrote without syncing, lasts as long as it.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}
