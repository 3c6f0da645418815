package tiered

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/wal"
)

// partition is one loaded partition. mu guards every field below it; the flusher
// and appenders take it briefly and never across I/O.
type partition struct {
	tp index.TopicPartition
	// flushAge is how long a wal-tier batch may wait for a flush (Log.flushAge).
	flushAge time.Duration

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
	// queuedSince is when queued last became non-empty: its oldest batch's
	// wait for a flush (Config.PartitionFlushAge).
	queuedSince time.Time
	// producers is the idempotent-producer state including inflight and
	// queued batches: what the next batch is checked against.
	producers map[int64]index.Producer
	// openTxns and aborted are the transaction state (txn.go) of the
	// durable batches, those below highWatermark(). aborted is only
	// appended to or replaced, never changed in place: snapshots share it.
	openTxns map[int64]int64
	aborted  []index.AbortedTxn
	// changed is closed when the high watermark next moves (moved). It is
	// made only when a long poll waits on it (watch): a partition nobody
	// waits on allocates no channel per append.
	changed chan struct{}
	// broken is set when the partition failed a commit, or its topic was
	// deleted; it takes no more appends and is reloaded on next use.
	broken bool
	// draining is set when the partition was released or failed a WAL
	// append (Log.drain): it takes no more appends, is gone from the Log
	// (its next use loads it afresh), and flushes the batches the WAL
	// acknowledged before it goes.
	draining bool
	// verifiedAt is when a read last checked the claim (Log.verifyClaim).
	verifiedAt time.Time

	// durability is the topic's tier, read when the partition is loaded.
	durability Durability
	// The write-ahead tail (wal.go). walLast is the sequence of the
	// partition's last WAL message as this leader knows it: the next append
	// expects it. walEnd is the offset after the last batch durable in the
	// WAL: batches below it are acknowledged and visible before their flush.
	walLast uint64
	walEnd  int64
	// acked is walEnd, but also moved by appends that land once the
	// partition broke: the end of what the WAL acknowledged for it, which
	// its chain floor protects until the index holds it (chain.go).
	acked int64
	// walQueued waits for the next WAL append and walInflight is in the
	// current one; walSending is set while the sender goroutine runs.
	walQueued   []*pending
	walInflight []*pending
	walSending  bool
	// chainHold is the floor holdChain set for the append in flight to
	// the writer chain, 0 when none is.
	chainHold uint64
	// fresh is set by a claim that found the partition never written and
	// named this Log's writer chain at once (claimFresh): nothing to replay.
	fresh bool
	// purgeBelow is the last WAL sequence an index commit covered: the
	// purger removes the messages below it (it stays as the chain's anchor).
	// purged is what the purger last removed below.
	purgeBelow, purged uint64
}

// highWatermark is the end of what is durable: in the index or in the WAL.
// The caller holds mu.
func (p *partition) highWatermark() int64 {
	return max(p.committed.HighWatermark, p.walEnd)
}

// pending is one appended batch on its way to object storage. Its producer
// is answered (finish) when it is durable: in the WAL for the wal tier, in
// the index for the s3 tier.
type pending struct {
	data []byte
	h    batch.Header
	// walSeq is the sequence of the WAL message holding the batch, 0 while
	// it is not in the WAL. Set under the partition's mu.
	walSeq uint64

	done     chan struct{}
	finished atomic.Bool
	err      error // written before done is closed
}

func newPending(data []byte, h batch.Header) *pending {
	return &pending{data: data, h: h, done: make(chan struct{})}
}

// finish answers the batch's producer; only the first call counts, so a
// batch acknowledged from the WAL is not failed by a later flush failure.
func (p *pending) finish(err error) {
	if !p.finished.CompareAndSwap(false, true) {
		return
	}
	p.err = err
	close(p.done)
}

func newPartition(tp index.TopicPartition, flushAge time.Duration) *partition {
	return &partition{tp: tp, flushAge: flushAge, loaded: make(chan struct{})}
}

// load reads the committed state and claims the partition with the next leader
// epoch, so that a previous writer (an earlier run of this gateway, or a zombie)
// can no longer commit; then it replays the WAL tail above the committed high
// watermark. Only then does the partition serve.
func (l *Log) load(ctx context.Context, p *partition, stored *storedState) {
	defer close(p.loaded)
	if err := l.claim(ctx, p, stored); err != nil {
		p.loadErr = fmt.Errorf("claim partition %x/%d: %w", p.tp.TopicID, p.tp.Partition, unavailable(err))
		return
	}
	if err := l.replay(ctx, p); err != nil {
		p.loadErr = fmt.Errorf("replay wal of partition %x/%d: %w", p.tp.TopicID, p.tp.Partition, unavailable(err))
		return
	}
	if l.cfg.OnClaim != nil {
		l.cfg.OnClaim(ctx, p.tp, p.committed.LeaderEpoch)
	}
}

