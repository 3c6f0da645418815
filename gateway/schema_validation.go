package gateway

// Broker-side schema validation, as Confluent Server offers it: a topic with
// confluent.value.schema.validation=true (or .key.) takes only records whose
// value (key) is in the Confluent wire format (magic byte 0, then a 4-byte
// big-endian schema id) with an id registered under the record's subject.
// One record that fails makes the whole batch INVALID_RECORD, and nothing of
// it is appended. Ids are checked against the registry's in-memory cache;
// nothing is parsed.
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

// validation reports which parts of a topic's records must carry a
// registered schema id.
func validation(configs map[string]string) (key, value bool) {
	get := func(name string) bool {
		c, _ := lookupTopicConfig(name)
		v, _ := topicConfigValue(configs, c)
		return v == "true"
	}
	return get("confluent.key.schema.validation"), get("confluent.value.schema.validation")
}

// errBadSchemaID stops the record walk at the first record that fails.
var errBadSchemaID = errors.New("record without a registered schema id")

// validateSchemas checks every record of the batch against the topic's
// validation settings.
func (s *Server) validateSchemas(t coordinator.Topic, records []byte, maxBytes int) error {
	key, value := validation(t.Configs)
	if !key && !value {
		return nil
	}
	var reason error
	err := batch.EachRecord(records, maxDecompressedFactor*maxBytes, func(r batch.Record) error {
		if key {
			if reason = s.checkSchemaID(t.Name+"-key", r.Key); reason != nil {
				return errBadSchemaID
			}
		}
		if value {
			if reason = s.checkSchemaID(t.Name+"-value", r.Value); reason != nil {
				return errBadSchemaID
			}
		}
		return nil
	})
	if errors.Is(err, errBadSchemaID) {
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
