package gateway

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/stratalog/strata/tiered"
	"github.com/stratalog/strata/tiered/index"
)

// Fetches of partitions never written. A gateway loads a partition it leads
// by claiming it: a few store round trips and two writes. A consumer of a
// new 10,000-partition topic would make its gateway claim all 10,000 on its
// first fetch, and keep them all in memory, though nothing was written to
// any. So a fetch from offset 0 of a partition that is not loaded here, of
// which no claim is known, and whose head the store does not hold (a claim
// writes the head before any record is appended) is answered as empty
// without loading it, as ListOffsets is (neverWritten), and its long poll
// waits for this gateway's first append to it.
//
// The store's answer is remembered, and asked again at most once per
// unwrittenRecheck per partition, within unwrittenChecks a second for the
// whole gateway: a head can appear without this gateway appending only
// when another gateway claims the partition, and that claim is published
// (LeaderEpochs) and seen here within moments. The recheck covers a claim
// whose publication failed.
const (
	unwrittenRecheck = 10 * time.Second
	unwrittenChecks  = 100
)

// unwrittenParts remembers the partitions a fetch found never written.
type unwrittenParts struct {
	mu     sync.Mutex
	parts  map[index.TopicPartition]*unwrittenPart
	checks *rate.Limiter // rechecks, not first checks
}

type unwrittenPart struct {
	checkedAt time.Time
	// written is closed when this gateway appends to the partition, or
	// the partition stops being one this gateway answers for: the long
	// polls waiting on it then read it again.
	written chan struct{}
}

func newUnwrittenParts() *unwrittenParts {
	return &unwrittenParts{parts: make(map[index.TopicPartition]*unwrittenPart), checks: rate.NewLimiter(unwrittenChecks, unwrittenChecks)}
}

// due reports whether the store should be asked about tp: never asked, or
// last asked unwrittenRecheck ago and the rechecks' budget has room.
func (u *unwrittenParts) due(tp index.TopicPartition, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := u.parts[tp]
	return p == nil || now.Sub(p.checkedAt) >= unwrittenRecheck && u.checks.AllowN(now, 1)
}

// confirm records that the store held no head for tp at now.
func (u *unwrittenParts) confirm(tp index.TopicPartition, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if p := u.parts[tp]; p != nil {
		p.checkedAt = now
		return
	}
	u.parts[tp] = &unwrittenPart{checkedAt: now, written: make(chan struct{})}
}

// forget drops tp's entry, waking the long polls waiting on it.
func (u *unwrittenParts) forget(tp index.TopicPartition) {
	u.mu.Lock()
	p := u.parts[tp]
	delete(u.parts, tp)
	u.mu.Unlock()
	if p != nil {
		close(p.written)
	}
}

// forgetUnless drops the entries of the partitions keep refuses.
func (u *unwrittenParts) forgetUnless(keep func(index.TopicPartition) bool) {
	u.mu.Lock()
	var gone []*unwrittenPart
	for tp, p := range u.parts {
		if !keep(tp) {
			gone = append(gone, p)
			delete(u.parts, tp)
		}
	}
	u.mu.Unlock()
	for _, p := range gone {
		close(p.written)
	}
}

// unwrittenCandidate reports whether tp may be a partition never written,
// pending the store's word: it is not loaded here and no claim of it is
// known.
func (s *Server) unwrittenCandidate(tp index.TopicPartition) bool {
	if s.cfg.LeaderEpochs == nil || s.cfg.Logs.Loaded(tp) {
		return false
	}
	_, claimed := s.cfg.LeaderEpochs.LeaderClaim(tp)
	return !claimed
}

// checkUnwritten asks the store (neverWritten), several at a time, about
// the fetch's led partitions that are candidates it has not asked about
// lately, and returns the led partitions not known to be never written:
// the ones to load.
func (s *Server) checkUnwritten(ctx context.Context, led []index.TopicPartition) []index.TopicPartition {
	if s.cfg.LeaderEpochs == nil {
		return led
	}
	now := s.now()
	load := make([]index.TopicPartition, 0, len(led))
	var ask []index.TopicPartition
	for _, tp := range led {
		switch {
		case !s.unwrittenCandidate(tp):
			load = append(load, tp)
		case s.unwritten.due(tp, now):
			ask = append(ask, tp)
		}
	}
	never := make([]bool, len(ask))
	forEachLimited(len(ask), metadataClaimParallelism, func(i int) { never[i] = s.neverWritten(ctx, ask[i]) })
	for i, tp := range ask {
		if never[i] {
			s.unwritten.confirm(tp, now)
			continue
		}
		// Written, or the store did not answer: load it, as before
		// there was this path.
		s.unwritten.forget(tp)
		load = append(load, tp)
	}
	return load
}

// knownUnwritten returns, for a partition a fetch may answer as never
// written (checked by checkUnwritten), the channel closed when that
// changes.
func (s *Server) knownUnwritten(tp index.TopicPartition, offset int64) (<-chan struct{}, bool) {
	if offset != 0 || !s.unwrittenCandidate(tp) {
		return nil, false
	}
	s.unwritten.mu.Lock()
	defer s.unwritten.mu.Unlock()
	p := s.unwritten.parts[tp]
	if p == nil {
		return nil, false
	}
	return p.written, true
}

// unwrittenSource reads a partition never written: empty, from offset 0.
type unwrittenSource struct{ written <-chan struct{} }

func (u unwrittenSource) Read(context.Context, index.TopicPartition, int64, int, tiered.Isolation) (tiered.ReadResult, error) {
	return tiered.ReadResult{}, nil
}

func (u unwrittenSource) Offsets(context.Context, index.TopicPartition) (tiered.Offsets, error) {
	return tiered.Offsets{}, nil
}

func (u unwrittenSource) Watch(context.Context, index.TopicPartition) (<-chan struct{}, error) {
	return u.written, nil
}
