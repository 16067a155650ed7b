package redis

import (
	"fmt"
	"strconv"
)

// Where a partition's keys live on a Redis Cluster. Every key and
// channel of partition p shares one hash tag, so one slot (the scripts
// touch several keys at once, which a Cluster allows within a slot
// only). A Cluster hashes a tag to a slot with CRC16 (XMODEM) modulo
// 16384; the tags of consecutive partitions, {fanout:0}, {fanout:1}, …,
// give slots that grow by a fixed step modulo 16384 (867, 4930, 8993,
// …), so that few partitions cluster in a few masters' ranges: the
// default 16 landed 8, 5 and 3 on three masters, and none on four of
// eight. So on a Cluster, partition p of P is tagged {prefix:p.N}, with
// the smallest N ≥ 0 whose slot is the middle slot of the p-th of P
// equal ranges of the slot space, (2p+1)·16384/(2P): evenly spaced
// slots, of which any number of equal contiguous ranges (the masters of
// a Cluster made by redis-cli --cluster create) holds as many as the
// others, give or take one. (The smallest N whose slot is anywhere in
// the p-th range is not enough: two neighbours may then fall on either
// side of a master's boundary, and one master of three may get 4 of 16
// while the others get 6.) The tags are computed once, in New: about
// 20,000 candidates N per partition, an xor or two each (see
// partitionTag): 4 ms for 16 partitions, 60 ms for the most (1000), on
// a loaded 2-core machine (BenchmarkPartitionTags).
//
// A standalone Redis (or Sentinel) has no slots: its partitions keep
// the tags {prefix:p}, as before. On a Cluster, nodes of older versions
// (v0.1.0), which tagged {prefix:p} there too, would split the traffic with these: see
// layout.go for how each side refuses the other.

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// crcTable is CRC16-XMODEM (polynomial 0x1021, no reflection, initial
// value 0), Redis Cluster's key hash, one byte at a time.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// crc16 continues crc over s.
func crc16[T string | []byte](crc uint16, s T) uint16 {
	for i := range len(s) {
		crc = crc<<8 ^ crcTable[byte(crc>>8)^s[i]]
	}
	return crc
}

// keySlot is the Cluster slot of a key (or channel) name: the CRC16 of
// its hash tag (what lies between its first '{' and the next '}', when
// that is not empty), or of the whole name, modulo 16384, as Redis's
// CLUSTER KEYSLOT computes it.
func keySlot(key string) int {
	for i := range len(key) {
		if key[i] != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j > i+1 {
					key = key[i+1 : j]
				}
				return int(crc16(0, key) % clusterSlots)
			}
		}
		break
	}
	return int(crc16(0, key) % clusterSlots)
}

// partitionTag returns the hash tag of partition p of n under prefix:
// {prefix:p} when spread is false (a standalone Redis, or Sentinel),
// else {prefix:p.N}, whose slot is spreadSlot(p, n) (see above).
func partitionTag(prefix string, p, n int, spread bool) string {
	base := prefix + ":" + strconv.Itoa(p)
	if !spread {
		return "{" + base + "}"
	}
	base += "."
	want, crc := uint16(spreadSlot(p, n)), crc16(0, base)
	// CRC16 is linear: the CRC of base and the digits of N is that of
	// base and as many zero bytes, xor each digit's (digitCRC), so the
	// next N costs an xor or two, not a CRC of its own.
	var digits [20]byte // N's digits, the last first
	width, zeros := 1, crc16(crc, []byte{0})
	x := digitCRC[0][0]
	for i := uint64(0); ; i++ {
		if (zeros^x)%clusterSlots == want {
			return fmt.Sprintf("{%s%d}", base, i)
		}
		k := 0
		for ; k < width && digits[k] == 9; k++ { // 9s roll over to 0s
			x ^= digitCRC[k][9] ^ digitCRC[k][0]
			digits[k] = 0
		}
		if k == width { // one digit more: a 1 in front
			width++
			zeros = crc16(crc, make([]byte, width))
			x ^= digitCRC[k][1]
			digits[k] = 1
			continue
		}
		x ^= digitCRC[k][digits[k]] ^ digitCRC[k][digits[k]+1]
		digits[k]++
	}
}

// digitCRC[k][d] is the CRC16 of digit d followed by k zero bytes: what
// the digit, k places from the end of a name, adds to the name's CRC.
var digitCRC = func() (t [20][10]uint16) {
	for k := range t {
		for d := range t[k] {
			b := make([]byte, k+1)
			b[0] = '0' + byte(d)
			t[k][d] = crc16(0, b)
		}
	}
	return t
}()

// spreadSlot is the slot of partition p of n on a Cluster: the middle
// of the p-th of n equal ranges.
func spreadSlot(p, n int) int { return (2*p + 1) * clusterSlots / (2 * n) }
