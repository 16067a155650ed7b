#!/bin/bash
# Instructions of redis-server per publish script call (redis-publish-cost.txt section 7). Start the server first:
#   valgrind --tool=callgrind --callgrind-out-file=/tmp/sc2cg/cg.out.%p redis-server --port 7391 --save '' --appendonly no &
#   echo $! > /tmp/sc2cg/pid
# and assemble a variant: (echo "local publishing = true"; cat ensure.lua index.lua publish.lua) > cur.lua
# usage: redis-publish-callgrind.sh name scriptfile topics  -> prints Ir per publish
set -e
PORT=${PORT:-7391}
name=$1; src=$2
cli() { redis-cli -p $PORT "$@"; }
run=$(cli INFO server | grep run_id | cut -d: -f2 | tr -d '\r')
sed "s/^local run = false$/local run = '$run'/" $src > /tmp/sc2cg/$name.baked.lua
sha=$(cli SCRIPT LOAD "$(cat /tmp/sc2cg/$name.baked.lua)")
pre="p$RANDOM"
tag="{$pre:0}"
gen() { # n from topics
  for ((i=$2;i<$1+$2;i++)); do
    echo "EVALSHA $sha 3 $tag:meta $tag:log $tag:last node1 1 \"\" 0 $tag:live 0 1000 86400000 t$((i%$3)) t xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx 108000000"
  done
}
gen 1100 0 $3 | cli > /dev/null
callgrind_control -z $(cat /tmp/sc2cg/pid) >/dev/null
gen 2000 1100 $3 | cli > /dev/null
callgrind_control -d $(cat /tmp/sc2cg/pid) >/dev/null
f=$(ls -t /tmp/sc2cg/cg.out.* | head -1)
ir=$(grep -m1 "^summary:\|^totals:" $f | awk '{print $2}')
echo "$name topics=$3 Ir/publish=$((ir/2000))"
cli FLUSHALL >/dev/null
