#!/bin/bash
# Used by docs/capacity.md: bash bench/results/capacity-redis-receivers.sh > bench/results/capacity-redis-receivers.txt; C=1 P=1 N=50000 bash … > capacity-redis-receivers-unpipelined.txt
# Each receiver is a redis-cli SUBSCRIBE process; redis-benchmark publishes 200,000 PUBLISH of 64 bytes (16 connections, pipelines of 16).
# Redis CPU per PUBLISH against the number of subscribed connections of the channel (64-byte payload).
port=$((20000 + RANDOM % 20000))
dir=$(mktemp -d)
redis-server --port $port --save "" --appendonly no --dir $dir --daemonize no >/dev/null 2>&1 &
rpid=$!
sleep 0.5
payload=$(head -c 64 /dev/zero | tr '\0' x)
cpu() { redis-cli -p $port INFO cpu | awk -F: '/used_cpu_(sys|user):/{s+=$2} END{printf "%.6f", s}'; }
echo "# redis-benchmark -c ${C:-16} -P ${P:-16} -n ${N:-200000}; redis-server $(redis-server --version | awk '{print $3}'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "receivers  publishes  redis_cpu_s  us_per_publish"
subs=()
for k in 0 1 4 16 64; do
  while [ ${#subs[@]} -lt $k ]; do
    redis-cli -p $port SUBSCRIBE ch >/dev/null 2>&1 &
    subs+=($!)
  done
  sleep 0.5
  n=${N:-200000}
  c0=$(cpu)
  redis-benchmark -p $port -n $n -c ${C:-16} -P ${P:-16} -q PUBLISH ch $payload >/dev/null 2>&1
  c1=$(cpu)
  echo "$k $n $(echo "$c1 - $c0" | bc -l) $(echo "($c1 - $c0) * 1000000 / $n" | bc -l)" | awk '{printf "%-10s %-10s %-12.3f %.2f\n", $1, $2, $3, $4}'
done
echo "# load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
for p in "${subs[@]}"; do kill $p; done
kill $rpid; wait 2>/dev/null; rm -rf $dir
