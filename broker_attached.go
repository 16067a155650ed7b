package fanout

import (
	"reflect"
	"strings"
)

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

// mustNotOwnCore panics when o, attached to a Hub, sets an option of the
// core it shares with the Hub: the Broker would ignore it, and a
// configuration that says what does not happen is a mistake found best
// at startup, as net/http's ServeMux finds two handlers for one pattern.
// (NewBroker returns no error: a standalone Broker cannot fail, and an
// attached one fails only so.) Every field of DeliveryOptions and Limits
// counts, with those added later.
func (o *BrokerOptions) mustNotOwnCore() {
	var set []string
	d := reflect.ValueOf(o.DeliveryOptions)
	for i := range d.NumField() {
		if !d.Field(i).IsZero() {
			set = append(set, "DeliveryOptions."+d.Type().Field(i).Name)
		}
	}
	if o.Limits != (Limits{}) {
		set = append(set, "Limits")
	}
	if o.Replay != nil {
		set = append(set, "Replay")
	}
	if o.Engine != nil {
		set = append(set, "Engine")
	}
	if len(set) > 0 {
		panic("fanout: NewBroker: with Hub set, BrokerOptions must not set " + strings.Join(set, ", ") +
			": an attached Broker has the Hub's (see BrokerOptions.Hub)")
	}
}
