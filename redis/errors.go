package redis

import "errors"

// ErrLayout is returned (wrapped, with both numbers) by every use of an
// Engine whose Options.Partitions differs from the number recorded in
// Redis, under the same Prefix, by the nodes that came first: nodes that
// spread the topics over different partitions would not see each
// other's messages. Give every node of one Prefix the same Partitions
// (see Options.Partitions for changing it).
var ErrLayout = errors.New("fanout/redis: the nodes on this Redis and prefix use another number of partitions")
