package redis

// SetReadScan bounds how many stream entries one call of the read script
// examines (0: the default), so that tests reach the bound with few
// messages.
func SetReadScan(e *Engine, n int) {
	if n <= 0 {
		n = readScan
	}
	e.readScan.Store(int64(n))
}
