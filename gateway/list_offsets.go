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
//   - A request's partitions are looked up concurrently (at most
//     listOffsetsParallelism at once), and a partition never written is
//     answered without claiming it (neverWritten), so that listing every
//     partition of a large topic stays fast and loads nothing.
//   - ACLs (authorize.go): DESCRIBE on each topic, else its partitions are
//     TOPIC_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sync/errgroup"

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

// listOffsetsParallelism bounds how many partitions one ListOffsets request
// looks up at once. A partition's first lookup claims it (a few store round
// trips); one after another, a consumer's first ListOffsets over a
// 10,000-partition topic would take tens of seconds.
const listOffsetsParallelism = 32

func (s *Server) handleListOffsets(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	type lookup struct {
		topic, partition int
		tp               index.TopicPartition
		current          int32
		timestamp        int64
	}
	var lookups []lookup
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t, _ := s.cfg.Topics.Topic(rt.Topic)
		denied := !s.authorize(ctx, c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, rt.Topic)
		st.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, 0, len(rt.Partitions))
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
			} else {
				lookups = append(lookups, lookup{len(resp.Topics), len(st.Partitions), tp, rp.CurrentLeaderEpoch, rp.Timestamp})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	// Each lookup writes only its own partition's answer.
	forEachLimited(len(lookups), listOffsetsParallelism, func(i int) {
		l := lookups[i]
		sp := &resp.Topics[l.topic].Partitions[l.partition]
		if code := s.checkLeaderEpoch(ctx, l.tp, l.current); code != 0 {
			sp.ErrorCode = code
			return
		}
		sp.Offset, sp.Timestamp, sp.ErrorCode = s.listOffset(ctx, l.tp, l.timestamp, tiered.Isolation(req.IsolationLevel))
	})
	if req.Version == 0 {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if sp := &resp.Topics[i].Partitions[j]; sp.ErrorCode == 0 {
					sp.OldStyleOffsets = []int64{sp.Offset}
				}
			}
		}
	}
	return respond(resp), nil
}

// forEachLimited calls fn(0) to fn(n-1), at most limit at a time, and
// returns when every call has returned.
func forEachLimited(n, limit int, fn func(i int)) {
	var g errgroup.Group
	g.SetLimit(limit)
	for i := range n {
		g.Go(func() error { fn(i); return nil })
	}
	_ = g.Wait()
}

// neverWritten reports whether tp is known to hold no record without
// claiming it: no claim of it is known and the store holds no head for it
// (a claim writes the head before any record is appended). ListOffsets then
// answers from that alone, so listing a new topic's offsets loads none of
// its partitions.
func (s *Server) neverWritten(ctx context.Context, tp index.TopicPartition) bool {
	if s.cfg.LeaderEpochs == nil {
		return false
	}
	if _, ok := s.cfg.LeaderEpochs.LeaderClaim(tp); ok {
		return false
	}
	rev, err := s.cfg.LeaderEpochs.PartitionRevision(ctx, tp)
	return err == nil && rev == 0
}

func (s *Server) listOffset(ctx context.Context, tp index.TopicPartition, ts int64, iso tiered.Isolation) (offset, timestamp int64, code int16) {
	if ts < earliestLocalTimestamp {
		return -1, -1, kerr.InvalidRequest.Code
	}
	if s.neverWritten(ctx, tp) {
		switch ts {
		case latestTimestamp, earliestTimestamp, earliestLocalTimestamp:
			return 0, -1, 0
		}
		return -1, -1, 0 // no record at or after any timestamp
	}
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
