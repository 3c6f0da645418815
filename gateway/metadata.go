package gateway

// Metadata: v0-v12
//
// Behavior:
//   - Brokers: the live gateways of the cluster, and this one (see
//     cluster.go); the controller is the lowest node id.
//   - A null topic list (v1+), or an empty one at v0, asks for every topic;
//     regex subscriptions rely on that.
//   - Unknown topics are created when auto.create.topics.enable is on (the
//     default) and the request allows it (v4+ AllowAutoTopicCreation; always
//     before v4), with num.partitions partitions, as Kafka does. Names that are
//     not legal topic names get INVALID_TOPIC_EXCEPTION.
//   - v10+ topics may be named by id; an unknown id gets UNKNOWN_TOPIC_ID.
//   - Each partition's leader is the gateway the live set assigns it to
//     (cluster.go), its only replica; with no live gateway it has none
//     (LEADER_NOT_AVAILABLE). LeaderEpoch is the latest claimed epoch
//     (leader_epochs.go), -1 for a partition never written. Metadata
//     claims only this gateway's partitions that another run claimed last
//     (concurrently), never a partition never written, so a new topic costs
//     no store round trip and loads no partition state, whatever its
//     partition count.
//
//   - __consumer_offsets and __transaction_state are listed as internal
//     topics (internal_topics.go).
//   - ACLs (authorize.go): a topic the principal may not DESCRIBE is left
//     out of an all-topics answer and is TOPIC_AUTHORIZATION_FAILED when
//     asked for by name (its existence not told) or id; auto-creating a
//     topic needs CREATE on the cluster or on the topic, else
//     TOPIC_AUTHORIZATION_FAILED. Authorized operations (v8+) are reported
//     when asked for: every supported operation without an Authorizer, as
//     Kafka; the cluster's (v8-v10) need DESCRIBE on it, else 0.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/tiered/index"
)

func (s *Server) handleMetadata(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)

	for _, g := range s.brokers(c.ln) {
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port, b.Rack = g.NodeID, g.host, g.port, nonEmpty(g.Rack)
		resp.Brokers = append(resp.Brokers, b)
	}
	resp.ClusterID = &s.cfg.ClusterID
	resp.ControllerID = resp.Brokers[0].NodeID

	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = s.clusterAuthorizedOps(ctx, c)
	}
	describable := func(name string) bool {
		return s.authorize(ctx, c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name)
	}
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range append(s.cfg.Topics.Topics(), internalTopics...) {
			if describable(t.Name) {
				resp.Topics = append(resp.Topics, s.topicMetadata(ctx, t))
			}
		}
	} else {
		autoCreate := !s.cfg.DisableAutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
		mayCreate := func(name string) bool {
			return s.authorizeCluster(ctx, c, kmsg.ACLOperationCreate) ||
				s.authorize(ctx, c, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic, name)
		}
		for _, rt := range req.Topics {
			resp.Topics = append(resp.Topics, s.requestedTopicMetadata(ctx, rt, autoCreate, describable, mayCreate))
		}
	}
	if req.IncludeTopicAuthorizedOperations {
		for i := range resp.Topics {
			if mt := &resp.Topics[i]; mt.Topic != nil && mt.ErrorCode != kerr.TopicAuthorizationFailed.Code {
				mt.AuthorizedOperations = s.authorizedOps(ctx, c, kmsg.ACLResourceTypeTopic, *mt.Topic)
			}
		}
	}
	return respond(resp), nil
}

