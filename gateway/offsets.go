package gateway

// OffsetCommit: v0-v9, OffsetFetch: v0-v9, OffsetDelete: v0
//
// Behavior:
//   - Commits are checked against the group first (coordinator/group
//     CheckCommit): a standalone consumer (generation -1, no member id) may
//     commit to a group without members; a member needs its current generation
//     (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID as Kafka), and
//     commits wait out the assignment phase with REBALANCE_IN_PROGRESS.
//     Members of consumer-protocol groups (KIP-848) commit with v9+ and their
//     member epoch (STALE_MEMBER_EPOCH, UNKNOWN_MEMBER_ID; older versions get
//     UNSUPPORTED_VERSION); see consumer_groups.go.
//   - Offsets, leader epochs and metadata (at most offset.metadata.max.bytes,
//     4096, else OFFSET_METADATA_TOO_LARGE) are stored in the coordinator by
//     compare-and-swap, one record per group, topic and 1,024 partitions, so
//     no gateway crash loses a committed offset. A commit whose records would
//     exceed the coordinator's record limit (long metadata on many
//     partitions) gets OFFSET_METADATA_TOO_LARGE. Unknown topics or partitions get
//     UNKNOWN_TOPIC_OR_PARTITION.
//   - OffsetFetch returns -1 for partitions without a commit; a null topic
//     list (v2+) returns every committed topic; v8 fetches several groups; v9
//     checks the consumer-protocol member and epoch it names.
//     RequireStable (v7+, KIP-447) answers UNSTABLE_OFFSET_COMMIT for a
//     partition whose offset a transaction has committed and not yet ended
//     (transactions.go), so a consumer does not start from an offset that
//     is about to move.
//
//   - OffsetDelete (KIP-496) removes committed offsets; a consumer group with
//     members keeps those of topics a member subscribes to
//     (GROUP_SUBSCRIBED_TO_TOPIC), and a non-consumer group with members keeps
//     all (NON_EMPTY_GROUP); a group with neither members nor offsets is
//     GROUP_ID_NOT_FOUND.
//
// ACLs (authorize.go): OffsetCommit needs READ on the group (else every
// partition is GROUP_AUTHORIZATION_FAILED) and on each topic
// (TOPIC_AUTHORIZATION_FAILED); OffsetFetch DESCRIBE on the group and on each
// topic named (TOPIC_AUTHORIZATION_FAILED), and leaves out of an all-topics
// answer the topics the principal may not DESCRIBE; OffsetDelete DELETE on the
// group and READ on each topic.
//
// Committed offsets expire after the retention (offsets.retention.minutes):
// see offset_retention.go. Deviation: RetentionTimeMillis (v2-v4) is ignored,
// as Kafka does from v5 on.

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/coordinator/group"
)

// maxOffsetMetadata is Kafka's offset.metadata.max.bytes.
const maxOffsetMetadata = 4096

// GroupOffsets stores committed offsets; the coordinator implements it.
type GroupOffsets interface {
	CommitOffsets(ctx context.Context, group, topic string, offsets map[int32]coordinator.CommittedOffset) error
	FetchOffsets(ctx context.Context, group, topic string) (map[int32]coordinator.CommittedOffset, error)
	OffsetTopics(ctx context.Context, group string) ([]string, error)
	OffsetGroups(ctx context.Context) ([]string, error)
	DeleteGroupOffsets(ctx context.Context, group string) error
	DeleteOffsets(ctx context.Context, group, topic string, partitions []int32) error
	ExpireOffsets(ctx context.Context, group, topic string, beforeMs int64) (int, error)
	// DeleteTopicOffsets removes every group's offsets for a deleted topic.
	DeleteTopicOffsets(ctx context.Context, topic string) error
}

