package fanout

// ParkedWriters returns how many writer goroutines h's core keeps parked.
func (h *Hub) ParkedWriters() int { return h.c.writers.parked() }

// FanoutInline is how many writers a fan-out starts on the publishing
// goroutine, at most.
const FanoutInline = fanoutInline

// ParkedWriters returns how many writer goroutines b's core keeps parked.
func (b *Broker) ParkedWriters() int { return b.c.writers.parked() }
