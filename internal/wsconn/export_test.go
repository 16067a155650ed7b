package wsconn

// Writing reports whether a write is in the socket (or about to be).
func (c *Conn) Writing() bool { return c.writing.Load() > 0 }
