package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
)

const (
	// FirstProducerID is the first producer id ever allocated. Ids below it
	// are left free for uses not yet known.
	FirstProducerID = 1000

	// producerIDKey is the counter key in the counters bucket.
	producerIDKey = "producer-id"
)

// counterRecord is a counter's value: the next id to hand out.
type counterRecord struct {
	Next int64 `json:"next"`
}

// AllocateProducerIDs reserves n consecutive producer ids and returns the
// first. Ranges never overlap, across Stores and processes: each allocation
// is a compare-and-swap on the counter's revision. Ids start at
// FirstProducerID. An allocation whose result is lost (a timeout after the
// write landed) leaves a gap, never a reuse.
//
// Errors: ErrConflict (wrapped) after losing maxCASAttempts races in a row;
// ErrCorrupt for an unreadable counter.
func (s *Store) AllocateProducerIDs(ctx context.Context, n int64) (first int64, err error) {
	if n < 1 {
		return 0, fmt.Errorf("coordinator: allocate %d producer ids: count must be positive", n)
	}
	s.idMu.Lock()
	defer s.idMu.Unlock()
	err = retryCAS(ctx, func() error {
		var err error
		first, err = s.tryAllocate(ctx, producerIDKey, FirstProducerID, n)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("allocate %d producer ids: %w", n, err)
	}
	return first, nil
}

// tryAllocate makes one attempt at advancing the counter at key by n.
func (s *Store) tryAllocate(ctx context.Context, key string, start, n int64) (int64, error) {
	e, err := s.counters.Get(ctx, key)
	var rev uint64
	next := start
	switch {
	case isNotFound(err):
	case err != nil:
		return 0, fmt.Errorf("read counter %s: %w", key, err)
	default:
		var r counterRecord
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			return 0, corruptf("counter %s: %v", key, err)
		}
		if r.Next < start {
			return 0, corruptf("counter %s at %d, below its start %d", key, r.Next, start)
		}
		next, rev = r.Next, e.Revision()
	}
	if next > math.MaxInt64-n {
		return 0, fmt.Errorf("counter %s exhausted at %d", key, next)
	}
	data, err := s.encode(counterRecord{Next: next + n})
	if err != nil {
		return 0, err
	}
	if rev == 0 {
		_, err = s.counters.Create(ctx, key, data)
	} else {
		_, err = s.counters.Update(ctx, key, data, rev)
	}
	if isCASMismatch(err) {
		return 0, errCASLost
	}
	if err != nil {
		return 0, fmt.Errorf("write counter %s: %w", key, err)
	}
	return next, nil
}
