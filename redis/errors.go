package redis

import "errors"

// ErrLayout is returned (wrapped, with what differs) by every use of an
// Engine whose layout differs from the one recorded in Redis, under the
// same Prefix, by the nodes that came first: another number of
// partitions (Options.Partitions), or on a Redis Cluster the key names
// of an older version (v0.1.0 named a Cluster's partitions {prefix:p}:
// see the package documentation, Cluster key layout). Nodes of two
// layouts would not see each other's messages. Give every node of one
// Prefix the same Partitions and version's layout (see
// Options.Partitions for changing it). Stats.Refused reports it.
var ErrLayout = errors.New("fanout/redis: the nodes on this Redis and prefix use another layout")
