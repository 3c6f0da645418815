package placement

import (
	"encoding/binary"
	"hash/fnv"
)

// partitionHash is a partition's key for rank.
func partitionHash(topicID [16]byte, partition int32) uint64 {
	h := fnv.New64a()
	h.Write(topicID[:])
	var pb [4]byte
	binary.BigEndian.PutUint32(pb[:], uint32(partition))
	h.Write(pb[:])
	return h.Sum64()
}

// keyHash is a string's key for rank (FNV-1a, 64 bits).
func keyHash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// rank mixes a key's hash with a node id (SplitMix64's finalizer), so that
// every gateway computes the same ranking. For one key, distinct node ids
// never tie: the mix is a bijection of the node id.
func rank(base uint64, nodeID int32) uint64 {
	return mix(base, uint64(uint32(nodeID)))
}

// mix is rank for any 64-bit unit id; racks are ranked by the hash of their
// name.
func mix(base, x uint64) uint64 {
	z := base ^ (x * 0x9E3779B97F4A7C15)
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}
