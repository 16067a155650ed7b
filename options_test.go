package fanout

import (
	"testing"
	"time"
)

func TestDeliveryOptions_withDefaults(t *testing.T) {
	cases := []struct {
		name string
		in   DeliveryOptions
		want time.Duration
	}{
		{"zero means 10s", DeliveryOptions{}, 10 * time.Second},
		{"negative means none", DeliveryOptions{WriteTimeout: -1}, -1},
		{"positive kept", DeliveryOptions{WriteTimeout: time.Second}, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			once := tc.in.withDefaults()
			twice := once.withDefaults()
			if once.WriteTimeout != tc.want || twice.WriteTimeout != tc.want {
				t.Fatalf("WriteTimeout: once %v, twice %v, want %v", once.WriteTimeout, twice.WriteTimeout, tc.want)
			}
			if twice.QueueSize != 4096 || twice.MaxBatch != 64 || twice.QueueBytes != 4<<20 || twice.MaxBatchBytes != 256<<10 {
				t.Fatalf("defaults not applied: %+v", twice)
			}
		})
	}
	h := NewHub(&HubOptions{DeliveryOptions: DeliveryOptions{WriteTimeout: -1}})
	defer h.Close()
	if h.c.opts.WriteTimeout > 0 {
		t.Fatalf("NewHub turned a negative WriteTimeout into %v", h.c.opts.WriteTimeout)
	}
}
