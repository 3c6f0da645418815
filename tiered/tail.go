package tiered

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/wal"
)

// The write-ahead tail. On the wal tier a batch is acknowledged once a
// JetStream quorum holds it, long before its segment is PUT:
//
//	Append ─► walQueued ─► sender: one WAL message per round trip ─► queued ─► flush ─► index ─► purge
//	                                  (acknowledged, visible)
//
// Group commit: one sender per partition runs while batches wait (a
// goroutine on partition subjects, a chain of append callbacks on chains);
// each WAL message carries every batch queued while the previous one was in
// flight (up to the server's max payload), so latency is one JetStream round
// trip and throughput is not bounded by it. Across partitions, with writer
// chains (Config.WALChains, chain.go) the records of every sender waiting at
// once go as one message on this Log's chain in their shard; without them
// the WAL sends the messages of many senders waiting at once as one atomic
// batch per shard (wal's group commit). Either way the round trips follow
// the gateway's load, not its partition count; with chains the messages do
// too.
//
// Fencing: with chains, a claim fences the previous writer's chain
// (chain.go); without, the sender names the subject sequence it expects
// (wal.Log.Append).
// A failed append — fenced, or with an unknown outcome — breaks the partition:
// its unsent batches fail with a retriable error and its next use reloads it,
// replaying the WAL, so a batch that did land is found there and an
// idempotent producer's retry of it is answered as a duplicate.
//
// Recovery: a new leader claims the partition in the index (fencing the old
// leader's commits), then replays every WAL message above the committed high
// watermark (replay). Those batches are acknowledged already; they become
// visible and queued for the next flush, and the producers' state and the
// epoch history follow them.

// Durability is a topic's tier.
type Durability int

const (
	// DurabilityWAL acknowledges a batch once it is in the WAL.
	DurabilityWAL Durability = iota
	// DurabilityS3 acknowledges a batch once its segment is in object
	// storage and the index names it; the WAL is not used.
	DurabilityS3
)

// WAL is what the log needs of the write-ahead tail (wal.Log).
type WAL interface {
	// Append publishes r if p's last sequence is still expectLast; see
	// wal.Log.Append.
	Append(ctx context.Context, p wal.Partition, r wal.Record, expectLast uint64) (uint64, error)
	// LastSeq returns the sequence of p's last message, 0 if none.
	LastSeq(ctx context.Context, p wal.Partition) (uint64, error)
	// Replay calls fn for p's messages after sequence after and returns
	// the last sequence it covered.
	Replay(ctx context.Context, p wal.Partition, after uint64, fn func(seq uint64, r wal.Record) error) (uint64, error)
	// Purge drops p's messages below sequence before.
	Purge(ctx context.Context, p wal.Partition, before uint64) error
	// MaxDataBytes is the most batch data one record may carry.
	MaxDataBytes() int

	// Writer chains (chain.go); see the wal methods of the same names.
	Writer(id string) (*wal.Writer, error)
	Fence(ctx context.Context, writer string, p wal.Partition, epoch int32) (uint64, error)
	ReplayChain(ctx context.Context, writer string, shard int, after uint64, fn func(seq uint64, e wal.Entry) error) (uint64, error)
	ReplayChainThrough(ctx context.Context, writer string, shard int, after, last uint64, fn func(seq uint64, e wal.Entry) error) (uint64, error)
	ChainLastSeq(ctx context.Context, writer string, p wal.Partition) (uint64, error)
	PurgeChain(ctx context.Context, writer string, shard int, before uint64) error
	Chains(ctx context.Context, shard int) ([]wal.ChainInfo, error)
	Shard(p wal.Partition) int
	Shards() int
}

// walAppendTimeout bounds one WAL append: JetStream answers in milliseconds,
// and a producer waiting longer is better told to retry.
const walAppendTimeout = 10 * time.Second

func walPartition(tp index.TopicPartition) wal.Partition {
	return wal.Partition{TopicID: tp.TopicID, Partition: tp.Partition}
}

