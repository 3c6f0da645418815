package tiered

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
)

// partition is one loaded partition. mu guards every field below it; the flusher
// and appenders take it briefly and never across I/O.
type partition struct {
	tp index.TopicPartition

	// loaded is closed once load has finished; loadErr is its result. Both
	// are written only before loaded closes.
	loaded  chan struct{}
	loadErr error

	mu sync.Mutex
	// committed is the last state the index accepted, at revision rev.
	committed index.Partition
	rev       uint64
	// next is the next offset to assign: committed.HighWatermark plus what is
	// in flight and queued.
	next int64
	// inflight is what the running flush took; queued waits for the next one.
	// Both are in offset order, inflight before queued.
	inflight []*pending
	queued   []*pending
	// producers is the idempotent-producer state including inflight and
	// queued batches: what the next batch is checked against.
	producers map[int64]index.Producer
	// changed is closed and replaced whenever the high watermark moves.
	changed chan struct{}
	// broken is set when the partition failed a commit; it takes no more
	// appends and is reloaded on next use.
	broken bool
	// verifiedAt is when a read last checked the claim (Log.verifyClaim).
	verifiedAt time.Time
}

// pending is one appended batch waiting to become durable.
type pending struct {
	data []byte
	h    batch.Header
	done chan struct{}
	err  error // written before done is closed
}

func (p *pending) finish(err error) {
	p.err = err
	close(p.done)
}

func newPartition(tp index.TopicPartition) *partition {
	return &partition{tp: tp, loaded: make(chan struct{}), changed: make(chan struct{})}
}

