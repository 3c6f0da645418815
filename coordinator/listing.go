package coordinator

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Listing a bucket. nats.go reads a bucket through a watch, whose initial
// values end after as many messages as were pending when it started, or at
// one that reports nothing pending. A key rewritten while the watch runs is
// delivered twice and counts twice, so the watch can end before another
// key's message: with 4 keys rewritten in a tight loop, 781 of 2,000
// listings missed one. The garbage collector marks what the partitions it
// lists reference, and a gateway's lease is rewritten all the time, so a
// listing here must not miss a key that exists throughout it.
//
// listEntries therefore checks the watch against the stream's subject state,
// read after it: every key with a message then, live or deleted, that the
// watch did not deliver is read on its own. Deleted keys the watch delivers
// (it is not told to skip them) need no read.

// listEntries returns the live entries of kv whose keys match one of
// filters, every key without filters, by key. A key that exists from before
// the call until it returns is in the result; one written or deleted
// meanwhile may or may not be. With metaOnly the entries the watch delivers
// carry no value.
func (s *Store) listEntries(ctx context.Context, kv jetstream.KeyValue, filters []string, metaOnly bool) (map[string]jetstream.KeyValueEntry, error) {
	var opts []jetstream.WatchOpt
	if metaOnly {
		opts = append(opts, jetstream.MetaOnly())
	}
	// WatchFiltered rewrites its keys argument in place.
	w, err := kv.WatchFiltered(ctx, slices.Clone(filters), opts...)
	if err != nil {
		return nil, fmt.Errorf("list %s of %s: %w", strings.Join(filters, ","), kv.Bucket(), err)
	}
	defer stopWatcher(w, s.log)
	live := map[string]jetstream.KeyValueEntry{}
	seen := map[string]bool{} // delivered, deleted ones too
watch:
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("list %s of %s: %w", strings.Join(filters, ","), kv.Bucket(), ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("list %s of %s: watcher stopped", strings.Join(filters, ","), kv.Bucket())
			}
			if e == nil {
				break watch
			}
			seen[e.Key()] = true
			if e.Operation() == jetstream.KeyValuePut {
				live[e.Key()] = e
			} else {
				delete(live, e.Key())
			}
		}
	}

	keys, err := s.storedKeys(ctx, kv, filters)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if seen[k] {
			continue
		}
		e, err := kv.Get(ctx, k)
		if isNotFound(err) {
			continue // deleted, or gone meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("list %s of %s: read %s, which the watch missed: %w", strings.Join(filters, ","), kv.Bucket(), k, err)
		}
		live[k] = e
	}
	return live, nil
}

// storedKeys returns the keys matching filters that kv's stream holds a
// message for, live or deleted: its subject state.
func (s *Store) storedKeys(ctx context.Context, kv jetstream.KeyValue, filters []string) ([]string, error) {
	stream, err := s.bucketStream(ctx, kv.Bucket())
	if err != nil {
		return nil, fmt.Errorf("list keys of %s: %w", kv.Bucket(), err)
	}
	prefix := "$KV." + kv.Bucket() + "."
	if len(filters) == 0 {
		filters = []string{">"}
	}
	var keys []string
	for _, f := range filters {
		info, err := stream.Info(ctx, jetstream.WithSubjectFilter(prefix+f))
		if err != nil {
			return nil, fmt.Errorf("list keys %s of %s: %w", f, kv.Bucket(), err)
		}
		for subject := range info.State.Subjects {
			keys = append(keys, strings.TrimPrefix(subject, prefix))
		}
	}
	return keys, nil
}

// bucketStream returns the stream behind bucket, looked up once.
func (s *Store) bucketStream(ctx context.Context, bucket string) (jetstream.Stream, error) {
	s.bucketStreamsMu.Lock()
	defer s.bucketStreamsMu.Unlock()
	if st, ok := s.bucketStreams[bucket]; ok {
		return st, nil
	}
	st, err := s.js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return nil, err
	}
	if s.bucketStreams == nil {
		s.bucketStreams = make(map[string]jetstream.Stream)
	}
	s.bucketStreams[bucket] = st
	return st, nil
}

// listKeys returns the keys of kv matching any of filters (see
// listEntries), sorted; none is not an error.
func (s *Store) listKeys(ctx context.Context, kv jetstream.KeyValue, filters ...string) ([]string, error) {
	entries, err := s.listEntries(ctx, kv, filters, true)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// bucketRecords reads every record of kv by key (see listEntries).
func (s *Store) bucketRecords(ctx context.Context, kv jetstream.KeyValue) (map[string][]byte, error) {
	return s.filteredRecords(ctx, kv, nil)
}

// filteredRecords reads the records of kv whose keys match one of filters
// (every record without filters) by key.
func (s *Store) filteredRecords(ctx context.Context, kv jetstream.KeyValue, filters []string) (map[string][]byte, error) {
	entries, err := s.listEntries(ctx, kv, filters, false)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(entries))
	for k, e := range entries {
		out[k] = e.Value()
	}
	return out, nil
}
