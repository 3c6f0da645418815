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
//     the record's subject, which confluent.value.subject.name.strategy (or
//     .key.) names: TopicNameStrategy "<topic>-value" (the default),
//     RecordNameStrategy "<record name>", TopicRecordNameStrategy
//     "<topic>-<record name>", the record name being the schema's (see
//     Schemas.RecordName). Ids are checked against the registry's in-memory
//     cache; record contents are not parsed.
//
// One record that fails makes the whole batch INVALID_RECORD, and nothing of
// it is appended; the response names the record (Produce v8's
// record_errors), as Kafka's LogValidator does.

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/tiered/batch"
)

// The subject name strategies, by the class names Confluent's configs use.
const (
	topicNameStrategy       = "io.confluent.kafka.serializers.subject.TopicNameStrategy"
	recordNameStrategy      = "io.confluent.kafka.serializers.subject.RecordNameStrategy"
	topicRecordNameStrategy = "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy"
)

var subjectNameStrategies = []string{topicNameStrategy, recordNameStrategy, topicRecordNameStrategy}

// Schemas is what schema validation needs of the registry; schemaregistry.Registry
// implements it. Both are called for every record of a validated topic and
// must answer from memory.
type Schemas interface {
	// Registered reports whether schema id is a live version of subject.
	Registered(subject string, id int) bool
	// RecordName returns the record name of data written with schema id;
	// data is what follows the id (a Protobuf schema's message indexes
	// pick its message). False when the id is unknown or names none.
	RecordName(id int, data []byte) (string, bool)
}

// recordRules is what a topic's configs ask of each record of a batch.
type recordRules struct {
	// keyed: cleanup.policy includes compact, which cannot keep a record
	// without a key (Kafka's LogValidator, "Compacted topic cannot accept
	// message without key").
	keyed bool
	// keyStrategy and valueStrategy: the subject name strategy when
	// confluent.key.schema.validation (or .value.) is on, else empty.
	keyStrategy, valueStrategy string
}

func rulesOf(configs map[string]string) recordRules {
	rules := recordRules{keyed: compacted(configs)}
	if effectiveConfig(configs, "confluent.key.schema.validation") == "true" {
		rules.keyStrategy = effectiveConfig(configs, "confluent.key.subject.name.strategy")
	}
	if effectiveConfig(configs, "confluent.value.schema.validation") == "true" {
		rules.valueStrategy = effectiveConfig(configs, "confluent.value.subject.name.strategy")
	}
	return rules
}

// errRecordRefused stops the record walk at the first record that fails.
var errRecordRefused = errors.New("record refused")

// recordError is a batch refused for one of its records: INVALID_RECORD,
// with the record's index in the batch for Produce's record_errors.
type recordError struct {
	index  int32
	reason error
}

func (e *recordError) Error() string {
	return fmt.Sprintf("%v: record %d: %v", kerr.InvalidRecord, e.index, e.reason)
}

func (e *recordError) Unwrap() error { return kerr.InvalidRecord }

// checkRecords applies the topic's record rules to every record of the
// batch in one walk (decompressing at most maxDecompressedFactor times the
// topic's max.message.bytes, into a pooled buffer), and refuses the whole
// batch with a recordError at the first record that breaks one. Topics
// without rules (the common case) decode nothing.
func (s *Server) checkRecords(t coordinator.Topic, records []byte) error {
	rules := rulesOf(t.Configs)
	if rules == (recordRules{}) {
		return nil
	}
	d := s.decoder(maxDecompressedFactor * maxMessageBytes(t.Configs))
	defer s.decoders.Put(d)
	keys := schemaCheck{s: s, strategy: rules.keyStrategy, topic: t.Name, part: "key"}
	values := schemaCheck{s: s, strategy: rules.valueStrategy, topic: t.Name, part: "value"}
	var (
		reason error
		index  int32
	)
	err := d.EachKeyValue(records, func(key, value []byte) error {
		switch {
		case rules.keyed && key == nil:
			reason = errors.New("compacted topic cannot accept a record without a key")
		case rules.keyStrategy != "":
			reason = keys.check(key)
		}
		if reason == nil && rules.valueStrategy != "" {
			reason = values.check(value)
		}
		if reason != nil {
			return errRecordRefused
		}
		index++
		return nil
	})
	if errors.Is(err, errRecordRefused) {
		return &recordError{index: index, reason: reason}
	}
	return err
}

// decoder returns a pooled scratch decoder with limit: checkRecords only
// looks at records while it walks them, so their buffer is reused.
func (s *Server) decoder(limit int) *batch.Decoder {
	if d, ok := s.decoders.Get().(*batch.Decoder); ok {
		if d.Limit() == limit {
			return d
		}
		d.Close()
	}
	return batch.NewScratchDecoder(limit)
}

// schemaCheck checks the keys or the values (part) of one batch against the
// registry. The records of a batch nearly always carry one schema id, so it
// remembers the last id (and record name) it accepted and skips the
// registry for the records that repeat it.
type schemaCheck struct {
	s                     *Server
	strategy, topic, part string

	accepted bool
	lastID   int
	lastName string
}

// check checks one key or value: magic byte 0 and a schema id registered
// under the subject the strategy names for it.
func (c *schemaCheck) check(b []byte) error {
	if len(b) < 5 || b[0] != 0 {
		return fmt.Errorf("%s is not in the schema registry's wire format (magic byte 0 and a schema id)", c.part)
	}
	id := int(binary.BigEndian.Uint32(b[1:5]))
	schemas := c.s.cfg.Schemas
	if schemas == nil {
		return fmt.Errorf("%s schema id %d: no schema registry", c.part, id)
	}
	var name string
	if c.strategy != topicNameStrategy {
		var ok bool
		if name, ok = schemas.RecordName(id, b[5:]); !ok {
			return fmt.Errorf("%s schema id %d is unknown or names no record", c.part, id)
		}
	}
	if c.accepted && id == c.lastID && name == c.lastName {
		return nil
	}
	var subject string
	switch c.strategy {
	case topicNameStrategy:
		subject = c.topic + "-" + c.part
	case recordNameStrategy:
		subject = name
	default:
		subject = c.topic + "-" + name
	}
	if !schemas.Registered(subject, id) {
		return fmt.Errorf("%s schema id %d is not registered under subject %s", c.part, id, subject)
	}
	c.accepted, c.lastID, c.lastName = true, id, name
	return nil
}