// startSender starts p's WAL sender; Append calls it when the partition had
// none running. The Log owns the sender: shutdown waits for it, and once
// shutdown has begun no sender starts (the batches fail with ErrClosed).
func (l *Log) startSender(p *partition) {
	l.mu.Lock()
	closed := l.closed
	if !closed {
		l.senders.Add(1)
	}
	l.mu.Unlock()
	if closed {
		l.failWAL(p, ErrClosed)
		return
	}
	if l.writer != nil {
		l.sendChained(p)
		return
	}
	go func() {
		defer l.senders.Done()
		l.send(p)
	}()
}

// send appends p's queued batches to the partition's WAL subject, one
// message at a time, until none are left.
func (l *Log) send(p *partition) {
	for {
		rec, expect, ok := p.takeForWAL(l.cfg.WAL.MaxDataBytes())
		if !ok {
			return
		}
		start := l.cfg.Now()
		ctx, cancel := context.WithTimeout(l.ctx, walAppendTimeout)
		seq, err := l.cfg.WAL.Append(ctx, walPartition(p.tp), rec, expect)
		cancel()
		if !l.sent(p, rec, start, seq, err) {
			return
		}
	}
}

// sendChained appends p's next queued batches to its writer chain; the
// append's callback sends the ones queued meanwhile. A partition so has one
// append in flight and no goroutine while it waits. The chain bounds each
// round itself (wal's appendTimeout): no timer per append either, which at
// 10,000 partitions was a tenth of the gateway's CPU with the collection it
// caused.
func (l *Log) sendChained(p *partition) {
	rec, _, ok := p.takeForWAL(l.cfg.WAL.MaxDataBytes())
	if !ok {
		l.senders.Done()
		return
	}
	start := l.cfg.Now()
	l.holdChain(p)
	err := l.writer.AppendAsync(walPartition(p.tp), rec, func(seq uint64, err error) {
		if l.sent(p, rec, start, seq, err) {
			l.sendChained(p)
		} else {
			l.senders.Done()
		}
	})
	if err != nil {
		l.sent(p, rec, start, 0, err)
		l.senders.Done()
	}
}

// sent records the outcome of the WAL append of rec, which began at start,
// and reports whether p's sender goes on.
func (l *Log) sent(p *partition, rec wal.Record, start time.Time, seq uint64, err error) bool {
	if err != nil {
		l.metrics.walErrors.Inc()
		l.cfg.Logger.Warn("wal append failed; reloading the partition", "partition", p.tp.Partition, "err", err)
		if errors.Is(err, wal.ErrFenced) {
			err = fmt.Errorf("%w: %w", ErrNotLeader, err)
		} else {
			err = fmt.Errorf("%w: %w", ErrNotDurable, err)
		}
		l.failWAL(p, err)
		return false
	}
	now := l.cfg.Now()
	l.metrics.walAppendSeconds.Observe(now.Sub(start).Seconds())
	l.metrics.walBytes.Add(float64(rec.DataLen()))
	if dropped := l.appendedToWAL(p, seq, now); dropped > 0 {
		l.drop(p, dropped)
		return false
	}
	l.flushIfFull()
	return true
}

// takeForWAL moves the longest run of queued batches that fits in one WAL
// record to walInflight and returns the record and the sequence it must
// follow. ok is false when nothing is queued or the partition broke; the
// sender then stops.
func (p *partition) takeForWAL(maxData int) (rec wal.Record, expectLast uint64, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.walQueued) == 0 || p.broken {
		p.walSending = false
		return wal.Record{}, 0, false
	}
	n, size := 0, 0
	for n < len(p.walQueued) && (n == 0 || size+len(p.walQueued[n].data) <= maxData) {
		size += len(p.walQueued[n].data)
		n++
	}
	p.walInflight = p.walQueued[:n:n]
	p.walQueued = slices.Clone(p.walQueued[n:])
	rec = wal.Record{
		Epoch:      p.committed.LeaderEpoch,
		BaseOffset: p.walInflight[0].h.BaseOffset,
		LastOffset: p.walInflight[n-1].h.LastOffset(),
	}
	// A batch's bytes are not written to once appended, so they go into
	// the WAL message as they are, not joined into one record first.
	if n == 1 {
		rec.Data = p.walInflight[0].data
	} else {
		rec.Batches = make([][]byte, n)
		for i, pb := range p.walInflight {
			rec.Batches[i] = pb.data
		}
	}
	return rec, p.walLast, true
}

