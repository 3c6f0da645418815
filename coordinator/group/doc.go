// Package group runs Kafka consumer groups of both protocols. It decides; the
// gateway speaks the protocol and stores committed offsets in the coordinator,
// asking this package first whether a commit or fetch is allowed.
//
// Classic groups (JoinGroup/SyncGroup, group.go and sync.go): membership,
// rebalances, generations, leaders, session and rebalance timeouts, KIP-394
// member ids and KIP-345 static members.
//
// A group moves Empty → PreparingRebalance → CompletingRebalance → Stable, as in
// Kafka's GroupCoordinator: a join starts a rebalance; the rebalance completes
// when every known member has rejoined or the rebalance timeout passes (members
// that did not rejoin are dropped); the generation then increases and the leader
// gets every member's metadata; the leader's SyncGroup carries the assignments
// and makes the group Stable. A member whose session times out is dropped and
// starts a rebalance.
//
// Consumer-protocol groups (KIP-848, ConsumerGroupHeartbeat, consumer.go and
// assign.go): the coordinator assigns partitions with a server-side assignor
// and each member converges on its share through its heartbeats; see
// consumer.go. A group name is one type or the other while it has members.
//
// Membership is held in memory by the gateway coordinating the group and
// written to the coordinator store (Config.Store) before members are told of
// it, so a restarted gateway picks the group up where it was and members
// carry on without a rebalance; see persist.go. Committed offsets live in the
// coordinator store too (the gateway writes those).
//
// Locking: each Group has one mutex guarding all its fields; Coordinator.mu
// guards only the map of groups and is never held while taking a Group's.
//
//	c := group.New(group.Config{})
//	res := c.Join(ctx, group.JoinRequest{Group: "g", ProtocolType: "consumer", ...})
package group
