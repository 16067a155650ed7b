//go:build !linux

package sock

import "net"

// Unacked returns 0: how many bytes the peer has not acknowledged is only
// asked of Linux, so elsewhere only a failed write makes a close abort.
func Unacked(net.Conn) int { return 0 }
