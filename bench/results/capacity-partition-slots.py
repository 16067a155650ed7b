# Which Redis Cluster master each partition of the fanout Redis engine lands on
# (hash tag {Prefix:p}, slot = CRC16-XMODEM mod 16384), with the slots split in
# equal contiguous ranges as `redis-cli --cluster create` does.
# python3 bench/results/capacity-partition-slots.py > bench/results/capacity-partition-slots.txt
def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc

assert crc16(b"123456789") == 0x31C3  # the Redis Cluster spec's check value
print("prefix   partitions masters  partitions per master (sorted)   busiest/mean")
for prefix in ("fanout", "app"):
    for parts in (16, 32, 64, 128, 256):
        slots = [crc16(f"{prefix}:{p}".encode()) % 16384 for p in range(parts)]
        for masters in (3, 6, 8, 12):
            counts = [0] * masters
            for s in slots:
                counts[min(s * masters // 16384, masters - 1)] += 1
            print(f"{prefix:8} {parts:10} {masters:7}  {str(sorted(counts)):32} {max(counts) / (parts / masters):.2f}")
