package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoMetadata is returned by OpenReadOnly when the NATS servers hold no
// Strata buckets under the prefix: no gateway has ever run against them.
var ErrNoMetadata = errors.New("coordinator: no Strata metadata on these NATS servers")

// OpenReadOnly binds the buckets a reader of the log needs (topics,
// partition heads, index chunks) as they exist, creating and changing
// nothing, for tools beside the gateways such as `strata replay`: nothing
// they do can disturb a gateway. Only the Store's read methods (LoadTopic,
// LoadPartition, and Schemas' Get and Watch when the registry's bucket
// exists) may be called on the result.
//
// Reads go wherever the buckets' streams send them: gateways turn direct gets
// off (see Open), so that is the stream leader.
func OpenReadOnly(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if !validPrefix.MatchString(cfg.Prefix) {
		return nil, fmt.Errorf("coordinator: invalid bucket prefix %q: letters, digits, '-' and '_' only", cfg.Prefix)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{js: js, cfg: cfg, log: log, recordLimit: maxRecordBytes}
	for _, b := range []struct {
		kv     *jetstream.KeyValue
		suffix string
	}{
		{&s.topics, "topics"},
		{&s.partitions, "partitions"},
		{&s.chunks, "chunks"},
	} {
		bucket := cfg.Prefix + "_" + b.suffix
		kv, err := js.KeyValue(ctx, bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, fmt.Errorf("bucket %s not found: %w", bucket, ErrNoMetadata)
		}
		if err != nil {
			return nil, fmt.Errorf("bind bucket %s: %w", bucket, err)
		}
		*b.kv = kv
	}
	// The schema registry's bucket, for readers that decode records
	// (Schemas); a cluster whose registry never ran has none.
	if kv, err := js.KeyValue(ctx, cfg.Prefix+"_schemas"); err == nil {
		s.schemas = kv
	} else if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("bind bucket %s_schemas: %w", cfg.Prefix, err)
	}
	s.table.init()
	return s, nil
}

// LoadTopic reads the named topic from the store (not from the table Run
// keeps), returning ErrUnknownTopic when it does not exist.
func (s *Store) LoadTopic(ctx context.Context, name string) (Topic, error) {
	t, _, err := s.getTopic(ctx, name)
	return t, err
}
