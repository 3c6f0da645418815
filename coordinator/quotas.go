package coordinator

// Client quotas live in the quotas bucket, "<prefix>_quotas": one record per
// entity (a user, a client id, both, or an IP address, each a name or Kafka's
// default), holding that entity's quota values by key. The coordinator
// stores what it is given: what the keys and values mean, and which entities
// are valid, is security/quota's and the gateway's business. Every write is
// a compare-and-swap on the record's revision; Watch lets each gateway keep
// an in-memory copy.
//
// Key: the entity's components sorted by type, each as "<type>.<name>",
// joined by '.', where <name> is "d" for the default or "n" followed by the
// name; type and name are escaped as topic keys are (bytes outside
// [a-zA-Z0-9_-] become "=XX"), so the '.' separators are unambiguous and no
// token is empty:
//
//	user alice                    user.nalice
//	user alice, client-id default client-id.d.user.nalice
//	client-id "app.v2"            client-id.napp=2Ev2
//	ip default                    ip.d
//
// Value: {"v":1, "quotas":{"producer_byte_rate":1048576}}. A record is never
// stored without quotas: removing an entity's last quota deletes it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// quotaRecordVersion is the version of quota records this code writes and
// reads.
const quotaRecordVersion = 1

// maxQuotaKeyBytes bounds an entity's key, for the reason maxTxnKeyBytes
// bounds a transactional id's.
const maxQuotaKeyBytes = 3 << 10

// QuotaComponent is one component of a client quota entity: its type
// ("user", "client-id" or "ip") and its name, nil for Kafka's default entity
// of the type.
type QuotaComponent struct {
	Type string
	Name *string
}

// QuotaEntity is what a client quota is configured for: one component per
// type. The Store returns entities sorted by type.
type QuotaEntity []QuotaComponent

// ClientQuota is one entity's stored quotas, by key.
type ClientQuota struct {
	Entity QuotaEntity
	Values map[string]float64
}

// QuotaEvent is one event of WatchClientQuotas: a stored entity's quotas, or
// with Synced set (and nothing else) the mark that every record stored when
// the watch began has been delivered.
type QuotaEvent struct {
	Synced bool
	Entity QuotaEntity
	// Values are the entity's quotas, nil when its record was deleted.
	Values map[string]float64
}

type quotaRecord struct {
	V      int                `json:"v"`
	Quotas map[string]float64 `json:"quotas"`
}

// ClientQuotas returns every stored entity's quotas, in key order, read in
// one pass. A record that cannot be decoded is logged and left out: one bad
// record must not hide the others.
func (s *Store) ClientQuotas(ctx context.Context) ([]ClientQuota, error) {
	recs, err := s.bucketRecords(ctx, s.quotas)
	if err != nil {
		return nil, fmt.Errorf("list client quotas: %w", err)
	}
	out := make([]ClientQuota, 0, len(recs))
	for _, key := range slices.Sorted(maps.Keys(recs)) {
		q, err := decodeQuota(key, recs[key])
		if err != nil {
			s.log.Warn("skipping client quota record", "key", key, "err", err)
			continue
		}
		out = append(out, q)
	}
	return out, nil
}

// AlterClientQuota changes entity's quotas: fn gets a copy of the stored
// values (empty when there are none) and changes it in place, and the result
// is written by compare-and-swap; an empty result deletes the record. fn runs
// again after a lost race, on the new values; an error from fn is returned
// (wrapped) with nothing written. It returns the values stored. Errors:
// ErrConflict (wrapped) after maxCASAttempts lost races; ErrTooLarge for an
// entity whose key is too long or values over RecordLimit; a plain error for
// an entity without components or with a type twice.
func (s *Store) AlterClientQuota(ctx context.Context, entity QuotaEntity, fn func(values map[string]float64) error) (map[string]float64, error) {
	key, err := quotaKey(entity)
	if err != nil {
		return nil, fmt.Errorf("alter client quota: %w", err)
	}
	var out map[string]float64
	err = retryCAS(ctx, func() error {
		values, rev, err := s.loadQuota(ctx, key)
		if err != nil {
			return err
		}
		if err := fn(values); err != nil {
			return err
		}
		out = values
		return s.putQuota(ctx, key, values, rev)
	})
	if err != nil {
		return nil, fmt.Errorf("alter client quota %s: %w", key, err)
	}
	return out, nil
}

// loadQuota returns key's values (empty, never nil) and revision, 0 when the
// record does not exist.
func (s *Store) loadQuota(ctx context.Context, key string) (map[string]float64, uint64, error) {
	e, err := s.quotas.Get(ctx, key)
	switch {
	case isNotFound(err):
		return map[string]float64{}, 0, nil
	case err != nil:
		return nil, 0, fmt.Errorf("read: %w", err)
	}
	q, err := decodeQuota(key, e.Value())
	if err != nil {
		return nil, 0, err
	}
	return q.Values, e.Revision(), nil
}

