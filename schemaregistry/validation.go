package schemaregistry

import (
	"encoding/binary"
	"sync"

	"github.com/stratalog/strata/schemaregistry/compat"
)

// What the broker's schema validation asks of the registry, for every
// record of a validated topic: answered from memory alone.

// Registered reports whether schema id is a live version of subject.
func (r *Registry) Registered(subject string, id int) bool {
	rec, ok := r.cache.subject(subject)
	if !ok {
		return false
	}
	for _, v := range rec.Versions {
		if v.ID == id && !v.Deleted {
			return true
		}
	}
	return false
}

// RecordName returns the record name that RecordNameStrategy and
// TopicRecordNameStrategy give data written with schema id (see
// compat.RecordNames); data is the key or value after its magic byte and
// id, whose leading message indexes pick a Protobuf schema's message. Each
// schema is parsed once: ids are immutable, so its names are kept.
func (r *Registry) RecordName(id int, data []byte) (string, bool) {
	names := r.names.of(id, func() (*compat.RecordNames, bool) {
		// From the cache only: an unknown id in a hostile record must not
		// cost a read of the store.
		s, ok := r.cache.schema(id)
		if !ok {
			return nil, false
		}
		refs := map[string]string{}
		if err := r.resolve(s.References, refs, 0); err != nil {
			return nil, true
		}
		n, err := compat.NamesOf(compat.Schema{Type: compat.Type(s.Type), Text: s.Schema, References: refs})
		if err != nil {
			return nil, true
		}
		return n, true
	})
	if names == nil {
		return "", false
	}
	var indexes []int
	if names.Protobuf() {
		var ok bool
		if indexes, ok = messageIndexes(data); !ok {
			return "", false
		}
	}
	return names.Name(indexes)
}

// maxMessageIndexes bounds the message index path read from a record: far
// deeper than any real nesting.
const maxMessageIndexes = 64

// messageIndexes reads the message index path that Confluent's Protobuf
// serializers write after the schema id: a count, then that many indexes,
// each a zig-zag varint; a count of 0 means the first message ([0]).
func messageIndexes(data []byte) ([]int, bool) {
	count, n := binary.Varint(data)
	if n <= 0 || count < 0 || count > maxMessageIndexes {
		return nil, false
	}
	if count == 0 {
		return []int{0}, true
	}
	data = data[n:]
	out := make([]int, count)
	for i := range out {
		v, n := binary.Varint(data)
		if n <= 0 || v < 0 || v > 1<<20 {
			return nil, false
		}
		out[i], data = int(v), data[n:]
	}
	return out, true
}

// recordNames memoises each schema id's record names; a schema that does
// not parse is remembered too, as nil.
type recordNames struct {
	mu   sync.Mutex
	byID map[int]*compat.RecordNames
}

// of returns id's names, computing them with parse the first time; parse
// reports false when the cache does not hold the schema yet, which is not
// remembered.
func (m *recordNames) of(id int, parse func() (*compat.RecordNames, bool)) *compat.RecordNames {
	m.mu.Lock()
	n, ok := m.byID[id]
	m.mu.Unlock()
	if ok {
		return n
	}
	n, found := parse()
	if !found {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byID == nil {
		m.byID = map[int]*compat.RecordNames{}
	}
	m.byID[id] = n
	return n
}
