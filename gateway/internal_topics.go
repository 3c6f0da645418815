package gateway

// Kafka's internal topics, as Metadata shows them: __consumer_offsets and
// __transaction_state, 50 partitions each (Kafka's defaults), marked
// is_internal. Strata keeps offsets and transactions in the coordinator, not
// in topics, so these exist only so that clients see what they see with
// Kafka: regex subscriptions and `exclude internal topics` skip them, and
// admin tools list them. They hold no records: a fetch of one answers empty
// partitions at offset 0, ListOffsets 0 and DescribeConfigs Kafka's configs
// for them; producing to them is
// INVALID_TOPIC_EXCEPTION (as Kafka refuses clients), and creating a topic
// with their names is TOPIC_ALREADY_EXISTS.

import (
	"crypto/sha256"

	"github.com/stratalog/strata/coordinator"
)

// internalTopicPartitions is Kafka's offsets.topic.num.partitions and
// transaction.state.log.num.partitions default.
const internalTopicPartitions = 50

var internalTopics = []coordinator.Topic{
	internalTopic("__consumer_offsets"),
	internalTopic("__transaction_state"),
}

// internalTopic is one internal topic with a fixed id, the same on every
// gateway and run, and the configs Kafka gives it (DescribeConfigs
// answers them; tools describing every topic ask).
func internalTopic(name string) coordinator.Topic {
	sum := sha256.Sum256([]byte("strata internal topic " + name))
	var id [16]byte
	copy(id[:], sum[:])
	return coordinator.Topic{Name: name, ID: id, Partitions: internalTopicPartitions, Configs: map[string]string{
		"cleanup.policy":   "compact",
		"compression.type": "producer",
		"segment.bytes":    "104857600",
	}}
}

// internalTopicNamed returns the internal topic named name (by id when byID).
func internalTopicNamed(name string, id [16]byte, byID bool) (coordinator.Topic, bool) {
	for _, t := range internalTopics {
		if byID && t.ID == id || !byID && t.Name == name {
			return t, true
		}
	}
	return coordinator.Topic{}, false
}
