package gateway

// DescribeConfigs: v0-v4, AlterConfigs: v0-v2, IncrementalAlterConfigs: v0-v1
//
// Behavior:
//   - Topic resources: every config of the topic config table with its
//     effective value, IsDefault/Source telling a topic override
//     (DYNAMIC_TOPIC_CONFIG) from Kafka's default (DEFAULT_CONFIG), the config
//     type (v3+), and synonyms when asked (v1+). ConfigNames filters.
//   - Broker resources (this node's id or "", the cluster default): the
//     read-only broker settings that shape topic behaviour.
//   - AlterConfigs replaces a topic's whole override set; IncrementalAlterConfigs
//     applies SET, DELETE, APPEND and SUBTRACT (list configs only), as in
//     KIP-339. Both validate every value first (INVALID_CONFIG), honour
//     ValidateOnly, and store the result with one compare-and-swap.
//
//   - ACLs (authorize.go): describing a topic's configs needs
//     DESCRIBE_CONFIGS on it, altering them ALTER_CONFIGS
//     (TOPIC_AUTHORIZATION_FAILED); a broker's, the same on the cluster
//     (CLUSTER_AUTHORIZATION_FAILED).
//
// Deviations: broker configs cannot be altered (INVALID_REQUEST); other
// resource types (broker loggers, client metrics) get INVALID_REQUEST.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator"
)

func (s *Server) handleDescribeConfigs(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if code := s.configsDenied(ctx, c, rr.ResourceType, rr.ResourceName, kmsg.ACLOperationDescribeConfigs); code != 0 {
			sr.ErrorCode = code
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t, ok := s.cfg.Topics.Topic(rr.ResourceName)
			if !ok {
				t, ok = internalTopicNamed(rr.ResourceName, [16]byte{}, false)
			}
			if !ok {
				sr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				break
			}
			for _, c := range topicConfigs {
				if len(rr.ConfigNames) > 0 && !slices.Contains(rr.ConfigNames, c.name) {
					continue
				}
				v, set := topicConfigValue(t.Configs, c)
				sr.Configs = append(sr.Configs, describedConfig(req, c.name, v, c.def, c.typ, set, false))
			}
		case kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(s.cfg.NodeID)) {
				sr.ErrorCode = kerr.InvalidRequest.Code
				sr.ErrorMessage = errorMessage(fmt.Errorf("no broker %q here", rr.ResourceName))
				break
			}
			for _, bc := range s.brokerConfigs() {
				if len(rr.ConfigNames) > 0 && !slices.Contains(rr.ConfigNames, bc.name) {
					continue
				}
				sr.Configs = append(sr.Configs, describedConfig(req, bc.name, bc.value, bc.value, bc.typ, false, true))
			}
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
			sr.ErrorMessage = errorMessage(fmt.Errorf("resource type %v is not supported", rr.ResourceType))
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return respond(resp), nil
}

// configsDenied is the error for op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a
// config resource the principal may not touch, 0 when it may: a topic's
// configs are the topic's, a broker's the cluster's (Kafka's ConfigHelper).
// Other types are left to the handlers, which refuse them.
func (s *Server) configsDenied(ctx context.Context, c *conn, typ kmsg.ConfigResourceType, name string, op kmsg.ACLOperation) int16 {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if !s.authorize(ctx, c, op, kmsg.ACLResourceTypeTopic, name) {
			return kerr.TopicAuthorizationFailed.Code
		}
	case kmsg.ConfigResourceTypeBroker:
		if !s.authorizeCluster(ctx, c, op) {
			return kerr.ClusterAuthorizationFailed.Code
		}
	}
	return 0
}

func describedConfig(req *kmsg.DescribeConfigsRequest, name, value, def string, typ kmsg.ConfigType, set, readOnly bool) kmsg.DescribeConfigsResponseResourceConfig {
	rc := kmsg.NewDescribeConfigsResponseResourceConfig()
	rc.Name, rc.Value, rc.ReadOnly, rc.ConfigType = name, &value, readOnly, typ
	rc.IsDefault = !set
	rc.Source = kmsg.ConfigSourceDefaultConfig
	if readOnly {
		rc.Source = kmsg.ConfigSourceStaticBrokerConfig
	}
	if set {
		rc.Source = kmsg.ConfigSourceDynamicTopicConfig
	}
	if req.IncludeSynonyms {
		if set {
			syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			syn.Name, syn.Value, syn.Source = name, &value, kmsg.ConfigSourceDynamicTopicConfig
			rc.ConfigSynonyms = append(rc.ConfigSynonyms, syn)
		}
		syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		syn.Name, syn.Value, syn.Source = name, &def, rc.Source
		if set {
			syn.Source = kmsg.ConfigSourceDefaultConfig
		}
		rc.ConfigSynonyms = append(rc.ConfigSynonyms, syn)
	}
	return rc
}

type brokerConfig struct {
	name, value string
	typ         kmsg.ConfigType
}