func (s *Server) handleOffsetCommit(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	generation, member := req.Generation, req.MemberID
	if req.Version == 0 {
		generation, member = -1, ""
	}
	// Kafka checks the group, then the group id, then each topic, before
	// the group coordinator checks the member.
	var (
		requestErr error // for every partition
		check      func(topicID [16]byte, partition int32) error
		groupErr   error // for the partitions of authorized topics
	)
	switch {
	case !s.authorize(ctx, c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group):
		requestErr = kerr.GroupAuthorizationFailed
	case req.Group == "":
		requestErr = kerr.InvalidGroupID
	default:
		check, groupErr = s.groups.CheckCommit(ctx, group.CommitRequest{
			Group: req.Group, MemberID: member, InstanceID: deref(req.InstanceID), Generation: generation,
			MemberEpochs: req.Version >= 9,
		})
	}
	nowMs := s.now().UnixMilli()
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		t, _ := s.cfg.Topics.Topic(rt.Topic)
		topicDenied := requestErr == nil && !s.authorize(ctx, c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, rt.Topic)
		offsets := make(map[int32]coordinator.CommittedOffset, len(rt.Partitions))
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			_, exists := t.Partition(rp.Partition)
			switch {
			case requestErr != nil:
				sp.ErrorCode = errorCode(requestErr)
			case topicDenied:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case groupErr != nil:
				sp.ErrorCode = errorCode(groupErr)
			case !exists:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case check != nil && check(t.ID, rp.Partition) != nil:
				sp.ErrorCode = kerr.StaleMemberEpoch.Code
			case len(deref(rp.Metadata)) > maxOffsetMetadata:
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			default:
				epoch := rp.LeaderEpoch
				if req.Version < 6 {
					epoch = -1
				}
				offsets[rp.Partition] = coordinator.CommittedOffset{Offset: rp.Offset, LeaderEpoch: epoch, Metadata: deref(rp.Metadata), CommitMs: nowMs}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		if len(offsets) > 0 {
			if err := s.cfg.Offsets.CommitOffsets(ctx, req.Group, rt.Topic, offsets); err != nil {
				s.cfg.Logger.Warn("commit offsets", "group", req.Group, "topic", rt.Topic, "err", err)
				// Retriable, so the client commits again; except when
				// the offsets' metadata cannot fit, which no retry
				// changes.
				code := kerr.CoordinatorNotAvailable.Code
				if errors.Is(err, coordinator.ErrTooLarge) {
					code = kerr.OffsetMetadataTooLarge.Code
				}
				for i := range st.Partitions {
					if _, ok := offsets[st.Partitions[i].Partition]; ok {
						st.Partitions[i].ErrorCode = code
					}
				}
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp), nil
}

func (s *Server) handleOffsetFetch(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	describable := func(topic string) bool {
		return s.authorize(ctx, c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, topic)
	}
	groupAuthErr := func(group string) error {
		if !s.authorize(ctx, c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, group) {
			return kerr.GroupAuthorizationFailed
		}
		return nil
	}
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group = rg.Group
			topics := make([]kmsg.OffsetFetchRequestTopic, 0, len(rg.Topics))
			for _, t := range rg.Topics {
				topics = append(topics, kmsg.OffsetFetchRequestTopic{Topic: t.Topic, Partitions: t.Partitions})
			}
			if rg.Topics == nil {
				topics = nil
			}
			var fetched []kmsg.OffsetFetchResponseTopic
			err := groupAuthErr(rg.Group)
			if err == nil {
				err = s.groups.CheckFetch(ctx, rg.Group, deref(rg.MemberID), rg.MemberEpoch)
			}
			if err == nil {
				fetched, err = s.fetchOffsets(ctx, rg.Group, topics, req.RequireStable, describable)
			}
			g.ErrorCode = errorCode(err)
			for _, ft := range fetched {
				gt := kmsg.NewOffsetFetchResponseGroupTopic()
				gt.Topic = ft.Topic
				for _, p := range ft.Partitions {
					gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
					gt.Partitions = append(gt.Partitions, gp)
				}
				g.Topics = append(g.Topics, gt)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return respond(resp), nil
	}
	topics := req.Topics
	if req.Version < 2 && topics == nil {
		topics = []kmsg.OffsetFetchRequestTopic{}
	}
	err := groupAuthErr(req.Group)
	if err == nil {
		err = s.groups.CheckFetch(ctx, req.Group, "", -1)
	}
	if err != nil {
		// Before v2 there is no group-level error: each partition has it.
		resp.ErrorCode = errorCode(err)
		for _, rt := range topics {
			st := kmsg.NewOffsetFetchResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewOffsetFetchResponseTopicPartition()
				sp.Partition, sp.Offset, sp.ErrorCode = p, -1, resp.ErrorCode
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return respond(resp), nil
	}
	fetched, err := s.fetchOffsets(ctx, req.Group, topics, req.Version >= 7 && req.RequireStable, describable)
	resp.ErrorCode = errorCode(err)
	resp.Topics = fetched
	return respond(resp), nil
}

// fetchOffsets reads the group's committed offsets for topics, or for every
// topic it committed when topics is nil. With requireStable, a partition
// with offsets pending in a transaction is UNSTABLE_OFFSET_COMMIT (KIP-447).
// A topic not describable is TOPIC_AUTHORIZATION_FAILED when named, and left
// out when every topic is asked for.
func (s *Server) fetchOffsets(ctx context.Context, group string, topics []kmsg.OffsetFetchRequestTopic, requireStable bool, describable func(string) bool) ([]kmsg.OffsetFetchResponseTopic, error) {
	if group == "" {
		return nil, kerr.InvalidGroupID
	}
	var pending map[string]map[int32]bool
	if requireStable && s.txns != nil {
		var err error
		if pending, err = s.txns.pendingOffsets(ctx, group); err != nil {
			return nil, fmt.Errorf("%w: %w", kerr.CoordinatorNotAvailable, err)
		}
	}
	if topics == nil {
		names, err := s.cfg.Offsets.OffsetTopics(ctx, group)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", kerr.CoordinatorNotAvailable, err)
		}
		slices.Sort(names)
		for _, n := range names {
			if describable(n) {
				topics = append(topics, kmsg.OffsetFetchRequestTopic{Topic: n})
			}
		}
	}
	var out []kmsg.OffsetFetchResponseTopic
	for _, rt := range topics {
		if !describable(rt.Topic) {
			st := kmsg.NewOffsetFetchResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewOffsetFetchResponseTopicPartition()
				sp.Partition, sp.Offset, sp.LeaderEpoch, sp.ErrorCode = p, -1, -1, kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			out = append(out, st)
			continue
		}
		committed, err := s.cfg.Offsets.FetchOffsets(ctx, group, rt.Topic)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", kerr.CoordinatorNotAvailable, err)
		}
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = rt.Topic
		parts := rt.Partitions
		if parts == nil {
			for p := range committed {
				parts = append(parts, p)
			}
			slices.Sort(parts)
		}
		for _, p := range parts {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch = p, -1, -1
			if pending[rt.Topic][p] {
				sp.ErrorCode = kerr.UnstableOffsetCommit.Code
			} else if c, ok := committed[p]; ok {
				md := c.Metadata
				sp.Offset, sp.LeaderEpoch, sp.Metadata = c.Offset, c.LeaderEpoch, &md
			} else {
				empty := ""
				sp.Metadata = &empty
			}
			st.Partitions = append(st.Partitions, sp)
		}
		out = append(out, st)
	}
	return out, nil
}

func (s *Server) handleOffsetDelete(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if !s.authorize(ctx, c, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp), nil
	}
	// Topics the principal may not READ are answered before the group is
	// looked at, as Kafka's KafkaApis does before its group coordinator.
	denied := map[string]bool{}
	for _, rt := range req.Topics {
		if !s.authorize(ctx, c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, rt.Topic) {
			denied[rt.Topic] = true
		}
	}
	if len(req.Topics) > 0 && len(denied) == len(req.Topics) {
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetDeleteResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetDeleteResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return respond(resp), nil
	}
	members, subscribed, gerr := s.groupSubscriptions(ctx, req.Group)
	topics, err := s.cfg.Offsets.OffsetTopics(ctx, req.Group)
	switch {
	case gerr != nil:
		resp.ErrorCode = errorCode(gerr)
		return respond(resp), nil
	case err != nil:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return respond(resp), nil
	case !members && len(topics) == 0:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return respond(resp), nil
	case members && subscribed == nil:
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		return respond(resp), nil
	}
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		var code int16
		var parts []int32
		for _, rp := range rt.Partitions {
			parts = append(parts, rp.Partition)
		}
		if denied[rt.Topic] {
			code = kerr.TopicAuthorizationFailed.Code
		} else if subscribed[rt.Topic] {
			code = kerr.GroupSubscribedToTopic.Code
		} else if err := s.cfg.Offsets.DeleteOffsets(ctx, req.Group, rt.Topic, parts); err != nil {
			code = kerr.CoordinatorNotAvailable.Code
		}
		for _, p := range parts {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition, sp.ErrorCode = p, code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp), nil
}

