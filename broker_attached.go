package fanout

// inheritAccess gives an attached Broker the Hub's Authorize and hooks,
// field by field, where the Broker sets none of its own: a second door
// into a Hub must not let in whom the first refuses (a Broker's default
// Authorize trusts ?topic=), nor bypass the hooks the Hub relies on to
// know who is here. A field the Broker does set is its own, explicit
// choice (see BrokerOptions.Hub).
func (o *BrokerOptions) inheritAccess(h *HubOptions) {
	if o.Authorize == nil {
		o.Authorize = h.Authorize
	}
	if o.OnConnect == nil {
		o.OnConnect = h.OnConnect
	}
	if o.OnDisconnect == nil {
		o.OnDisconnect = h.OnDisconnect
	}
	if o.OnResync == nil {
		o.OnResync = h.OnResync
	}
	if o.OnJoin == nil {
		o.OnJoin = h.OnJoin
	}
	if o.OnLeave == nil {
		o.OnLeave = h.OnLeave
	}
}
