package placement

import "github.com/stratalog/strata/coordinator"

// jobDomain prefixes job keys, so that a job and a group of the same name
// rank gateways independently. A group id that happens to equal a prefixed
// job key only shares its gateway with that job, which is harmless.
const jobDomain = "\x00strata.job\x00"

// Coordinator returns the node id coordinating a consumer group or a
// transactional id: the live gateway ranking highest for key, -1 when gws
// is empty. A gateway joining or leaving moves only the keys it wins or
// held.
func Coordinator(key string, gws []coordinator.Gateway) int32 {
	return highest(keyHash(key), gws, func(coordinator.Gateway) bool { return true })
}

// JobOwner returns the node id that runs a cluster-wide job (garbage
// collection, say): Coordinator's rule in a hash domain of its own, so jobs
// do not pile onto the gateway that also coordinates some busy group. -1
// when gws is empty.
func JobOwner(key string, gws []coordinator.Gateway) int32 {
	return highest(keyHash(jobDomain+key), gws, func(coordinator.Gateway) bool { return true })
}

// ReadReplica returns the gateway in rack that a consumer there should read
// a partition from (KIP-392's rack-aware replica selector): the one ranking
// highest for the partition among rack's live gateways, so reads spread over
// the rack; -1 when rack has none.
func ReadReplica(topicID [16]byte, partition int32, rack string, gws []coordinator.Gateway) int32 {
	return highest(partitionHash(topicID, partition), gws, func(g coordinator.Gateway) bool { return g.Rack == rack })
}

// highest returns the node id of the gateway in gws, among those ok
// accepts, ranking highest for base; -1 when there is none.
func highest(base uint64, gws []coordinator.Gateway, ok func(coordinator.Gateway) bool) int32 {
	best, bestRank, found := int32(-1), uint64(0), false
	for _, g := range gws {
		if !ok(g) {
			continue
		}
		if r := rank(base, g.NodeID); !found || r > bestRank {
			best, bestRank, found = g.NodeID, r, true
		}
	}
	return best
}
