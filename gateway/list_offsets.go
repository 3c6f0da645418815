package gateway

// ListOffsets: v0-v8
//
// Behavior:
//   - Timestamp -1 (latest) is the high watermark; -2 (earliest) and -4
//     (earliest local, KIP-1005) are the log start offset; -3 (max timestamp,
//     KIP-734) is the record with the largest timestamp; any other timestamp is
//     the first record at or after it, or offset -1 when there is none.
//   - v0 answers in OldStyleOffsets (one offset; MaxNumOffsets is not honoured
//     beyond that, as modern Kafka).
//   - IsolationLevel is accepted; the last stable offset equals the high
//     watermark until transactions exist.
//   - LeaderEpoch is -1 (see Metadata).
//   - ACLs (authorize.go): DESCRIBE on each topic, else its partitions are
//     TOPIC_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/tiered"
	"github.com/stratalog/strata/tiered/index"
)

// Special ListOffsets timestamps (org.apache.kafka.common.requests.ListOffsetsRequest).
const (
	latestTimestamp        = -1
	earliestTimestamp      = -2
	maxTimestamp           = -3
	earliestLocalTimestamp = -4
)

func (s *Server) handleListOffsets(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t, _ := s.cfg.Topics.Topic(rt.Topic)
		denied := !s.authorize(ctx, c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			if denied {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else if _, internal := internalTopicNamed(rt.Topic, [16]byte{}, false); internal && rp.Partition >= 0 && rp.Partition < internalTopicPartitions {
				sp.Offset = 0 // no records (internal_topics.go)
			} else if tp, exists := t.Partition(rp.Partition); !exists {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else if !s.view.leads(t, tp) {
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
			} else if code := s.checkLeaderEpoch(ctx, tp, rp.CurrentLeaderEpoch); code != 0 {
				sp.ErrorCode = code
			} else {
				sp.Offset, sp.Timestamp, sp.ErrorCode = s.listOffset(ctx, tp, rp.Timestamp, tiered.Isolation(req.IsolationLevel))
			}
			if req.Version == 0 && sp.ErrorCode == 0 {
				sp.OldStyleOffsets = []int64{sp.Offset}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp), nil
}

func (s *Server) listOffset(ctx context.Context, tp index.TopicPartition, ts int64, iso tiered.Isolation) (offset, timestamp int64, code int16) {
	switch ts {
	case latestTimestamp, earliestTimestamp, earliestLocalTimestamp:
		o, err := s.cfg.Logs.Offsets(ctx, tp)
		switch {
		case err != nil:
			return -1, -1, errorCode(err)
		case ts == latestTimestamp && iso == tiered.ReadCommitted:
			return o.LastStable, -1, 0
		case ts == latestTimestamp:
			return o.HighWatermark, -1, 0
		}
		return o.LogStart, -1, 0
	case maxTimestamp:
		ts = tiered.TimestampMax
	default:
		if ts < 0 {
			return -1, -1, kerr.InvalidRequest.Code
		}
	}
	off, t, found, err := s.cfg.Logs.OffsetForTimestamp(ctx, tp, ts)
	if err != nil {
		return -1, -1, errorCode(err)
	}
	if !found {
		return -1, -1, 0
	}
	return off, t, 0
}
