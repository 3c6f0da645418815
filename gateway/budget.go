package gateway

import (
	"context"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// byteBudget bounds bytes held at once across all connections: the request
// frames being served (MaxInFlightRequestBytes) and the record bytes of fetch
// responses from their read until their write (MaxFetchResponseBytes). It
// counts what is held, for the memory budget's metrics.
type byteBudget struct {
	sem  *semaphore.Weighted
	size int64
	used atomic.Int64
}

func newByteBudget(size int64) *byteBudget {
	return &byteBudget{sem: semaphore.NewWeighted(size), size: size}
}

// acquire waits until n bytes are free and takes them.
func (b *byteBudget) acquire(ctx context.Context, n int64) error {
	if err := b.sem.Acquire(ctx, n); err != nil {
		return err
	}
	b.used.Add(n)
	return nil
}

// minFetchGrant is the least a fetch is granted when the budget is short:
// enough for a consumer to make progress, as a small fetch.max.bytes would.
const minFetchGrant = 1 << 20

// acquireUpTo takes as much of want as is free, halving down to
// minFetchGrant, and below that waits for minFetchGrant (or want, if
// smaller). A fetch then reads fewer bytes while others hold the budget,
// rather than every consumer waiting for its full fetch.max.bytes.
func (b *byteBudget) acquireUpTo(ctx context.Context, want int64) (int64, error) {
	want = min(want, b.size)
	for n := want; n > minFetchGrant; n /= 2 {
		if b.sem.TryAcquire(n) {
			b.used.Add(n)
			return n, nil
		}
	}
	n := min(want, minFetchGrant)
	return n, b.acquire(ctx, n)
}

// release gives n bytes back.
func (b *byteBudget) release(n int64) {
	if n <= 0 {
		return
	}
	b.used.Add(-n)
	b.sem.Release(n)
}

// Used returns the bytes held now.
func (b *byteBudget) Used() int64 { return b.used.Load() }

// RequestBytesHeld returns the request bytes being served now.
func (s *Server) RequestBytesHeld() int64 { return s.inflight.Used() }

// FetchResponseBytesHeld returns the record bytes fetch responses hold now.
func (s *Server) FetchResponseBytesHeld() int64 { return s.fetchBytes.Used() }
