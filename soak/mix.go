package main

// The clients of each node. Every kind reads fast somewhere, and every
// kind that resumes also reconnects at random and resets mid-stream;
// WebSocket clients of every framing join and leave topics live; the
// PolicyDrop group (slow readers whose drops are counted, and clients that
// never read) is on the node alone, which no fault touches, so that what
// its clients miss is what the node dropped, nothing else.
type group struct {
	spec spec
	n    int
}

// nodeMix is what each node of the system gets (single: drop is true).
func nodeMix(single bool) []group {
	g := []group{
		{spec{kind: kWSResume}, 2},
		{spec{kind: kWSResume, churn: churnReconnect}, 2},
		{spec{kind: kWSResume, churn: churnReset}, 2},
		{spec{kind: kWSResume, read: readSlow}, 1},
		{spec{kind: kWSResume, read: readSlow, churn: churnReset}, 1},
		{spec{kind: kWSResume, joins: true}, 1},
		{spec{kind: kWSResume, churn: churnReset, joins: true}, 1},
		{spec{kind: kWSPacked}, 1},
		{spec{kind: kWSPacked, churn: churnReset}, 1},
		{spec{kind: kWSPacked, read: readSlow}, 1},
		{spec{kind: kWSPacked, joins: true}, 1},
		{spec{kind: kWSPlain}, 1},
		{spec{kind: kWSPlain, churn: churnReconnect}, 1},
		{spec{kind: kWSPlain, read: readSlow}, 1},
		{spec{kind: kWSPlain, joins: true}, 1},
		{spec{kind: kSSE}, 2},
		{spec{kind: kSSE, churn: churnReconnect}, 1},
		{spec{kind: kSSE, churn: churnReset}, 2},
		{spec{kind: kSSE, read: readSlow}, 1},
		{spec{kind: kGoWS, churn: churnReset}, 1},
		{spec{kind: kGoWS, read: readSlow, churn: churnReconnect}, 1},
		{spec{kind: kGoSSE, churn: churnReset}, 1},
		{spec{kind: kGoSSE, read: readSlow}, 1},
		{spec{kind: kGoMix, churn: churnReconnect}, 1},
		{spec{kind: kWSPlain, read: readNever}, 1},
		{spec{kind: kSSE, read: readNever}, 1},
	}
	if single {
		g = append(g,
			group{spec{kind: kWSResume, read: readSlow, drop: true}, 2},
			group{spec{kind: kWSPlain, read: readSlow, drop: true}, 1},
			group{spec{kind: kWSPacked, read: readSlow, drop: true}, 1},
			group{spec{kind: kSSE, read: readSlow, drop: true}, 2},
			group{spec{kind: kWSPlain, read: readNever, drop: true}, 1},
			group{spec{kind: kSSE, read: readNever, drop: true}, 1},
		)
	}
	return g
}
