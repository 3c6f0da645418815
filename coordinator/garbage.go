package coordinator

// What garbage collection (tiered/gc) needs of the coordinator: every
// partition with state, the chunk records with their revisions and write
// times, and conditional deletes of both. Deciding what is garbage is the
// collector's; every delete here is conditional on the revision the
// collector saw, so a record written or touched since is never removed.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stratalog/strata/tiered/index"
)

// Partitions returns every partition with a head record, deleted topics'
// included.
func (s *Store) Partitions(ctx context.Context) ([]index.TopicPartition, error) {
	keys, err := s.listKeys(ctx, s.partitions, ">")
	if err != nil {
		return nil, err
	}
	tps := make([]index.TopicPartition, 0, len(keys))
	for _, k := range keys {
		tp, ok := parsePartitionKey(k)
		if !ok {
			return nil, corruptf("partition key %q", k)
		}
		tps = append(tps, tp)
	}
	return tps, nil
}

// parsePartitionKey inverts partitionKey; chunk keys, which start with a
// partition key, parse as their partition.
func parsePartitionKey(key string) (index.TopicPartition, bool) {
	hexID, rest, ok := strings.Cut(key, ".")
	part, _, _ := strings.Cut(rest, ".")
	id, err := hex.DecodeString(hexID)
	p, perr := strconv.ParseInt(part, 10, 32)
	if !ok || err != nil || len(id) != 16 || perr != nil || p < 0 {
		return index.TopicPartition{}, false
	}
	tp := index.TopicPartition{Partition: int32(p)}
	copy(tp.TopicID[:], id)
	return tp, true
}

// DeletePartition removes tp's head record if it is still at revision, and
// its published leader epoch. Its chunks are then unreferenced, for the
// chunk collection to remove. It returns ErrConflict (wrapped) when the head
// moved on.
func (s *Store) DeletePartition(ctx context.Context, tp index.TopicPartition, revision uint64) error {
	key := partitionKey(tp)
	err := s.partitions.Delete(ctx, key, jetstream.LastRevision(revision))
	if isCASMismatch(err) {
		return fmt.Errorf("delete partition %s at revision %d: %w", key, revision, ErrConflict)
	}
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete partition %s: %w", key, err)
	}
	if err := s.leaders.Delete(ctx, key); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete leader epoch of %s: %w", key, err)
	}
	return nil
}

// Chunks calls fn with every chunk record, with the partition its key names.
func (s *Store) Chunks(ctx context.Context, fn func(index.StoredChunk) error) error {
	w, err := s.chunks.WatchAll(ctx, jetstream.MetaOnly(), jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("list chunks: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("list chunks: watcher stopped")
			}
			if e == nil { // every stored record has been delivered
				return nil
			}
			tp, ok := parsePartitionKey(e.Key())
			if !ok {
				return corruptf("chunk key %q", e.Key())
			}
			if err := fn(index.StoredChunk{TP: tp, Key: e.Key(), Revision: e.Revision(), Written: e.Created()}); err != nil {
				return err
			}
		}
	}
}

// DeleteChunk removes a chunk record if it is still at revision: a commit
// that reuses a chunk rewrites it (writeChunk), so one being reused is kept.
func (s *Store) DeleteChunk(ctx context.Context, r index.StoredChunk) error {
	err := s.chunks.Delete(ctx, r.Key, jetstream.LastRevision(r.Revision))
	if isCASMismatch(err) {
		return fmt.Errorf("delete chunk %s at revision %d: %w", r.Key, r.Revision, ErrConflict)
	}
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete chunk %s: %w", r.Key, err)
	}
	return nil
}