// groupSubscriptions reports whether the group has members and, for a
// consumer group (classic with the "consumer" protocol, or
// consumer-protocol), the topics they subscribe to; subscribed is nil for a
// group with members of another protocol type, whose subscriptions are
// opaque.
func (s *Server) groupSubscriptions(ctx context.Context, name string) (members bool, subscribed map[string]bool, err error) {
	cd, ok, err := s.groups.ConsumerDescribe(ctx, name)
	if err != nil {
		return false, nil, err
	}
	if ok {
		subscribed = map[string]bool{}
		for _, t := range cd.Subscribed {
			subscribed[t] = true
		}
		return len(cd.Members) > 0, subscribed, nil
	}
	d, ok, err := s.groups.Describe(ctx, name)
	switch {
	case err != nil:
		return false, nil, err
	case !ok || len(d.Members) == 0:
		return false, map[string]bool{}, nil
	case d.ProtocolType != "consumer":
		return true, nil, nil
	}
	return true, subscribedTopics(d), nil
}

// subscribedTopics reads the consumer protocol's subscriptions from each
// member's metadata. Undecodable metadata subscribes to nothing.
func subscribedTopics(d group.Description) map[string]bool {
	out := map[string]bool{}
	if d.ProtocolType != "consumer" {
		return out
	}
	for _, m := range d.Members {
		var md kmsg.ConsumerMemberMetadata
		if md.ReadFrom(m.Metadata) != nil {
			continue
		}
		for _, t := range md.Topics {
			out[t] = true
		}
	}
	return out
}