// appendedToWAL makes walInflight durable at WAL sequence seq: acknowledged,
// visible and queued for the flush. On a partition that broke meanwhile the
// batches are still acknowledged (the next leader replays them) but not
// queued, and their bytes are returned for the caller to release.
func (l *Log) appendedToWAL(p *partition, seq uint64, now time.Time) (dropped int) {
	p.mu.Lock()
	batches := p.walInflight
	p.walInflight = nil
	p.walLast = seq
	for _, pb := range batches {
		pb.walSeq = seq
	}
	l.setChainFloor(p.tp, seq)
	p.chainHold = 0
	end := batches[len(batches)-1].h.LastOffset() + 1
	p.acked = end
	if p.broken {
		p.walSending = false
		p.mu.Unlock()
		return finishAll(batches, nil)
	}
	p.walEnd = end
	for _, pb := range batches {
		p.aborted = applyTxn(p.openTxns, p.aborted, pb.data, pb.h)
	}
	p.enqueue(now, batches...)
	p.moved()
	draining := p.draining
	p.mu.Unlock()
	finishAll(batches, nil)
	if draining {
		l.flushSoon()
	}
	return 0
}

// failWAL fails the batches of a WAL append that did not succeed, and every
// batch queued behind them, and drains the partition (Log.drain): the
// batches already durable in the WAL stay acknowledged and are flushed. The
// partition is gone from the Log before any producer hears, so a retry loads
// it afresh.
func (l *Log) failWAL(p *partition, err error) {
	p.mu.Lock()
	failed := slices.Concat(p.walInflight, p.walQueued)
	p.walInflight, p.walQueued = nil, nil
	p.walSending = false
	p.mu.Unlock()
	l.drain(p, pendingBytes(failed))
	finishAll(failed, err)
}

// replay loads the WAL tail above the committed high watermark into p (see
// the file comment). It reads after the last message the index covers
// (index.Partition.WALSeq); messages purges have not yet removed below the
// high watermark are skipped. With writer chains the tail is read from the
// chain the index names (replayChain).
func (l *Log) replay(ctx context.Context, p *partition) error {
	if l.cfg.WAL == nil {
		return nil
	}
	switch {
	case l.writer != nil && (p.durability == DurabilityWAL || p.committed.WALWriter != ""):
		return l.replayChain(ctx, p)
	case p.committed.WALWriter != "":
		return l.replayChainToSubject(ctx, p)
	}
	// The partition's own subject: without chains, or on the s3 tier,
	// which appends nothing to the WAL and reads only a tail from before a
	// change of tier, from where it is.
	t, err := l.readSubjectTail(ctx, p)
	if err != nil {
		return err
	}
	l.installTail(p, t, t.last)
	return nil
}

// readSubjectTail reads p's tail on its own WAL subject (readTail).
func (l *Log) readSubjectTail(ctx context.Context, p *partition) (replayedTail, error) {
	return l.readTail(p, func(fn func(uint64, wal.Record) error) (uint64, error) {
		return l.cfg.WAL.Replay(ctx, walPartition(p.tp), p.committed.WALSeq, fn)
	})
}

// replayedTail is what a replay read of a partition's WAL tail.
type replayedTail struct {
	batches []*pending
	starts  []index.EpochStart // where each replayed epoch begins
	next    int64              // the offset after the last batch
	last    uint64             // the last sequence the read covered
}

