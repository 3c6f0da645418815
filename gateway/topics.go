package gateway

// CreateTopics: v0-v7, DeleteTopics: v0-v6, CreatePartitions: v0-v3
//
// Behavior:
//   - CreateTopics validates the name (Kafka's rules), the partition count
//     (-1 means num.partitions), the replication factor (-1 or at least 1:
//     object storage is the replication, so any factor is accepted and
//     metadata reports each partition's leader as its one replica), and every config
//     against the topic config table (INVALID_CONFIG). ValidateOnly checks
//     without creating. v5+ responses carry the partition count and configs;
//     v7+ the topic id.
//   - DeleteTopics by name, and by id from v6 on.
//   - CreatePartitions only grows a topic (INVALID_PARTITIONS otherwise);
//     ValidateOnly is honoured.
//
// Deleting a topic also deletes every group's committed offsets for it, as
// Kafka does. Its partition state (keyed by topic id, so a topic created again
// under the name starts empty) and its segment objects are removed by garbage
// collection (tiered/gc) after the grace period.
//
// ACLs (authorize.go), as Kafka's ControllerApis: CreateTopics needs CREATE
// on the cluster or on each topic (TOPIC_AUTHORIZATION_FAILED), and answers a
// created topic's configs only with DESCRIBE_CONFIGS on it (else
// ConfigErrorCode TOPIC_AUTHORIZATION_FAILED, no configs, -1 counts);
// DeleteTopics DELETE on the cluster or on each topic, a topic named but not
// describable being TOPIC_AUTHORIZATION_FAILED whether or not it exists;
// CreatePartitions ALTER on the cluster or on each topic.
//
// Deviations: manual replica assignments are refused with INVALID_REQUEST, since
// replicas are not placed on brokers.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator"
)

// maxPartitions caps one topic's partition count, so a request cannot make the
// gateway build a metadata response of billions of entries.
const maxPartitions = 100_000