// unavailable marks a load error as ErrNotLeader (retriable: the client
// refreshes metadata and tries again) unless it already says what it is: the
// coordinator or the WAL not answering while NATS elects a leader must not
// fail a producer for good.
func unavailable(err error) error {
	if errors.Is(err, ErrNotLeader) || errors.Is(err, ErrCorruptTail) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNotLeader, err)
}

// claim commits the partition's state with the next leader epoch and makes it
// p's committed state: stored, if not nil, else the one it reads.
func (l *Log) claim(ctx context.Context, p *partition, stored *storedState) error {
	if l.cfg.MayClaim != nil {
		if err := l.cfg.MayClaim(ctx, p.tp); err != nil {
			return fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
	}
	p.durability = DurabilityS3
	if l.cfg.WAL != nil {
		p.durability = DurabilityWAL
		if l.cfg.Durability != nil {
			d, err := l.cfg.Durability(ctx, p.tp)
			if err != nil {
				return fmt.Errorf("durability: %w", err)
			}
			p.durability = d
		}
	}
	var st index.Partition
	var rev uint64
	var err error
	if stored != nil {
		st, rev = stored.state, stored.revision
	} else if st, rev, err = l.cfg.Index.LoadPartition(ctx, p.tp); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	claim := st
	claim.LeaderEpoch++
	if p.durability == DurabilityWAL {
		if p.fresh, err = l.claimFresh(ctx, p.tp, &claim, rev); err != nil {
			return fmt.Errorf("read the wal: %w", err)
		}
	}
	claim.Epochs = append(slices.Clone(st.Epochs), index.EpochStart{Epoch: claim.LeaderEpoch, StartOffset: st.HighWatermark})
	if n := len(claim.Epochs); n > index.MaxEpochs {
		claim.Epochs = claim.Epochs[n-index.MaxEpochs:]
	}
	committed, rev, err := l.cfg.Index.CommitPartition(ctx, p.tp, claim, rev)
	if err != nil {
		if errors.Is(err, index.ErrConflict) || errors.Is(err, index.ErrFenced) {
			err = fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		return err
	}
	claim.Chunks = committed.Chunks
	p.committed = claim
	p.rev = rev
	// What an earlier leader flushed but did not purge goes with the next
	// purge pass. The purger sees partitions while they load, so under mu.
	p.mu.Lock()
	p.purgeBelow = claim.WALSeq
	p.mu.Unlock()
	p.next = claim.HighWatermark
	p.producers = maps.Clone(claim.Producers)
	if p.producers == nil {
		p.producers = make(map[int64]index.Producer)
	}
	p.openTxns = maps.Clone(claim.OpenTxns)
	if p.openTxns == nil {
		p.openTxns = make(map[int64]int64)
	}
	p.aborted = slices.Clip(claim.Aborted)
	return nil
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

// Wait blocks until the batch is durable and visible (in the WAL on the wal
// tier, in the index on the s3 tier), making it durable failed, or ctx ends.
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

// Append assigns offsets to one RecordBatch v2 and queues it: for the WAL on
// the wal tier, for the next flush on the s3 tier.
// The caller has verified the batch (batch.Verify) and hands b over: Append
// rewrites its base offset and leader epoch in place.
//
// It returns ErrOutOfOrderSequence or ErrProducerFenced for an idempotent batch
// that does not follow its producer's last one, a duplicate Appended for one that
// repeats a recent batch, ErrBackpressure when too much or too old is waiting
// for object storage, ErrBatchTooLarge for a batch the WAL cannot hold, and
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
	if p, err = l.retier(ctx, p); err != nil {
		return nil, err
	}
	if l.cfg.WAL != nil && len(b) > l.cfg.WAL.MaxDataBytes() {
		return nil, fmt.Errorf("%w: %d bytes, the wal takes at most %d", ErrBatchTooLarge, len(b), l.cfg.WAL.MaxDataBytes())
	}

	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return nil, ErrClosed
	case l.queued+l.flushing+len(b) > l.cfg.MaxTailBytes:
		queued := l.queued + l.flushing
		l.mu.Unlock()
		l.metrics.backpressure.Inc()
		return nil, fmt.Errorf("%w: %d bytes wait for object storage", ErrBackpressure, queued)
	case l.tailAgeLocked() > l.cfg.MaxTailAge:
		age := l.tailAgeLocked()
		l.mu.Unlock()
		l.metrics.backpressure.Inc()
		return nil, fmt.Errorf("%w: the oldest batch has waited %s for object storage", ErrBackpressure, age.Round(time.Second))
	}
	l.queued += len(b)
	l.mu.Unlock()

	a, startSender, err := p.append(b, h, l.cfg.Now().UnixMilli())
	if err != nil || a.Duplicate { // a duplicate queues nothing of its own
		l.mu.Lock()
		l.queued -= len(b)
		l.mu.Unlock()
		if errors.Is(err, ErrOutOfOrderSequence) {
			err = l.confirmOutOfOrder(ctx, p, err)
		}
		return a, err
	}
	switch {
	case startSender:
		l.startSender(p)
	case p.durability == DurabilityS3: // queued for the flush right away
		l.flushIfFull()
	}
	return a, nil
}

// errForeignAppend stops walSuperseded's scan at another leader's message.
var errForeignAppend = errors.New("another leader appended")

// walSuperseded reports whether the WAL holds a message of p's, after the
// last one p knows, that another leader wrote; p is then reloaded. A deposed
// leader that does not know it yet can append after this gateway replayed
// the WAL, until this gateway's next append fences it, so an answer that a
// client acts on as final (a sequence gap, an offset past the end) is checked
// here first. Messages of p's own epoch are this gateway's appends in flight.
func (l *Log) walSuperseded(ctx context.Context, p *partition) (bool, error) {
	if l.cfg.WAL == nil || p.durability != DurabilityWAL || l.writer != nil {
		// Only the partition subjects have writers a claim does not fence
		// at once; a writer chain is fenced by the claim (chain.go).
		return false, nil
	}
	p.mu.Lock()
	after, epoch := p.walLast, p.committed.LeaderEpoch
	p.mu.Unlock()
	last, err := l.cfg.WAL.LastSeq(ctx, walPartition(p.tp))
	if err != nil || last == after {
		return false, err
	}
	_, err = l.cfg.WAL.Replay(ctx, walPartition(p.tp), after, func(_ uint64, r wal.Record) error {
		if r.Epoch != epoch {
			return errForeignAppend
		}
		return nil
	})
	switch {
	case errors.Is(err, errForeignAppend):
		l.reloadStale(p, "wal", after, last)
		return true, nil
	case err != nil:
		return false, err
	}
	return false, nil
}

// confirmOutOfOrder returns outOfOrder only once walSuperseded confirms p's
// producer state is current. Kafka clients take OUT_OF_ORDER_SEQUENCE_NUMBER
// as data loss: franz-go, for one, renumbers and resends what it had not seen
// acknowledged, which would duplicate those batches. Otherwise the producer
// is told to retry (ErrNotLeader), by which time p has been reloaded.
func (l *Log) confirmOutOfOrder(ctx context.Context, p *partition, outOfOrder error) error {
	stale, err := l.walSuperseded(ctx, p)
	if err == nil && !stale {
		return outOfOrder
	}
	if err == nil {
		err = errForeignAppend
	}
	// Not wrapping outOfOrder: the producer must see the retriable error.
	return fmt.Errorf("%w: sequence gap not confirmed against the wal (%v): %w", ErrNotLeader, outOfOrder, err)
}

// append assigns b its offsets and queues it: for the WAL sender on the wal
// tier (startSender reports that none runs and the caller must start one),
// for the next flush on the s3 tier.
// retier reloads p when its topic's tier changed since p was loaded: the
// switch happens at a reload, so batches of the two tiers never interleave in
// one partition's queues. Batches still waiting fail with ErrNotLeader
// (retriable); what the WAL acknowledged is replayed.
func (l *Log) retier(ctx context.Context, p *partition) (*partition, error) {
	if l.cfg.WAL == nil || l.cfg.Durability == nil {
		return p, nil
	}
	d, err := l.cfg.Durability(ctx, p.tp)
	if err != nil || d == p.durability { // durability is fixed once loaded
		return p, nil
	}
	l.cfg.Logger.Info("topic tier changed; reloading the partition", "partition", p.tp.Partition, "durability", d)
	l.drop(p, p.failQueued(ErrNotLeader))
	return l.partition(ctx, p.tp)
}

func (p *partition) append(b []byte, h batch.Header, nowMs int64) (a *Appended, startSender bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken || p.draining {
		return nil, false, ErrNotLeader
	}
	switch {
	case h.Control():
		// A transaction marker: not sequenced, but fenced by epoch.
		if st, known := p.producers[h.ProducerID]; known && h.ProducerEpoch < st.Epoch {
			return nil, false, fmt.Errorf("%w: marker of producer %d epoch %d < %d", ErrProducerFenced, h.ProducerID, h.ProducerEpoch, st.Epoch)
		}
	case h.Idempotent():
		if dup, ok, err := p.checkSequence(h); err != nil || ok {
			return dup, false, err
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
	pb := newPending(b, h)
	if p.durability == DurabilityWAL {
		p.walQueued = append(p.walQueued, pb)
		startSender = !p.walSending
		p.walSending = true
	} else {
		p.enqueue(time.UnixMilli(nowMs), pb)
	}
	return &Appended{BaseOffset: base, p: pb}, startSender, nil
}

// enqueue queues batches for the flush. The caller holds mu.
func (p *partition) enqueue(now time.Time, batches ...*pending) {
	if len(p.queued) == 0 {
		p.queuedSince = now
	}
	p.queued = append(p.queued, batches...)
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
	for _, q := range [][]*pending{p.inflight, p.queued, p.walInflight, p.walQueued} {
		for _, pb := range q {
			if pb.h.BaseOffset == base {
				return &Appended{BaseOffset: base, Duplicate: true, p: pb}
			}
		}
	}
	// Unreachable while producers only holds durable and pending batches.
	return &Appended{BaseOffset: base, Duplicate: true}
}

// nextSequence is the sequence after last; sequences wrap from MaxInt32 to 0.
func nextSequence(last int32) int32 {
	if last == 1<<31-1 {
		return 0
	}
	return last + 1
}

// recordProducerBatch returns st with h remembered as its newest batch. A
// transaction marker is not a batch of the producer's: it only moves the
// producer to the marker's epoch (KIP-890 bumps it at every transaction's
// end; a coordinator aborting a timed-out transaction bumps it to fence).
func recordProducerBatch(st index.Producer, h batch.Header, nowMs int64) index.Producer {
	if h.ProducerEpoch != st.Epoch {
		st = index.Producer{Epoch: h.ProducerEpoch}
	}
	if h.Control() {
		st.LastTimestamp = nowMs
		return st
	}
	// A new slice, since states share theirs (a claim's producers are a
	// shallow copy of the committed ones), made once: this runs for every
	// idempotent batch.
	kept := st.Batches[max(0, len(st.Batches)+1-index.MaxProducerBatches):]
	batches := make([]index.ProducerBatch, len(kept), len(kept)+1)
	copy(batches, kept)
	st.Batches = append(batches, index.ProducerBatch{
		FirstSequence: h.BaseSequence,
		LastSequence:  h.LastSequence(),
		BaseOffset:    h.BaseOffset,
		LastOffset:    h.LastOffset(),
	})
	st.LastTimestamp = nowMs
	return st
}

// failQueued fails every batch not yet taken by a flush or the WAL sender
// with err (a batch already acknowledged from the WAL keeps its answer) and
// marks the partition broken, so nothing more is appended to it and its next
// use reloads it. It returns the bytes dropped from the queue.
func (p *partition) failQueued(err error) int {
	p.mu.Lock()
	q, wq := p.queued, p.walQueued
	p.queued, p.walQueued = nil, nil
	p.broken = true
	p.mu.Unlock()
	return finishAll(q, err) + finishAll(wq, err)
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

// snapshot is a consistent view of what is durable, for readers. Entries
// shares its backing array with the partition: entries are only ever appended
// beyond a snapshot's length, never changed in place.
type snapshot struct {
	committed index.Partition
	// tail is the WAL-durable batches above committed.HighWatermark, in
	// offset order, not yet in the index.
	tail []tailBatch
	// highWatermark is the end of committed and tail; lastStable is the
	// LSO, and aborted the aborted transactions, below it.
	highWatermark int64
	lastStable    int64
	aborted       []index.AbortedTxn
}

// tailBatch is a batch readable from memory: durable in the WAL, not yet in
// object storage. Its bytes are never changed once it is in the WAL.
type tailBatch struct {
	data []byte
	h    batch.Header
}

func (p *partition) snapshot() snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.headLocked()
	for _, q := range [][]*pending{p.inflight, p.queued} {
		for _, pb := range q {
			if pb.h.BaseOffset >= s.highWatermark {
				return s
			}
			s.tail = append(s.tail, tailBatch{data: pb.data, h: pb.h})
		}
	}
	return s
}

// head is a snapshot without its tail: for the many callers that read only
// offsets or the committed state (every produce response), which need not
// walk the queued batches.
func (p *partition) head() snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.headLocked()
}

func (p *partition) headLocked() snapshot {
	s := snapshot{committed: p.committed, highWatermark: p.highWatermark(), aborted: p.aborted}
	s.lastStable = lastStable(p.openTxns, s.highWatermark)
	return s
}

// watch returns a channel closed when the high watermark next moves.
func (p *partition) watch() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return p.changed
}

// moved wakes those waiting for the high watermark to move. The caller
// holds mu.
func (p *partition) moved() {
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}
