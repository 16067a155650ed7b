// Package fanoutprom exports the metrics of a fanout Hub or Broker to
// Prometheus. It is a module of its own
// (github.com/fanout-go/fanout/prometheus), so that the fanout module
// itself does not require client_golang. Its package name is fanoutprom,
// not prometheus, so that it can be imported beside client_golang's
// prometheus package without renaming either.
//
// # Wiring
//
// An Observer measures what only the Hub's writers and policies see; it
// goes into the Hub's DeliveryOptions before NewHub, since the options are
// copied. A Collector reads the Hub's Stats, subscribers and engine on
// each scrape, and exports them with what the Observer measured:
//
//	obs := fanoutprom.NewObserver(nil)
//	hub := fanout.NewHub(&fanout.HubOptions{
//		DeliveryOptions: fanout.DeliveryOptions{Observer: obs},
//	})
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(fanoutprom.NewCollector(hub, obs))
//	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// A Broker attached to the Hub (BrokerOptions.Hub) shares its options,
// Observer and Stats: the one Collector counts both. A standalone Broker
// takes the Observer in BrokerOptions.DeliveryOptions and a Collector of
// its own. Several Hubs in one registry each need a label that tells
// them apart: prometheus.WrapRegistererWith(prometheus.Labels{"hub":
// "chat"}, reg).MustRegister(…).
//
// # Metrics
//
// From the Hub's Stats, on each scrape (counters, equal to the Stats
// field named):
//
//	fanout_messages_published_total          Published
//	fanout_messages_delivered_total          Delivered
//	fanout_messages_dropped_total            Dropped
//	fanout_batch_writes_total                Batches
//	fanout_socket_writes_total               Writes
//	fanout_bytes_written_total               Bytes
//	fanout_write_timeouts_total              Timeouts
//	fanout_slow_subscribers_closed_total     Closed
//	fanout_slow_subscribers_removed_total    Removed
//	fanout_inbound_messages_dropped_total    InboundDropped
//
// From the Hub's subscribers, on each scrape (a gauge; summed over
// transports, it is Stats.Subscribers):
//
//	fanout_subscribers{transport="websocket"|"sse"}
//
// From the Observer, as they happen:
//
//	fanout_messages_per_write{transport}              histogram: messages each batch write delivered
//	fanout_batch_write_duration_seconds{transport}    histogram: how long each batch write took
//	fanout_queue_depth_at_write{transport}            histogram: messages left queued behind each batch
//	fanout_slow_subscribers_total{reason,policy}      slow-subscriber events
//	fanout_resyncs_total{reason}                      resync signals sent
//
// Each histogram observes every batch: its count is Stats.Batches (over
// both transports), and the sum of fanout_messages_per_write is
// Stats.Delivered. The reason of a slow event is "queue_full" or
// "write_timeout", its policy the one applied ("close", "drop" or
// "remove", after DeliveryOptions.OnSlow). The reason of a resync is
// "unknown" (a client resumed from an ID the history does not hold),
// "unavailable" (the history could not be read for it) or "lost" (the
// engine lost messages that streaming subscribers were to get: each
// subscriber resynced counts one). Every combination of labels is
// exported from the start, at zero.
//
// From the engine, when it is a fanout.MeasuredEngine (the Redis engine:
// its feed's lag and its recoveries), on each scrape: each of its
// metrics, as "fanout_engine_" + its name, with its labels.
//
// # Cost
//
// Without an Observer, a Hub measures nothing for one. With one, each
// batch write costs two clock readings and three histogram observations
// (about 0.1 to 0.2µs in all, next to the microseconds of the socket
// write) and no allocation; publishing costs nothing more either way. A
// scrape walks the Hub's subscribers once to count them by transport.
package fanoutprom