func (s *Server) handleCreateTopics(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	clusterCreate := s.authorizeCluster(ctx, c, kmsg.ACLOperationCreate)
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		if seen[rt.Topic] > 1 {
			st.ErrorCode = kerr.InvalidRequest.Code
			st.ErrorMessage = errorMessage(fmt.Errorf("topic %q named more than once", rt.Topic))
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if !clusterCreate && !s.authorize(ctx, c, kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic, rt.Topic) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			st.ErrorMessage = kmsg.StringPtr("Authorization failed.") // Kafka's message
			resp.Topics = append(resp.Topics, st)
			continue
		}
		t, err := s.createTopic(ctx, rt, req.ValidateOnly)
		if err != nil {
			st.ErrorCode = errorCode(err)
			st.ErrorMessage = errorMessage(err)
		} else if !s.authorize(ctx, c, kmsg.ACLOperationDescribeConfigs, kmsg.ACLResourceTypeTopic, rt.Topic) {
			st.TopicID = t.ID
			st.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
		} else {
			st.TopicID = t.ID
			st.NumPartitions = t.Partitions
			st.ReplicationFactor = 1
			for _, c := range topicConfigs {
				v, set := topicConfigValue(t.Configs, c)
				rc := kmsg.NewCreateTopicsResponseTopicConfig()
				rc.Name, rc.Value = c.name, &v
				rc.Source = int8(kmsg.ConfigSourceDefaultConfig)
				if set {
					rc.Source = int8(kmsg.ConfigSourceDynamicTopicConfig)
				}
				st.Configs = append(st.Configs, rc)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp), nil
}

func (s *Server) createTopic(ctx context.Context, rt kmsg.CreateTopicsRequestTopic, validateOnly bool) (coordinator.Topic, error) {
	if err := validateTopicName(rt.Topic); err != nil {
		return coordinator.Topic{}, fmt.Errorf("%w: %w", kerr.InvalidTopicException, err)
	}
	if _, ok := internalTopicNamed(rt.Topic, [16]byte{}, false); ok {
		return coordinator.Topic{}, fmt.Errorf("%w: %s is an internal topic", kerr.TopicAlreadyExists, rt.Topic)
	}
	n := rt.NumPartitions
	if n == -1 {
		n = s.cfg.NumPartitions
	}
	if n <= 0 || n > maxPartitions {
		return coordinator.Topic{}, fmt.Errorf("%w: %d partitions, want 1 to %d", kerr.InvalidPartitions, n, maxPartitions)
	}
	if rt.ReplicationFactor == 0 || rt.ReplicationFactor < -1 {
		return coordinator.Topic{}, fmt.Errorf("%w: replication factor %d", kerr.InvalidReplicationFactor, rt.ReplicationFactor)
	}
	if len(rt.ReplicaAssignment) > 0 {
		return coordinator.Topic{}, fmt.Errorf("%w: manual replica assignment is not supported", kerr.InvalidRequest)
	}
	configs := make(map[string]string, len(rt.Configs))
	for _, c := range rt.Configs {
		if err := validateTopicConfig(c.Name, c.Value); err != nil {
			return coordinator.Topic{}, fmt.Errorf("%w: %w", kerr.InvalidConfig, err)
		}
		configs[c.Name] = *c.Value
	}
	t := coordinator.Topic{Name: rt.Topic, Partitions: n, Configs: configs}
	if validateOnly {
		if _, exists := s.cfg.Topics.Topic(rt.Topic); exists {
			return t, coordinator.ErrTopicExists
		}
		return t, nil
	}
	return s.cfg.TopicAdmin.CreateTopic(ctx, t)
}

func (s *Server) handleDeleteTopics(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	targets := req.Topics
	if req.Version < 6 {
		targets = targets[:0:0]
		for _, name := range req.TopicNames {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = &name
			targets = append(targets, rt)
		}
	}
	clusterDelete := s.authorizeCluster(ctx, c, kmsg.ACLOperationDelete)
	describable := func(name string) bool {
		return clusterDelete || s.authorize(ctx, c, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name)
	}
	deletable := func(name string) bool {
		return clusterDelete || s.authorize(ctx, c, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic, name)
	}
	for _, rt := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name := ""
		switch {
		case rt.Topic != nil:
			name = *rt.Topic
			_, exists := s.cfg.Topics.Topic(name)
			if !describable(name) || exists && !deletable(name) {
				st.ErrorCode = kerr.TopicAuthorizationFailed.Code
				resp.Topics = append(resp.Topics, st)
				continue
			}
		default:
			t, ok := s.cfg.Topics.TopicByID(rt.TopicID)
			if !ok {
				st.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, st)
				continue
			}
			name = t.Name
			if !deletable(name) {
				// The name is told only to who may describe the topic.
				if !describable(name) {
					st.Topic = nil
				} else {
					st.Topic = &t.Name
				}
				st.ErrorCode = kerr.TopicAuthorizationFailed.Code
				resp.Topics = append(resp.Topics, st)
				continue
			}
			st.Topic = &t.Name
		}
		t, err := s.cfg.TopicAdmin.DeleteTopic(ctx, name)
		if err != nil {
			st.ErrorCode = errorCode(err)
			st.ErrorMessage = errorMessage(err)
		} else {
			st.TopicID = t.ID
			s.cfg.Logger.Info("topic deleted", "topic", name)
			// Kafka drops a deleted topic's committed offsets, so that a
			// topic created again under the name starts without them. A
			// failure leaves them for the next delete of the name.
			if err := s.cfg.Offsets.DeleteTopicOffsets(ctx, name); err != nil {
				s.cfg.Logger.Warn("deleted topic's committed offsets not removed", "topic", name, "err", err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp), nil
}

func (s *Server) handleCreatePartitions(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	clusterAlter := s.authorizeCluster(ctx, c, kmsg.ACLOperationAlter)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if !clusterAlter && !s.authorize(ctx, c, kmsg.ACLOperationAlter, kmsg.ACLResourceTypeTopic, rt.Topic) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		err := s.createPartitions(ctx, rt, req.ValidateOnly)
		st.ErrorCode = errorCode(err)
		st.ErrorMessage = errorMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return respond(resp), nil
}

func (s *Server) createPartitions(ctx context.Context, rt kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	if len(rt.Assignment) > 0 {
		return fmt.Errorf("%w: manual replica assignment is not supported", kerr.InvalidRequest)
	}
	grow := func(t *coordinator.Topic) error {
		if rt.Count <= t.Partitions || rt.Count > maxPartitions {
			return fmt.Errorf("%w: topic %q has %d partitions; the new count must be greater, at most %d",
				kerr.InvalidPartitions, t.Name, t.Partitions, maxPartitions)
		}
		t.Partitions = rt.Count
		return nil
	}
	if validateOnly {
		t, ok := s.cfg.Topics.Topic(rt.Topic)
		if !ok {
			return coordinator.ErrUnknownTopic
		}
		return grow(&t)
	}
	_, err := s.cfg.TopicAdmin.UpdateTopic(ctx, rt.Topic, grow)
	return err
}
