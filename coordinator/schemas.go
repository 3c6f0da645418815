package coordinator

// The schema registry's records (schemaregistry) live in their own bucket,
// "<prefix>_schemas", as opaque values under keys the registry chooses: the
// coordinator gives it compare-and-swap writes and a watch, and the registry
// owns the record formats and the escaping of subject names into keys (KV
// keys allow [-/_=.a-zA-Z0-9]).

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
)

// SchemaKV is the registry's view of its bucket. Every write is a
// compare-and-swap on the key's revision.
type SchemaKV struct{ kv jetstream.KeyValue }

// Schemas returns the schema registry's bucket.
func (s *Store) Schemas() *SchemaKV { return &SchemaKV{kv: s.schemas} }

// Get returns key's value and revision, or revision 0 when it does not exist.
func (k *SchemaKV) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := k.kv.Get(ctx, key)
	switch {
	case isNotFound(err):
		return nil, 0, nil
	case err != nil:
		return nil, 0, fmt.Errorf("read %s: %w", key, err)
	}
	return e.Value(), e.Revision(), nil
}

// Put stores value under key if its revision is still prev (0: the key must
// not exist) and returns the new revision and true; a lost race returns
// false and no error.
func (k *SchemaKV) Put(ctx context.Context, key string, value []byte, prev uint64) (uint64, bool, error) {
	var rev uint64
	var err error
	if prev == 0 {
		rev, err = k.kv.Create(ctx, key, value)
	} else {
		rev, err = k.kv.Update(ctx, key, value, prev)
	}
	if isCASMismatch(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("write %s: %w", key, err)
	}
	return rev, true, nil
}

// Delete removes key if its revision is still prev and returns true; a lost
// race returns false and no error.
func (k *SchemaKV) Delete(ctx context.Context, key string, prev uint64) (bool, error) {
	err := k.kv.Delete(ctx, key, jetstream.LastRevision(prev))
	if isCASMismatch(err) {
		return false, nil
	}
	if err != nil && !isNotFound(err) {
		return false, fmt.Errorf("delete %s: %w", key, err)
	}
	return true, nil
}

// Watch calls fn with every stored record, then (after a nil-valued call
// with key "" marking that the stored records are all delivered) every
// change, until ctx ends. A deleted key comes with a nil value.
func (k *SchemaKV) Watch(ctx context.Context, fn func(key string, value []byte, rev uint64)) error {
	return watchBucket(ctx, k.kv, "schemas", slog.New(slog.DiscardHandler), func(e jetstream.KeyValueEntry) {
		if e == nil {
			fn("", nil, 0)
			return
		}
		var v []byte
		if e.Operation() == jetstream.KeyValuePut {
			v = e.Value()
		}
		fn(e.Key(), v, e.Revision())
	})
}