// load reads the committed state and claims the partition with the next leader
// epoch, so that a previous writer (an earlier run of this gateway, or a zombie)
// can no longer commit.
func (p *partition) load(ctx context.Context, idx Index, mayClaim func(context.Context, index.TopicPartition) error, onClaim func(context.Context, index.TopicPartition, int32)) {
	defer close(p.loaded)
	if mayClaim != nil {
		if err := mayClaim(ctx, p.tp); err != nil {
			p.loadErr = fmt.Errorf("claim partition %x/%d: %w: %w", p.tp.TopicID, p.tp.Partition, ErrNotLeader, err)
			return
		}
	}
	st, rev, err := idx.LoadPartition(ctx, p.tp)
	if err != nil {
		p.loadErr = fmt.Errorf("load partition %x/%d: %w", p.tp.TopicID, p.tp.Partition, err)
		return
	}
	claim := st
	claim.LeaderEpoch++
	claim.Epochs = append(slices.Clone(st.Epochs), index.EpochStart{Epoch: claim.LeaderEpoch, StartOffset: st.HighWatermark})
	if n := len(claim.Epochs); n > index.MaxEpochs {
		claim.Epochs = claim.Epochs[n-index.MaxEpochs:]
	}
	stored, rev, err := idx.CommitPartition(ctx, p.tp, claim, rev)
	if err != nil {
		if errors.Is(err, index.ErrConflict) || errors.Is(err, index.ErrFenced) {
			err = fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		p.loadErr = fmt.Errorf("claim partition %x/%d: %w", p.tp.TopicID, p.tp.Partition, err)
		return
	}
	claim.Chunks = stored.Chunks
	p.committed = claim
	p.rev = rev
	p.next = claim.HighWatermark
	p.producers = maps.Clone(claim.Producers)
	if p.producers == nil {
		p.producers = make(map[int64]index.Producer)
	}
	if onClaim != nil {
		onClaim(ctx, p.tp, claim.LeaderEpoch)
	}
}

// Appended is a batch accepted by Append. Wait reports when it is durable.
type Appended struct {
	// BaseOffset is the offset of the batch's first record.
	BaseOffset int64
	// Duplicate is set when the batch repeated one already appended by the
	// same idempotent producer; BaseOffset is then the original's.
	Duplicate bool

	p *pending // nil when the batch was already durable
}

// Wait blocks until the batch is durable and visible, the flush failed, or ctx
// ends.
func (a *Appended) Wait(ctx context.Context) error {
	if a.p == nil {
		return nil
	}
	select {
	case <-a.p.done:
		return a.p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Append assigns offsets to one RecordBatch v2 and queues it for the next flush.
// The caller has verified the batch (batch.Verify) and hands b over: Append
// rewrites its base offset and leader epoch in place.
//
// It returns ErrOutOfOrderSequence or ErrProducerFenced for an idempotent batch
// that does not follow its producer's last one, a duplicate Appended for one that
// repeats a recent batch, ErrBackpressure when too much is queued, and
// ErrNotLeader when the partition cannot be written here.
func (l *Log) Append(ctx context.Context, tp index.TopicPartition, b []byte) (*Appended, error) {
	h, err := batch.ReadHeader(b)
	if err != nil {
		return nil, err
	}
	p, err := l.partition(ctx, tp)
	if err != nil {
		return nil, err
	}

	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return nil, ErrClosed
	case l.queued+len(b) > l.cfg.MaxQueuedBytes:
		l.mu.Unlock()
		l.metrics.backpressure.Inc()
		return nil, ErrBackpressure
	}
	l.queued += len(b)
	full := l.queued >= l.cfg.FlushBytes
	l.mu.Unlock()

	a, err := p.append(b, h, l.cfg.Now().UnixMilli())
	if err != nil || a.p == nil {
		l.mu.Lock()
		l.queued -= len(b)
		l.mu.Unlock()
		return a, err
	}
	if full {
		select {
		case l.flushNow <- struct{}{}:
		default:
		}
	}
	return a, nil
}

func (p *partition) append(b []byte, h batch.Header, nowMs int64) (*Appended, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken {
		return nil, ErrNotLeader
	}
	if h.Idempotent() {
		if dup, ok, err := p.checkSequence(h); err != nil || ok {
			return dup, err
		}
	}

	base := p.next
	batch.SetBaseOffset(b, base)
	batch.SetPartitionLeaderEpoch(b, p.committed.LeaderEpoch)
	h.BaseOffset = base
	h.PartitionLeaderEpoch = p.committed.LeaderEpoch
	p.next = h.LastOffset() + 1

	if h.Idempotent() {
		p.producers[h.ProducerID] = recordProducerBatch(p.producers[h.ProducerID], h, nowMs)
	}
	pb := &pending{data: b, h: h, done: make(chan struct{})}
	p.queued = append(p.queued, pb)
	return &Appended{BaseOffset: base, p: pb}, nil
}

// checkSequence applies Kafka's idempotent-producer rules (the Java broker's
// ProducerAppendInfo.checkSequence) to h. It returns a duplicate Appended with ok
// set when h repeats a remembered batch.
func (p *partition) checkSequence(h batch.Header) (dup *Appended, ok bool, err error) {
	st, known := p.producers[h.ProducerID]
	switch {
	case !known || h.ProducerEpoch > st.Epoch:
		// A new producer, or a new epoch of one, starts at sequence 0.
		if h.BaseSequence != 0 {
			return nil, false, fmt.Errorf("%w: producer %d epoch %d starts at sequence %d, want 0",
				ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return nil, false, nil
	case h.ProducerEpoch < st.Epoch:
		return nil, false, fmt.Errorf("%w: producer %d epoch %d < %d", ErrProducerFenced, h.ProducerID, h.ProducerEpoch, st.Epoch)
	}
	for _, pb := range st.Batches {
		if pb.FirstSequence == h.BaseSequence && pb.LastSequence == h.LastSequence() {
			return p.duplicate(pb.BaseOffset), true, nil
		}
	}
	if n := len(st.Batches); n > 0 {
		want := nextSequence(st.Batches[n-1].LastSequence)
		if h.BaseSequence != want {
			return nil, false, fmt.Errorf("%w: producer %d sequence %d, want %d",
				ErrOutOfOrderSequence, h.ProducerID, h.BaseSequence, want)
		}
	}
	return nil, false, nil
}

// duplicate returns an Appended for a batch already appended at base: done if it
// is committed, else sharing the original's wait.
func (p *partition) duplicate(base int64) *Appended {
	if base < p.committed.HighWatermark {
		return &Appended{BaseOffset: base, Duplicate: true}
	}
	for _, q := range [][]*pending{p.inflight, p.queued} {
		for _, pb := range q {
			if pb.h.BaseOffset == base {
				return &Appended{BaseOffset: base, Duplicate: true, p: pb}
			}
		}
	}
	// Unreachable while producers only holds committed and pending batches.
	return &Appended{BaseOffset: base, Duplicate: true}
}

// nextSequence is the sequence after last; sequences wrap from MaxInt32 to 0.
func nextSequence(last int32) int32 {
	if last == 1<<31-1 {
		return 0
	}
	return last + 1
}

// recordProducerBatch returns st with h remembered as its newest batch.
func recordProducerBatch(st index.Producer, h batch.Header, nowMs int64) index.Producer {
	if h.ProducerEpoch != st.Epoch {
		st = index.Producer{Epoch: h.ProducerEpoch}
	}
	batches := append(slices.Clone(st.Batches), index.ProducerBatch{
		FirstSequence: h.BaseSequence,
		LastSequence:  h.LastSequence(),
		BaseOffset:    h.BaseOffset,
		LastOffset:    h.LastOffset(),
	})
	if n := len(batches) - index.MaxProducerBatches; n > 0 {
		batches = batches[n:]
	}
	st.Batches = batches
	st.LastTimestamp = nowMs
	return st
}

// failQueued fails every queued (not in-flight) batch with err and marks the
// partition broken so it is reloaded on next use. It returns the bytes dropped
// from the queue.
func (p *partition) failQueued(err error) int {
	p.mu.Lock()
	q := p.queued
	p.queued = nil
	if len(q) > 0 {
		p.broken = true
	}
	p.mu.Unlock()
	return finishAll(q, err)
}

// finishAll finishes batches with err and returns their total size.
func finishAll(batches []*pending, err error) int {
	n := 0
	for _, pb := range batches {
		n += len(pb.data)
		pb.finish(err)
	}
	return n
}

// snapshot is a consistent view of the committed state for readers. Entries
// shares its backing array with the partition: entries are only ever appended
// beyond a snapshot's length, never changed in place.
type snapshot struct {
	committed index.Partition
	changed   <-chan struct{}
}

func (p *partition) snapshot() snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return snapshot{committed: p.committed, changed: p.changed}
}