// putQuota writes values on rev (0: the record must not exist), deleting the
// record when values is empty; errCASLost when the record moved on.
func (s *Store) putQuota(ctx context.Context, key string, values map[string]float64, rev uint64) error {
	if len(values) == 0 {
		if rev == 0 {
			return nil
		}
		err := s.quotas.Delete(ctx, key, jetstream.LastRevision(rev))
		switch {
		case isCASMismatch(err):
			return errCASLost
		case err != nil && !isNotFound(err):
			return fmt.Errorf("delete: %w", err)
		}
		return nil
	}
	data, err := s.encode(quotaRecord{V: quotaRecordVersion, Quotas: values})
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	if rev == 0 {
		_, err = s.quotas.Create(ctx, key, data)
	} else {
		_, err = s.quotas.Update(ctx, key, data, rev)
	}
	switch {
	case isCASMismatch(err):
		return errCASLost
	case err != nil:
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// WatchClientQuotas calls fn with every stored entity's quotas, then an event
// with Synced set, then every change, until ctx ends (nil) or the watch fails
// (an error; the caller watches again, and gets every record again). fn runs
// on the watching goroutine, one event at a time. Records that cannot be
// decoded are logged and skipped.
func (s *Store) WatchClientQuotas(ctx context.Context, fn func(QuotaEvent)) error {
	return watchBucket(ctx, s.quotas, "client quotas", s.log, func(e jetstream.KeyValueEntry) {
		if e == nil {
			fn(QuotaEvent{Synced: true})
			return
		}
		if ev, err := quotaEvent(e); err != nil {
			s.log.Warn("skipping client quota record", "key", e.Key(), "err", err)
		} else {
			fn(ev)
		}
	})
}

func quotaEvent(e jetstream.KeyValueEntry) (QuotaEvent, error) {
	if e.Operation() != jetstream.KeyValuePut {
		entity, err := parseQuotaKey(e.Key())
		return QuotaEvent{Entity: entity}, err
	}
	q, err := decodeQuota(e.Key(), e.Value())
	return QuotaEvent{Entity: q.Entity, Values: q.Values}, err
}

func decodeQuota(key string, data []byte) (ClientQuota, error) {
	entity, err := parseQuotaKey(key)
	if err != nil {
		return ClientQuota{}, err
	}
	var rec quotaRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return ClientQuota{}, corruptf("client quota %s: %v", key, err)
	}
	if rec.V != quotaRecordVersion {
		return ClientQuota{}, corruptf("client quota %s: unknown version %d", key, rec.V)
	}
	if rec.Quotas == nil {
		rec.Quotas = map[string]float64{}
	}
	return ClientQuota{Entity: entity, Values: rec.Quotas}, nil
}

// quotaKey encodes entity as the package comment describes.
func quotaKey(entity QuotaEntity) (string, error) {
	if len(entity) == 0 {
		return "", errors.New("coordinator: client quota entity without components")
	}
	sorted := slices.SortedFunc(slices.Values(entity), func(a, b QuotaComponent) int { return strings.Compare(a.Type, b.Type) })
	var b strings.Builder
	for i, c := range sorted {
		switch {
		case c.Type == "":
			return "", errors.New("coordinator: client quota entity component without a type")
		case i > 0 && sorted[i-1].Type == c.Type:
			return "", fmt.Errorf("coordinator: client quota entity with type %q twice", c.Type)
		case i > 0:
			b.WriteByte('.')
		}
		b.WriteString(topicKey(c.Type))
		if c.Name == nil {
			b.WriteString(".d")
		} else {
			b.WriteString(".n" + topicKey(*c.Name))
		}
	}
	if b.Len() > maxQuotaKeyBytes {
		return "", fmt.Errorf("client quota entity key of %d bytes, limit %d: %w", b.Len(), maxQuotaKeyBytes, ErrTooLarge)
	}
	return b.String(), nil
}

// parseQuotaKey decodes a key made by quotaKey.
func parseQuotaKey(key string) (QuotaEntity, error) {
	tokens := strings.Split(key, ".")
	if len(tokens)%2 != 0 {
		return nil, corruptf("client quota key %q: odd number of tokens", key)
	}
	var entity QuotaEntity
	for i := 0; i < len(tokens); i += 2 {
		typ, err := topicName(tokens[i])
		if err != nil || typ == "" {
			return nil, corruptf("client quota key %q: bad type %q", key, tokens[i])
		}
		c := QuotaComponent{Type: typ}
		switch name := tokens[i+1]; {
		case name == "d":
		case strings.HasPrefix(name, "n"):
			n, err := topicName(name[1:])
			if err != nil {
				return nil, corruptf("client quota key %q: %v", key, err)
			}
			c.Name = &n
		default:
			return nil, corruptf("client quota key %q: bad name %q", key, name)
		}
		entity = append(entity, c)
	}
	return entity, nil
}
