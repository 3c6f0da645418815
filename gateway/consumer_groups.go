package gateway

// ConsumerGroupHeartbeat: v0-v1, ConsumerGroupDescribe: v0-v1
//
// Behavior:
//   - The consumer group protocol of KIP-848: the coordinator assigns
//     partitions with the server-side "uniform" (default, sticky) or "range"
//     assignor, and members converge through heartbeats, revoking before
//     anyone else is given a partition; see coordinator/group (consumer.go).
//   - v1 members generate their own member ids and may subscribe by regular
//     expression (matched against whole topic names, as Kafka); v0 members get
//     an id from the coordinator. New topics matching a subscription, and new
//     partitions, are picked up within a second.
//   - Session timeout and heartbeat interval are the gateway's
//     (group.consumer.session.timeout.ms and
//     group.consumer.heartbeat.interval.ms: --group-consumer-session-timeout,
//     --group-consumer-heartbeat-interval; defaults 45 s and 5 s).
//   - Members commit with OffsetCommit v9+ using their member epoch; a commit
//     from an earlier epoch may cover only partitions the member held since
//     then (KIP-1251). OffsetFetch v9+ checks the member epoch it names.
//   - A group name is either classic or consumer-protocol while it has
//     members: a heartbeat for a classic group with members gets
//     GROUP_ID_NOT_FOUND, and a JoinGroup for a consumer-protocol group with
//     members INCONSISTENT_GROUP_PROTOCOL. An empty group changes type.
//
//   - ACLs (authorize.go): ConsumerGroupHeartbeat needs READ on the group
//     (GROUP_AUTHORIZATION_FAILED) and DESCRIBE on every topic subscribed to
//     by name (else TOPIC_AUTHORIZATION_FAILED, and nothing changes), as
//     Kafka; ConsumerGroupDescribe DESCRIBE on each group, and a group
//     whose members subscribe to or are assigned a topic the principal may
//     not DESCRIBE is TOPIC_AUTHORIZATION_FAILED, so that no topic name
//     leaks. Authorized operations are reported when asked.
//
// Deviations: members of classic groups cannot be migrated into
// consumer-protocol groups online (group.consumer.migration.policy is
// "disabled"); per-group configs (KIP-1101) are not served.

import (
	"context"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator/group"
)

func (s *Server) handleConsumerGroupHeartbeat(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	if !s.authorize(ctx, c, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return respond(resp), nil
	}
	for _, t := range req.SubscribedTopicNames {
		if !s.authorize(ctx, c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t) {
			resp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			return respond(resp), nil
		}
	}
	hb := group.ConsumerHeartbeat{
		Group:                req.Group,
		MemberID:             req.MemberID,
		MemberEpoch:          req.MemberEpoch,
		InstanceID:           req.InstanceID,
		RackID:               req.RackID,
		ClientID:             c.clientID,
		ClientHost:           clientHost(c),
		RebalanceTimeout:     -1,
		SubscribedTopicNames: req.SubscribedTopicNames,
		SubscribedTopicRegex: req.SubscribedTopicRegex,
		ServerAssignor:       req.ServerAssignor,
		AssignMemberID:       req.Version == 0,
	}
	if req.RebalanceTimeoutMillis >= 0 {
		hb.RebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	if req.Topics != nil {
		hb.Owned = make(group.Assignment, len(req.Topics))
		for _, t := range req.Topics {
			hb.Owned[t.TopicID] = append(hb.Owned[t.TopicID], t.Partitions...)
		}
	}
	res := s.groups.ConsumerHeartbeat(ctx, hb)
	resp.ErrorCode = errorCode(res.Err)
	if res.Err != nil {
		msg := res.Err.Error()
		resp.ErrorMessage = &msg
	}
	resp.MemberID, resp.MemberEpoch = &res.MemberID, res.MemberEpoch
	resp.HeartbeatIntervalMillis = int32(res.HeartbeatInterval.Milliseconds())
	if res.Assignment != nil {
		a := &kmsg.ConsumerGroupHeartbeatResponseAssignment{Topics: []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}}
		for _, id := range slices.SortedFunc(maps.Keys(res.Assignment), compareTopicIDs) {
			t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			t.TopicID, t.Partitions = id, res.Assignment[id]
			a.Topics = append(a.Topics, t)
		}
		resp.Assignment = a
	}
	return respond(resp), nil
}

