package gateway

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/tiered"
	"github.com/stratalog/strata/tiered/index"
)

// topicConfig is one Kafka topic config: its name, type, default and the check
// a new value must pass. The names, types and defaults are Kafka's
// (org.apache.kafka.common.config.TopicConfig and LogConfig), so tools that
// describe or set them see what they expect.
type topicConfig struct {
	name  string
	typ   kmsg.ConfigType
	def   string
	check func(string) error
	// enforced is false for configs that are stored and described but do
	// not yet change what Strata does; the README lists them.
	enforced bool
}

const maxLong = "9223372036854775807"

// topicConfigs is the table, sorted by name.
var topicConfigs = []topicConfig{
	{name: "cleanup.policy", typ: kmsg.ConfigTypeList, def: "delete", check: oneOfList("delete", "compact"), enforced: true},
	{name: "compression.type", typ: kmsg.ConfigTypeString, def: "producer", check: oneOf("producer"), enforced: true},
	// Confluent Server's broker-side schema validation (produce_records.go).
	{name: "confluent.key.schema.validation", typ: kmsg.ConfigTypeBoolean, def: "false", check: isBool, enforced: true},
	{name: "confluent.key.subject.name.strategy", typ: kmsg.ConfigTypeString, def: topicNameStrategy, check: oneOf(subjectNameStrategies...), enforced: true},
	{name: "confluent.value.schema.validation", typ: kmsg.ConfigTypeBoolean, def: "false", check: isBool, enforced: true},
	{name: "confluent.value.subject.name.strategy", typ: kmsg.ConfigTypeString, def: topicNameStrategy, check: oneOf(subjectNameStrategies...), enforced: true},
	{name: "delete.retention.ms", typ: kmsg.ConfigTypeLong, def: "86400000", check: longAtLeast(0), enforced: true},
	{name: "file.delete.delay.ms", typ: kmsg.ConfigTypeLong, def: "60000", check: longAtLeast(0)},
	{name: "flush.messages", typ: kmsg.ConfigTypeLong, def: maxLong, check: longAtLeast(1)},
	{name: "flush.ms", typ: kmsg.ConfigTypeLong, def: maxLong, check: longAtLeast(0)},
	{name: "index.interval.bytes", typ: kmsg.ConfigTypeInt, def: "4096", check: intAtLeast(0)},
	{name: "local.retention.bytes", typ: kmsg.ConfigTypeLong, def: "-2", check: longAtLeast(-2)},
	{name: "local.retention.ms", typ: kmsg.ConfigTypeLong, def: "-2", check: longAtLeast(-2)},
	{name: "max.compaction.lag.ms", typ: kmsg.ConfigTypeLong, def: maxLong, check: longAtLeast(1), enforced: true},
	{name: "max.message.bytes", typ: kmsg.ConfigTypeInt, def: "1048588", check: intAtLeast(0), enforced: true},
	{name: "message.timestamp.after.max.ms", typ: kmsg.ConfigTypeLong, def: "3600000", check: longAtLeast(0)},
	{name: "message.timestamp.before.max.ms", typ: kmsg.ConfigTypeLong, def: maxLong, check: longAtLeast(0)},
	{name: "message.timestamp.type", typ: kmsg.ConfigTypeString, def: "CreateTime", check: oneOf("CreateTime")},
	{name: "min.cleanable.dirty.ratio", typ: kmsg.ConfigTypeDouble, def: "0.5", check: doubleIn(0, 1), enforced: true},
	{name: "min.compaction.lag.ms", typ: kmsg.ConfigTypeLong, def: "0", check: longAtLeast(0), enforced: true},
	{name: "min.insync.replicas", typ: kmsg.ConfigTypeInt, def: "1", check: intAtLeast(1)},
	{name: "preallocate", typ: kmsg.ConfigTypeBoolean, def: "false", check: isBool},
	{name: "remote.storage.enable", typ: kmsg.ConfigTypeBoolean, def: "false", check: isBool},
	{name: "retention.bytes", typ: kmsg.ConfigTypeLong, def: "-1", check: longAtLeast(-1), enforced: true},
	{name: "retention.ms", typ: kmsg.ConfigTypeLong, def: "604800000", check: longAtLeast(-1), enforced: true},
	{name: "segment.bytes", typ: kmsg.ConfigTypeInt, def: "1073741824", check: intAtLeast(14), enforced: true},
	{name: "segment.index.bytes", typ: kmsg.ConfigTypeInt, def: "10485760", check: intAtLeast(4)},
	{name: "segment.jitter.ms", typ: kmsg.ConfigTypeLong, def: "0", check: longAtLeast(0)},
	{name: "segment.ms", typ: kmsg.ConfigTypeLong, def: "604800000", check: longAtLeast(1), enforced: true},
	// Strata's own: where a batch must be before it is acknowledged. "wal":
	// in the replicated JetStream tail (milliseconds); "s3": in a segment in
	// object storage, indexed (no NATS bytes, a flush interval plus a PUT).
	{name: "strata.durability", typ: kmsg.ConfigTypeString, def: "wal", check: oneOf("wal", "s3"), enforced: true},
	{name: "unclean.leader.election.enable", typ: kmsg.ConfigTypeBoolean, def: "false", check: isBool},
}

