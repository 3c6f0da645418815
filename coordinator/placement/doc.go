// Package placement is cluster policy: from the set of live gateways (each
// with a node id and a rack) it derives who leads each partition, who
// coordinates each consumer group and transactional id, who runs each
// cluster-wide job, and which gateway in a consumer's rack serves it replica
// reads. It also checks a partition claim against the membership stored right
// now (Claims).
//
// It leaves to others: keeping the live set (gateway leases are in
// coordinator, each gateway's view of them in gateway), acting on the
// answers (gateway routes clients and lets go of what it no longer leads,
// tiered claims and fences partitions), and what a group or transaction
// coordinator does (coordinator/group).
//
// # Invariants
//
//   - Leaders, Coordinator, JobOwner and ReadReplica are pure and
//     deterministic: every gateway computes the same answer from the same
//     live set, whatever its order. Views may differ for a moment while membership changes; nothing
//     depends on them agreeing, because writes are fenced in the coordinator
//     store (a new leader claims with the next leader epoch, a new group
//     coordinator writes by compare-and-swap).
//   - Every answer is a live gateway's node id, or -1 when there is none.
//   - Without racks (every Rack empty) or with one rack, Leaders gives what
//     gateways gave before racks counted, so a rolling upgrade moves nothing.
//
// # Ranking
//
// All choices use rendezvous (highest random weight) hashing: a key (a
// partition's topic id and index, a group id, a job name) is hashed with
// FNV-1a, mixed with each candidate gateway's node id by SplitMix64's
// finalizer, and the highest rank wins; racks, where they are ranked, are
// mixed in by the FNV-1a hash of their name. A candidate joining or leaving
// therefore only moves the keys it wins or held. Coordinator and ReadReplica
// take the highest-ranking live gateway (in the consumer's rack, for
// ReadReplica); JobOwner does the same on job keys put in a hash domain of
// their own, so jobs and groups spread independently.
//
// # Partition leaders
//
// Per topic of P partitions over G live gateways, no gateway leads more than
// the fair share S = ceil(P/G). Every gateway and every rack gets a quota, and
// partitions are placed in order, 0, 1, …, P-1, each with the highest-ranking
// gateway that still has room under its own quota and its rack's:
//
//   - One rack, or none set: each gateway's quota is S, and the rack's is P
//     (it never binds). This is the rule from before racks counted; the last
//     gateways to fill may end with fewer than P/G (7 partitions over 3
//     gateways can come out 3, 3, 1).
//   - Several racks: a rack may lead at most S per gateway it has, and racks
//     get quotas as even as those caps allow (water filling, smallest rack
//     first: a rack whose cap is at most an even split of what the racks
//     before it left takes its cap; the others split the rest evenly, the
//     remainder going one each to the racks ranking highest for the topic).
//     A rack's quota Q is split as evenly as can be over its n gateways:
//     each may lead floor(Q/n), and the first Q mod n of them to get there
//     one more. Quotas are met exactly, so with racks of equal size the
//     racks' counts differ by at most one, and so do the counts of the
//     gateways in a rack.
//
// The gateway cap comes before rack evenness: a rack short of gateways leads
// only its gateways' fair shares, and the other racks share the rest. Racks
// matter most for topics with few partitions per gateway, which they keep
// from piling into one rack. A gateway joining or leaving changes the quotas
// by about its share, and as placement is by rank under quotas, a partition
// keeps its leader unless that leader left, a joining gateway outranks it, or
// a quota ran out or made room; so about the gateway's share of partitions
// moves. Tight quotas (few partitions per gateway) move more than that, with
// racks or without (the tests bound it).
//
// # Usage
//
//	leaders := placement.Leaders(topic.ID, topic.Partitions, live)
//	node := placement.Coordinator(groupID, live)
//	gc := placement.JobOwner("gc", live) == self
//
//	inc := placement.NewIncarnation()
//	claims := &placement.Claims{Members: store, Topics: store, NodeID: id, Incarnation: inc}
//	log, err := tiered.New(tiered.Config{MayClaim: claims.MayClaim, ...})
package placement