func (s *Server) handleConsumerGroupDescribe(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.ConsumerGroupDescribeRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, name := range req.Groups {
		rg := kmsg.NewConsumerGroupDescribeResponseGroup()
		rg.Group, rg.AuthorizedOperations = name, math.MinInt32
		if !s.authorize(ctx, c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, name) {
			rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		if req.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = s.authorizedOps(ctx, c, kmsg.ACLResourceTypeGroup, name)
		}
		d, ok, err := s.groups.ConsumerDescribe(ctx, name)
		switch {
		case name == "":
			rg.ErrorCode = kerr.InvalidGroupID.Code
		case err != nil:
			rg.ErrorCode, rg.ErrorMessage = errorCode(err), errorMessage(err)
		case !ok:
			rg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + name + " not found or not a consumer group."
			rg.ErrorMessage = &msg
		default:
			rg.State, rg.Epoch, rg.AssignmentEpoch, rg.AssignorName = string(d.State), d.Epoch, d.AssignmentEpoch, d.Assignor
			for _, m := range d.Members {
				rm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
				rm.MemberID, rm.MemberEpoch, rm.ClientID, rm.ClientHost = m.MemberID, m.MemberEpoch, m.ClientID, m.ClientHost
				rm.InstanceID, rm.RackID = nonEmpty(m.InstanceID), nonEmpty(m.RackID)
				rm.SubscribedTopics, rm.SubscribedTopicRegex = m.SubscribedTopicNames, nonEmpty(m.SubscribedTopicRegex)
				if rm.SubscribedTopics == nil {
					rm.SubscribedTopics = []string{}
				}
				rm.Assignment, rm.TargetAssignment = describeAssignment(m.Assignment, d.Topics), describeAssignment(m.TargetAssignment, d.Topics)
				rm.MemberType = 1 // consumer protocol (v1+)
				rg.Members = append(rg.Members, rm)
			}
		}
		if s.cfg.Authorizer != nil && !s.describesTopics(ctx, c, rg) {
			// As Kafka: not a partial answer, which would tell which
			// topics the group uses.
			rg = kmsg.NewConsumerGroupDescribeResponseGroup()
			rg.Group, rg.ErrorCode = name, kerr.TopicAuthorizationFailed.Code
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return respond(resp), nil
}

// describesTopics reports whether the principal may DESCRIBE every topic a
// described group's members subscribe to or are assigned.
func (s *Server) describesTopics(ctx context.Context, c *conn, rg kmsg.ConsumerGroupDescribeResponseGroup) bool {
	ok := func(topic string) bool {
		return topic == "" || s.authorize(ctx, c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, topic)
	}
	for _, m := range rg.Members {
		for _, t := range m.SubscribedTopics {
			if !ok(t) {
				return false
			}
		}
		for _, a := range [...]kmsg.Assignment{m.Assignment, m.TargetAssignment} {
			for _, tp := range a.TopicPartitions {
				if !ok(tp.Topic) {
					return false
				}
			}
		}
	}
	return true
}

func describeAssignment(a group.Assignment, names map[group.TopicID]string) kmsg.Assignment {
	out := kmsg.NewAssignment()
	out.TopicPartitions = []kmsg.AssignmentTopicPartition{}
	for _, id := range slices.SortedFunc(maps.Keys(a), compareTopicIDs) {
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID, tp.Topic, tp.Partitions = id, names[id], a[id]
		out.TopicPartitions = append(out.TopicPartitions, tp)
	}
	return out
}

func compareTopicIDs(a, b group.TopicID) int {
	return slices.Compare(a[:], b[:])
}

// nonEmpty returns nil for "" (Kafka's null) and &s otherwise.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// groupTopics lists every topic for server-side assignment, the internal
// ones included: a regex subscription matches them as Kafka's does.
func (s *Server) groupTopics() []group.TopicMeta {
	topics := append(s.cfg.Topics.Topics(), internalTopics...)
	out := make([]group.TopicMeta, len(topics))
	for i, t := range topics {
		out[i] = group.TopicMeta{ID: t.ID, Name: t.Name, Partitions: t.Partitions}
	}
	return out
}
