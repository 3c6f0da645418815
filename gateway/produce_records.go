package gateway

// The checks Produce makes of each record, beyond the batch's own: all of
// them in one walk over the records, and only for topics that ask for one.
//
//   - Compacted topics (cleanup.policy with compact) take no record without
//     a key, as Kafka's LogValidator.
//   - Broker-side schema validation, as Confluent Server offers it: a topic
//     with confluent.value.schema.validation=true (or .key.) takes only
//     records whose value (key) is in the Confluent wire format (magic byte
//     0, then a 4-byte big-endian schema id) with an id registered under
//     the record's subject. Ids are checked against the registry's
//     in-memory cache; nothing is parsed.
//
// One record that fails makes the whole batch INVALID_RECORD, and nothing of
// it is appended.
//
// Deviations: only TopicNameStrategy (subject "<topic>-key" or
// "<topic>-value") is offered as the subject name strategy; the other two
// need each schema's record name, which the registry does not keep yet
// (INVALID_CONFIG names the values accepted).

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/tiered/batch"
)

// topicNameStrategy is Confluent's default subject name strategy.
const topicNameStrategy = "io.confluent.kafka.serializers.subject.TopicNameStrategy"

// Schemas is what schema validation needs of the registry; schemaregistry.Registry
// implements it.
type Schemas interface {
	Registered(subject string, id int) bool
}

// recordRules is what a topic's configs ask of each record of a batch.
type recordRules struct {
	// keyed: cleanup.policy includes compact, which cannot keep a record
	// without a key (Kafka's LogValidator, "Compacted topic cannot accept
	// message without key").
	keyed bool
	// keySchema and valueSchema: confluent.key.schema.validation and
	// confluent.value.schema.validation.
	keySchema, valueSchema bool
}

func rulesOf(configs map[string]string) recordRules {
	return recordRules{
		keyed:       compacted(configs),
		keySchema:   effectiveConfig(configs, "confluent.key.schema.validation") == "true",
		valueSchema: effectiveConfig(configs, "confluent.value.schema.validation") == "true",
	}
}

// errRecordRefused stops the record walk at the first record that fails.
var errRecordRefused = errors.New("record refused")

// checkRecords applies the topic's record rules to every record of the
// batch in one walk (decompressing at most maxDecompressedFactor times the
// topic's max.message.bytes), and refuses the whole batch with
// INVALID_RECORD at the first record that breaks one. Topics without rules
// (the common case) decode nothing.
func (s *Server) checkRecords(t coordinator.Topic, records []byte) error {
	rules := rulesOf(t.Configs)
	if rules == (recordRules{}) {
		return nil
	}
	var reason error
	err := batch.EachRecord(records, maxDecompressedFactor*maxMessageBytes(t.Configs), func(r batch.Record) error {
		switch {
		case rules.keyed && r.Key == nil:
			reason = errors.New("compacted topic cannot accept a record without a key")
		case rules.keySchema:
			reason = s.checkSchemaID(t.Name+"-key", r.Key)
		}
		if reason == nil && rules.valueSchema {
			reason = s.checkSchemaID(t.Name+"-value", r.Value)
		}
		if reason != nil {
			return errRecordRefused
		}
		return nil
	})
	if errors.Is(err, errRecordRefused) {
		return fmt.Errorf("%w: %w", kerr.InvalidRecord, reason)
	}
	return err
}

// checkSchemaID checks one key or value: magic byte 0 and a schema id
// registered under subject.
func (s *Server) checkSchemaID(subject string, b []byte) error {
	if len(b) < 5 || b[0] != 0 {
		return fmt.Errorf("not in the schema registry's wire format (magic byte 0 and a schema id) for subject %s", subject)
	}
	id := int(binary.BigEndian.Uint32(b[1:5]))
	if s.cfg.Schemas == nil || !s.cfg.Schemas.Registered(subject, id) {
		return fmt.Errorf("schema id %d is not registered under subject %s", id, subject)
	}
	return nil
}
