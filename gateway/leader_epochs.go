package gateway

// OffsetForLeaderEpoch: v0-v4
//
// Behavior (KIP-320):
//   - Metadata reports each partition's latest claimed leader epoch
//     (Config.LeaderEpochs; every claim publishes its epoch, see
//     coordinator/leaders.go). Fetch (v9+), ListOffsets (v4+) and
//     OffsetForLeaderEpoch (v2+) check the CurrentLeaderEpoch a client sends
//     against the epoch this leader holds the partition at: an older one gets
//     FENCED_LEADER_EPOCH (the client's metadata is stale), a newer one
//     UNKNOWN_LEADER_EPOCH (when a later claim is published, this gateway's
//     is stale: it lets the partition go and reloads it on the next request).
//   - OffsetForLeaderEpoch answers from the partition's epoch history (the
//     last 64 claims) as Kafka's leader epoch cache: the end offset of the
//     requested epoch, so a consumer can tell whether the log was truncated
//     under it (it never is here: every acknowledged record is committed).
//
// ACLs (authorize.go): CLUSTER_ACTION on the cluster, or DESCRIBE on each
// topic, else its partitions are TOPIC_AUTHORIZATION_FAILED.
//
// Deviation: requests from followers (ReplicaID >= 0) are answered the same;
// there are no follower replicas.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/tiered/index"
)

// checkLeaderEpoch compares a request's CurrentLeaderEpoch (-1: not sent)
// with the epoch this gateway holds tp at, and returns the error code to
// answer with, 0 when it matches.
func (s *Server) checkLeaderEpoch(ctx context.Context, tp index.TopicPartition, current int32) int16 {
	if current < 0 {
		return 0
	}
	epoch, err := s.cfg.Logs.LeaderEpoch(ctx, tp)
	switch {
	case err != nil:
		return errorCode(err)
	case current < epoch:
		// The client's epoch is older than this leader's claim. If that
		// claim is not published (its publication failed: the store was
		// unreachable for the moment), Metadata cannot tell the client
		// a newer epoch, and the client would be fenced again after each
		// refresh: publish it now.
		if s.cfg.LeaderEpochs != nil && s.cfg.LeaderEpochs.LeaderEpoch(tp) < epoch {
			if err := s.cfg.LeaderEpochs.PublishLeaderEpoch(ctx, tp, s.cfg.NodeID, s.cfg.Incarnation, epoch); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("publish leader epoch", "partition", tp.Partition, "epoch", epoch, "err", err)
			}
		}
		return kerr.FencedLeaderEpoch.Code
	case current > epoch:
		// When a later claim is published, what this gateway holds is
		// stale: reload on the next request. (Without that evidence the
		// client is simply ahead of us, or making epochs up.)
		if s.cfg.LeaderEpochs != nil && s.cfg.LeaderEpochs.LeaderEpoch(tp) > epoch {
			s.cfg.Logs.ReleaseUnless(func(other index.TopicPartition) bool { return other != tp })
		}
		return kerr.UnknownLeaderEpoch.Code
	}
	return 0
}

func (s *Server) handleOffsetForLeaderEpoch(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	// CLUSTER_ACTION (a replica's) covers every topic, as in Kafka.
	replica := s.cfg.Authorizer != nil && s.authorizeCluster(ctx, c, kmsg.ACLOperationClusterAction)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t, _ := s.cfg.Topics.Topic(rt.Topic)
		denied := !replica && !s.authorize(ctx, c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition, sp.LeaderEpoch, sp.EndOffset = rp.Partition, -1, -1
			tp, exists := t.Partition(rp.Partition)
			switch {
			case denied:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case !exists:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !s.view.leads(t, tp):
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				if code := s.checkLeaderEpoch(ctx, tp, rp.CurrentLeaderEpoch); code != 0 {
					sp.ErrorCode = code
					break
				}
				epoch, end, err := s.cfg.Logs.EndOffsetFor(ctx, tp, rp.LeaderEpoch)
				if err != nil {
					sp.ErrorCode = errorCode(err)
					break
				}
				sp.LeaderEpoch, sp.EndOffset = epoch, end
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp), nil
}
