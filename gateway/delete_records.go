package gateway

// DeleteRecords: v0-v2
//
// Behavior:
//   - Moves each partition's log start offset up to the offset asked for (-1:
//     the high watermark) and answers the new log start offset as the low
//     watermark, as Kafka's ReplicaManager.deleteRecords does. Offsets at or
//     below the current log start change nothing and answer it. Blocks wholly
//     below the new start leave the index at once; their objects are deleted
//     by garbage collection once no index references them (after the grace
//     period). A batch straddling the start stays, and consumers skip its
//     records below it, as with Kafka's segments.
//   - An offset above the high watermark, or below -1, is OFFSET_OUT_OF_RANGE;
//     an unknown partition is UNKNOWN_TOPIC_OR_PARTITION; a partition this
//     gateway does not lead is NOT_LEADER_OR_FOLLOWER (clients send each
//     partition to its leader).
//   - TimeoutMillis bounds the wait; the move may still land after it.
//   - ACLs (authorize.go): DELETE on each topic, else its partitions are
//     TOPIC_AUTHORIZATION_FAILED.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDeleteRecords(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	if timeout <= 0 {
		timeout = DefaultProduceTimeout
	}
	connCtx := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t, _ := s.cfg.Topics.Topic(rt.Topic)
		denied := !s.authorize(connCtx, c, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			tp, exists := t.Partition(rp.Partition)
			switch {
			case denied:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case !exists:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case !s.view.leads(t, tp):
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			case rp.Offset < -1:
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
			default:
				low, err := s.cfg.Logs.DeleteRecords(ctx, tp, rp.Offset)
				if err != nil {
					sp.ErrorCode = errorCode(err)
					s.cfg.Logger.Debug("delete records refused", "remote", c.remote, "topic", t.Name, "partition", rp.Partition, "offset", rp.Offset, "err", err)
				} else {
					sp.LowWatermark = low
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp), nil
}