func (s *Server) brokerConfigs() []brokerConfig {
	mmb, _ := lookupTopicConfig("max.message.bytes")
	ret, _ := lookupTopicConfig("retention.ms")
	return []brokerConfig{
		{"auto.create.topics.enable", strconv.FormatBool(!s.cfg.DisableAutoCreateTopics), kmsg.ConfigTypeBoolean},
		{"broker.id", strconv.Itoa(int(s.cfg.NodeID)), kmsg.ConfigTypeInt},
		{"broker.rack", s.cfg.Rack, kmsg.ConfigTypeString},
		{"default.replication.factor", "1", kmsg.ConfigTypeShort},
		{"log.retention.ms", ret.def, kmsg.ConfigTypeLong},
		{"message.max.bytes", mmb.def, kmsg.ConfigTypeInt},
		{"num.partitions", strconv.Itoa(int(s.cfg.NumPartitions)), kmsg.ConfigTypeInt},
		{"socket.request.max.bytes", strconv.Itoa(int(s.cfg.MaxRequestBytes)), kmsg.ConfigTypeInt},
	}
}

func (s *Server) handleAlterConfigs(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if sr.ErrorCode = s.configsDenied(ctx, c, rr.ResourceType, rr.ResourceName, kmsg.ACLOperationAlterConfigs); sr.ErrorCode != 0 {
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		err := s.alterTopicConfigs(ctx, rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(map[string]string) (map[string]string, error) {
			next := make(map[string]string, len(rr.Configs))
			for _, c := range rr.Configs {
				if err := validateTopicConfig(c.Name, c.Value); err != nil {
					return nil, err
				}
				next[c.Name] = *c.Value
			}
			return next, nil
		})
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return respond(resp), nil
}

func (s *Server) handleIncrementalAlterConfigs(ctx context.Context, c *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if sr.ErrorCode = s.configsDenied(ctx, c, rr.ResourceType, rr.ResourceName, kmsg.ACLOperationAlterConfigs); sr.ErrorCode != 0 {
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		err := s.alterTopicConfigs(ctx, rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(cur map[string]string) (map[string]string, error) {
			next := maps.Clone(cur)
			if next == nil {
				next = make(map[string]string)
			}
			for _, c := range rr.Configs {
				if err := applyIncremental(next, c); err != nil {
					return nil, err
				}
			}
			return next, nil
		})
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return respond(resp), nil
}

// applyIncremental applies one KIP-339 operation to configs.
func applyIncremental(configs map[string]string, c kmsg.IncrementalAlterConfigsRequestResourceConfig) error {
	tc, ok := lookupTopicConfig(c.Name)
	if !ok {
		return fmt.Errorf("unknown topic config %q", c.Name)
	}
	switch c.Op {
	case kmsg.IncrementalAlterConfigOpSet:
		if err := validateTopicConfig(c.Name, c.Value); err != nil {
			return err
		}
		configs[c.Name] = *c.Value
	case kmsg.IncrementalAlterConfigOpDelete:
		delete(configs, c.Name)
	case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
		if tc.typ != kmsg.ConfigTypeList {
			return fmt.Errorf("%v applies to list configs only; %q is not one", c.Op, c.Name)
		}
		if c.Value == nil {
			return fmt.Errorf("topic config %q: null value", c.Name)
		}
		cur, _ := topicConfigValue(configs, tc)
		items := splitList(cur)
		for _, v := range splitList(*c.Value) {
			i := slices.Index(items, v)
			switch {
			case c.Op == kmsg.IncrementalAlterConfigOpAppend && i < 0:
				items = append(items, v)
			case c.Op == kmsg.IncrementalAlterConfigOpSubtract && i >= 0:
				items = slices.Delete(items, i, i+1)
			}
		}
		joined := strings.Join(items, ",")
		if err := validateTopicConfig(c.Name, &joined); err != nil {
			return err
		}
		configs[c.Name] = joined
	default:
		return fmt.Errorf("unknown operation %d", c.Op)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// alterTopicConfigs computes a topic's new overrides with change and stores them
// with one compare-and-swap, unless validateOnly. Validation failures are
// INVALID_CONFIG.
func (s *Server) alterTopicConfigs(ctx context.Context, typ kmsg.ConfigResourceType, name string, validateOnly bool, change func(map[string]string) (map[string]string, error)) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker:
		return fmt.Errorf("%w: broker configs are static in Strata; set them with flags", kerr.InvalidRequest)
	default:
		return fmt.Errorf("%w: resource type %v is not supported", kerr.InvalidRequest, typ)
	}
	apply := func(t *coordinator.Topic) error {
		next, err := change(t.Configs)
		if err != nil {
			return fmt.Errorf("%w: %w", kerr.InvalidConfig, err)
		}
		t.Configs = next
		return nil
	}
	if validateOnly {
		t, ok := s.cfg.Topics.Topic(name)
		if !ok {
			return coordinator.ErrUnknownTopic
		}
		t.Configs = maps.Clone(t.Configs)
		return apply(&t)
	}
	_, err := s.cfg.TopicAdmin.UpdateTopic(ctx, name, apply)
	return err
}
