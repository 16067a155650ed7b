package main

import (
	"fmt"
	"syscall"
)

// raiseFileLimit raises RLIMIT_NOFILE so that need descriptors fit: the
// soft limit up to the hard one, and the hard one too where the process may
// (root). It returns a note when the limit stays below need.
func raiseFileLimit(need uint64) string {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return "note: cannot read RLIMIT_NOFILE: " + err.Error()
	}
	if l.Cur >= need {
		return ""
	}
	want := l
	want.Cur = need
	if want.Max < need {
		want.Max = need
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err == nil {
		return ""
	}
	want = l
	want.Cur = l.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want)
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	if l.Cur >= need {
		return ""
	}
	return fmt.Sprintf("note: RLIMIT_NOFILE is %d, below the %d this run needs: connections beyond it will fail", l.Cur, need)
}
