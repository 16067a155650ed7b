# Which Redis Cluster master each partition of the fanout Redis engine lands
# on, with the slots split in equal contiguous ranges as
# `redis-cli --cluster create` splits them: the tags of v0.1.0, {Prefix:p}
# ("old"), against the spread tags {Prefix:p.N} ("spread": the smallest N
# whose slot is the middle of the p-th 1/P of the slots, (2p+1)*16384/(2P);
# see redis/slots.go).
# python3 bench/results/capacity-partition-slots-spread.py > bench/results/capacity-partition-slots-spread.txt
def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc

assert crc16(b"123456789") == 0x31C3  # the Redis Cluster spec's check value

def spread_tag(prefix, p, parts):
    want = (2 * p + 1) * 16384 // (2 * parts)
    n = 0
    while crc16(f"{prefix}:{p}.{n}".encode()) % 16384 != want:
        n += 1
    return f"{prefix}:{p}.{n}"

def master_ranges(masters):
    # redis-cli's clusterManagerCommandCreate: lround(cursor + slots_per_node - 1)
    per, first, cursor, out = 16384 / masters, 0, 0.0, []
    for i in range(masters):
        last = int(cursor + per - 1 + 0.5)
        if last > 16383 or i == masters - 1:
            last = 16383
        out.append((first, last))
        first, cursor = last + 1, cursor + per
    return out

def per_master(slots, masters):
    counts = [0] * masters
    for s in slots:
        for i, (lo, hi) in enumerate(master_ranges(masters)):
            if lo <= s <= hi:
                counts[i] += 1
    return sorted(counts)

print("prefix   partitions masters  old: per master (sorted)   busiest/mean  spread: per master (sorted)   busiest/mean")
for prefix in ("fanout", "app"):
    for parts in (16, 32, 64, 128, 256):
        old = [crc16(f"{prefix}:{p}".encode()) % 16384 for p in range(parts)]
        new = [crc16(spread_tag(prefix, p, parts).encode()) % 16384 for p in range(parts)]
        for masters in (3, 6, 8, 12):
            o, n = per_master(old, masters), per_master(new, masters)
            mean = parts / masters
            print(f"{prefix:8} {parts:10} {masters:7}  {str(o):28} {max(o) / mean:.2f}          {str(n):29} {max(n) / mean:.2f}")
print("# the tags of fanout's 16 partitions:", " ".join("{%s}" % spread_tag("fanout", p, 16) for p in range(16)))
