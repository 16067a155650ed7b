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

// SetAuditEvery makes every n-th check of e's followers an audit (0:
// the default), so that tests reach it.
func SetAuditEvery(e *Engine, n int) {
	for _, p := range e.parts {
		p.auditN.Store(int64(n))
	}
}