// readTail reads the records each passes it, in order, into batches above
// p's committed high watermark, checking that their offsets follow on, and
// rebuilds p's producer and transaction state from them.
func (l *Log) readTail(p *partition, each func(fn func(seq uint64, r wal.Record) error) (uint64, error)) (replayedTail, error) {
	t := replayedTail{next: p.committed.HighWatermark}
	nowMs := l.cfg.Now().UnixMilli()
	last, err := each(func(seq uint64, r wal.Record) error {
		if r.LastOffset < t.next {
			return nil
		}
		if r.BaseOffset != t.next {
			return fmt.Errorf("%w: sequence %d holds offsets [%d, %d], want %d next", ErrCorruptTail, seq, r.BaseOffset, r.LastOffset, t.next)
		}
		return batch.Each(r.Data, func(b []byte, h batch.Header) error {
			if h.BaseOffset != t.next {
				return fmt.Errorf("%w: sequence %d has a batch at offset %d, want %d", ErrCorruptTail, seq, h.BaseOffset, t.next)
			}
			if n := len(t.starts); n == 0 || h.PartitionLeaderEpoch > t.starts[n-1].Epoch {
				t.starts = append(t.starts, index.EpochStart{Epoch: h.PartitionLeaderEpoch, StartOffset: t.next})
			}
			pb := newPending(b, h)
			pb.walSeq = seq
			pb.finish(nil)
			t.batches = append(t.batches, pb)
			if h.Idempotent() {
				p.producers[h.ProducerID] = recordProducerBatch(p.producers[h.ProducerID], h, nowMs)
			}
			p.aborted = applyTxn(p.openTxns, p.aborted, b, h)
			t.next = h.LastOffset() + 1
			return nil
		})
	})
	if errors.Is(err, wal.ErrCorrupt) {
		err = fmt.Errorf("%w: %w", ErrCorruptTail, err)
	}
	t.last = last
	return t, err
}

// installTail makes the replayed tail p's: acknowledged, visible and queued
// for the next flush, with walLast the sequence p's next append follows.
func (l *Log) installTail(p *partition, t replayedTail, walLast uint64) {
	size := 0
	for _, pb := range t.batches {
		size += len(pb.data)
	}
	l.mu.Lock()
	l.queued += size
	l.mu.Unlock()

	hw := p.committed.HighWatermark
	p.mu.Lock()
	p.walLast = walLast
	p.walEnd, p.acked = t.next, t.next
	p.next = t.next
	p.enqueue(l.cfg.Now(), t.batches...) // nothing is queued while it loads
	if len(t.batches) > 0 {
		l.setChainFloor(p.tp, t.batches[0].walSeq)
	}
	p.committed.Epochs = tailEpochs(p.committed.Epochs, hw, t.starts, t.next)
	p.mu.Unlock()
	if len(t.batches) > 0 {
		l.cfg.Logger.Info("replayed wal tail", "partition", p.tp.Partition, "from", hw, "to", t.next, "batches", len(t.batches))
	}
}

// tailEpochs corrects the start offsets of the epochs that began above the
// committed high watermark hw: a claim records hw, but the tail replayed
// after it may hold batches of that epoch or earlier ones. An epoch starts at
// the first replayed batch of it or a later epoch, or at the log end end.
// The corrected history is stored by the next commit.
func tailEpochs(epochs []index.EpochStart, hw int64, starts []index.EpochStart, end int64) []index.EpochStart {
	out := slices.Clone(epochs)
	for i := range out {
		if out[i].StartOffset < hw {
			continue
		}
		out[i].StartOffset = end
		for _, s := range starts {
			if s.Epoch >= out[i].Epoch {
				out[i].StartOffset = s.StartOffset
				break
			}
		}
	}
	return out
}

// purgeLoop purges flushed WAL messages every WALPurgeInterval until ctx
// is done. Purges run here rather than in the flush, so a flush's commits
// do not wait for a thousand purge round trips.
func (l *Log) purgeLoop(ctx context.Context) {
	ticker := time.NewTicker(l.cfg.WALPurgeInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		l.purgeFlushed(ctx)
	}
}

// purgeFlushed drops, for every partition, the WAL messages below the last one
// its index covers, one partition at a time so the purges do not crowd out
// the appends. A failed purge only leaves the tail longer: the next pass
// covers it.
func (l *Log) purgeFlushed(ctx context.Context) {
	if l.writer != nil {
		l.purgeChains(ctx)
		l.collectIdleChains(ctx)
		return
	}
	l.mu.Lock()
	parts := slices.Collect(maps.Values(l.parts))
	l.mu.Unlock()
	for _, p := range parts {
		p.mu.Lock()
		below, purged := p.purgeBelow, p.purged
		p.mu.Unlock()
		if below <= purged {
			continue
		}
		if err := l.cfg.WAL.Purge(ctx, walPartition(p.tp), below); err != nil {
			if ctx.Err() != nil {
				return
			}
			l.cfg.Logger.Warn("wal purge failed", "partition", p.tp.Partition, "err", err)
			continue
		}
		p.mu.Lock()
		p.purged = max(p.purged, below)
		p.mu.Unlock()
	}
}
