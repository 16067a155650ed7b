package fanout

// ParkedWriters returns how many writer goroutines h's core keeps parked.
func (h *Hub) ParkedWriters() int { return h.c.writers.parked() }

// FanoutInline is how many writers a fan-out starts on the publishing
// goroutine, at most.
const FanoutInline = fanoutInline

// WritersIdle reports whether no subscriber of h has a writer running
// (or about to run): an on-demand writer started when it subscribed has
// finished.
func (h *Hub) WritersIdle() bool {
	for _, s := range h.c.subscribers() {
		s.mu.Lock()
		busy := s.writing || !s.onDemand.Load()
		s.mu.Unlock()
		if busy {
			return false
		}
	}
	return true
}

// ParkedWriters returns how many writer goroutines b's core keeps parked.
func (b *Broker) ParkedWriters() int { return b.c.writers.parked() }