// requestedTopicMetadata answers one topic asked for by name or id;
// describable and mayCreate are the principal's DESCRIBE and auto-create
// permissions.
func (s *Server) requestedTopicMetadata(ctx context.Context, rt kmsg.MetadataRequestTopic, autoCreate bool, describable, mayCreate func(string) bool) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	// A topic id asks by id whatever the name says: the Java client sends
	// an empty name beside it, franz-go a null one.
	byID := rt.TopicID != [16]byte{}
	t, ok := internalTopicNamed(deref(rt.Topic), rt.TopicID, byID)
	if !ok && byID {
		if t, ok = s.cfg.Topics.TopicByID(rt.TopicID); !ok {
			mt.TopicID = rt.TopicID
			mt.ErrorCode = kerr.UnknownTopicID.Code
			return mt
		}
	}
	if byID || ok {
		if !describable(t.Name) {
			// Ids are not secret (Kafka answers them too); names are.
			mt.TopicID = rt.TopicID
			if !byID {
				mt.Topic = rt.Topic
			}
			mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			return mt
		}
		return s.topicMetadata(ctx, t)
	}
	name := *rt.Topic
	mt.Topic = rt.Topic
	if !describable(name) {
		mt.ErrorCode = kerr.TopicAuthorizationFailed.Code // whether or not it exists
		return mt
	}
	if t, ok := s.cfg.Topics.Topic(name); ok {
		return s.topicMetadata(ctx, t)
	}
	if autoCreate && !mayCreate(name) {
		mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
		return mt
	}
	if err := validateTopicName(name); err != nil {
		mt.ErrorCode = kerr.InvalidTopicException.Code
		return mt
	}
	if !autoCreate {
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return mt
	}
	t, err := s.cfg.TopicAdmin.CreateTopic(ctx, coordinator.Topic{Name: name, Partitions: s.cfg.NumPartitions})
	if errors.Is(err, coordinator.ErrTopicExists) {
		// Another client created it first: the watcher may not have it yet,
		// and the client retries on LEADER_NOT_AVAILABLE as Kafka intends.
		mt.ErrorCode = kerr.LeaderNotAvailable.Code
		return mt
	}
	if err != nil {
		s.cfg.Logger.Warn("auto-create topic", "topic", name, "err", err)
		mt.ErrorCode = kerr.LeaderNotAvailable.Code
		return mt
	}
	return s.topicMetadata(ctx, t)
}

func (s *Server) topicMetadata(ctx context.Context, t coordinator.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	_, mt.IsInternal = internalTopicNamed(name, t.ID, false)
	leaders := s.view.leadersOf(t)
	// Every partition with the same leader shares its one-element replica
	// list: a 10,000-partition answer makes a handful of them, not 20,000.
	replicas := map[int32][]int32{}
	var claims []int // partitions to claim before their epoch is told
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, t.Partitions)
	for p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p
		mp.Leader = -1
		if int(p) < len(leaders) {
			mp.Leader = leaders[p]
		}
		mp.LeaderEpoch = -1
		if !mt.IsInternal {
			var claim bool
			mp.LeaderEpoch, claim = s.leaderEpoch(index.TopicPartition{TopicID: t.ID, Partition: p}, mp.Leader)
			if claim {
				claims = append(claims, len(mt.Partitions))
			}
		}
		if mp.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		} else {
			r, ok := replicas[mp.Leader]
			if !ok {
				r = []int32{mp.Leader}
				replicas[mp.Leader] = r
			}
			mp.Replicas, mp.ISR = r, r
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	// This gateway's partitions last claimed elsewhere are claimed before
	// their epoch is told, so that clients do not fetch with the previous
	// leader's epoch, be fenced, and wait out their metadata refresh
	// interval; concurrently, since each claim is a few store round trips.
	forEachLimited(len(claims), metadataClaimParallelism, func(i int) {
		mp := &mt.Partitions[claims[i]]
		tp := index.TopicPartition{TopicID: t.ID, Partition: mp.Partition}
		if e, err := s.cfg.Logs.LeaderEpoch(ctx, tp); err == nil {
			mp.LeaderEpoch = max(mp.LeaderEpoch, e)
		}
	})
	return mt
}

// metadataClaimParallelism bounds the claims one Metadata request makes at
// once (see topicMetadata).
const metadataClaimParallelism = 32

// leaderEpoch is the epoch Metadata tells for tp, led by leader: the latest
// published claim's, -1 when none is known (a partition never written).
// claim is set for a partition this gateway leads whose latest claim another
// run made: it is claimed before its epoch is told. A partition never written
// is not claimed: claiming every partition of a new topic, one store round
// trip after another, took 21 s at 10,000 partitions (issue #19) and kept
// every partition's state in memory. The epoch told never goes down (franz-go
// ignores metadata whose epoch went backwards, as stale).
//
// For a partition this gateway has loaded, the epoch told is its own claim's
// even when a later publication is missing: this run may have claimed it
// again (after a failed WAL append, say) and failed to publish that claim,
// and a client told the published epoch would be fenced by every fetch.
func (s *Server) leaderEpoch(tp index.TopicPartition, leader int32) (epoch int32, claim bool) {
	if s.cfg.LeaderEpochs == nil || leader < 0 {
		return -1, false
	}
	c, ok := s.cfg.LeaderEpochs.LeaderClaim(tp)
	if !ok {
		return -1, false
	}
	if leader == s.cfg.NodeID {
		if e, loaded := s.cfg.Logs.LoadedEpoch(tp); loaded {
			return max(c.Epoch, e), false
		}
	}
	mine := c.NodeID == s.cfg.NodeID && c.Incarnation == s.cfg.Incarnation
	return c.Epoch, leader == s.cfg.NodeID && !mine
}
