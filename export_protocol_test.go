package fanout

// The wire encoders that packed_vectors_test.go checks against
// testdata/protocol.
var (
	WSFraming    = wsFraming
	ResyncSignal = resyncSignal
	SSEClose     = sseClose
	SSEHeartbeat = sseHeartbeat
	SSERetry     = sseRetry
)