func lookupTopicConfig(name string) (topicConfig, bool) {
	i, ok := slices.BinarySearchFunc(topicConfigs, name, func(c topicConfig, n string) int { return strings.Compare(c.name, n) })
	if !ok {
		return topicConfig{}, false
	}
	return topicConfigs[i], true
}

// validateTopicConfig checks one name and value as CreateTopics and the alter
// APIs must: an unknown name or a bad value is INVALID_CONFIG.
func validateTopicConfig(name string, value *string) error {
	c, ok := lookupTopicConfig(name)
	if !ok {
		return fmt.Errorf("unknown topic config %q", name)
	}
	if value == nil {
		return fmt.Errorf("topic config %q: null value", name)
	}
	if err := c.check(*value); err != nil {
		return fmt.Errorf("topic config %q=%q: %w", name, *value, err)
	}
	return nil
}

// topicConfigValue returns a topic's effective value for c and whether it was
// set on the topic (rather than being the default).
func topicConfigValue(configs map[string]string, c topicConfig) (string, bool) {
	if v, ok := configs[c.name]; ok {
		return v, true
	}
	return c.def, false
}

// EffectiveTopicConfigs returns every topic config in the table with its
// effective value: the topic's own where set, else Kafka's default. The
// lifecycle scheduler reads its policy from it.
func EffectiveTopicConfigs(t coordinator.Topic) map[string]string {
	out := make(map[string]string, len(topicConfigs))
	for _, c := range topicConfigs {
		out[c.name], _ = topicConfigValue(t.Configs, c)
	}
	return out
}

// effectiveConfig is a topic's value of the named config in the table, or
// its default.
func effectiveConfig(configs map[string]string, name string) string {
	if v, ok := configs[name]; ok {
		return v
	}
	c, _ := lookupTopicConfig(name)
	return c.def
}

// compacted reports whether the topic's cleanup.policy includes compact.
func compacted(configs map[string]string) bool {
	for _, p := range strings.Split(effectiveConfig(configs, "cleanup.policy"), ",") {
		if strings.TrimSpace(p) == "compact" {
			return true
		}
	}
	return false
}

// durability is the topic's strata.durability as a tier.
func durability(configs map[string]string) tiered.Durability {
	if effectiveConfig(configs, "strata.durability") == "s3" {
		return tiered.DurabilityS3
	}
	return tiered.DurabilityWAL
}

// Durability returns tp's tier from its topic's strata.durability; tiered asks
// when it loads a partition and on each append, to follow config changes.
func (s *Server) Durability(_ context.Context, tp index.TopicPartition) (tiered.Durability, error) {
	t, ok := s.cfg.Topics.TopicByID(tp.TopicID)
	if !ok {
		return 0, coordinator.ErrUnknownTopic
	}
	return durability(t.Configs), nil
}

// maxMessageBytes is the topic's max.message.bytes.
func maxMessageBytes(configs map[string]string) int {
	n, err := strconv.Atoi(effectiveConfig(configs, "max.message.bytes"))
	if err != nil {
		return 0 // unreachable: values are checked before they are stored
	}
	return n
}

func longAtLeast(min int64) func(string) error {
	return func(s string) error {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("not a long")
		}
		if n < min {
			return fmt.Errorf("must be at least %d", min)
		}
		return nil
	}
}

func intAtLeast(min int64) func(string) error {
	return func(s string) error {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return fmt.Errorf("not an int")
		}
		if n < min {
			return fmt.Errorf("must be at least %d", min)
		}
		return nil
	}
}

func doubleIn(lo, hi float64) func(string) error {
	return func(s string) error {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("not a double")
		}
		if f < lo || f > hi {
			return fmt.Errorf("must be in [%g, %g]", lo, hi)
		}
		return nil
	}
}

func isBool(s string) error {
	if s != "true" && s != "false" {
		return fmt.Errorf("not a boolean")
	}
	return nil
}

// oneOf accepts exactly the values listed: for configs whose other Kafka values
// Strata does not implement yet, refusing them is honest where storing them
// would silently do nothing.
func oneOf(values ...string) func(string) error {
	return func(s string) error {
		if !slices.Contains(values, s) {
			return fmt.Errorf("must be one of %v", values)
		}
		return nil
	}
}

func oneOfList(values ...string) func(string) error {
	return func(s string) error {
		parts := strings.Split(s, ",")
		for _, p := range parts {
			if !slices.Contains(values, strings.TrimSpace(p)) {
				return fmt.Errorf("each element must be one of %v", values)
			}
		}
		return nil
	}
}

// validateTopicName applies Kafka's rules (org.apache.kafka.common.internals.Topic):
// 1 to 249 characters of [a-zA-Z0-9._-], and not "." or "..".
func validateTopicName(name string) error {
	if name == "" || len(name) > 249 {
		return fmt.Errorf("topic name must be 1 to 249 characters, got %d", len(name))
	}
	if name == "." || name == ".." {
		return fmt.Errorf("topic name %q is not allowed", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("topic name %q contains %q; legal characters are [a-zA-Z0-9._-]", name, r)
		}
	}
	return nil
}
