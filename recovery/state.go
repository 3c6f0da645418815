package recovery

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stratalog/strata/tiered"
	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/segment"
)

// replayStates brings the idempotent-producer and transaction state of every
// partition up to date with its rebuilt log, by reading the batch headers of
// the records its starting state did not know: those at or above the
// snapshot's high watermark, and all of a partition the snapshot does not
// list (every partition when there is no snapshot), which is a replay from
// offset 0 with empty state. That is how Kafka rebuilds its producer state
// and transaction index from its log segments when no producer snapshot
// covers them (UnifiedLog.rebuildProducerState, LogLoader); what a recovery
// reads beyond footers is thus what was written since the snapshot, or the
// whole log without one.
//
// Partitions replay Config.Concurrency at a time, and the GETs of all of
// them share Config.Concurrency slots (readBlocks), so that one large
// partition still keeps many GETs in flight while memory holds at most that
// many blocks.
func replayStates(ctx context.Context, cfg Config, topics []*TopicSummary, exists map[string]*object) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.Concurrency)
	slots := make(chan struct{}, cfg.Concurrency)
	nowMs := time.Now().UnixMilli()
	lastWriteMs := lastWrite(exists, nowMs)
	for _, t := range topics {
		for _, p := range t.Parts {
			from := p.SnapshotHighWatermark // 0 for a partition the snapshot does not have
			if p.HighWatermark <= from {
				continue
			}
			g.Go(func() error {
				r := replay{bucket: cfg.Bucket, exists: exists, slots: slots, nowMs: nowMs, lastWriteMs: lastWriteMs}
				if err := r.partition(gctx, p, from); err != nil {
					return fmt.Errorf("replay producer and transaction state of topic %q partition %d: %w", t.Topic.Name, p.Partition, err)
				}
				return nil
			})
		}
	}
	return g.Wait()
}

// lastWrite is when the newest object was written (no later than nowMs),
// or nowMs without objects: about when the cluster was lost.
func lastWrite(exists map[string]*object, nowMs int64) int64 {
	var last int64
	for _, o := range exists {
		if !o.created.IsZero() {
			last = max(last, o.created.UnixMilli())
		}
	}
	if last == 0 {
		return nowMs
	}
	return min(last, nowMs)
}

// replay is what replaying one partition's batches needs.
type replay struct {
	bucket objstore.Bucket
	exists map[string]*object
	// slots bounds the block GETs in flight, and the blocks read but not
	// yet applied, over all partitions.
	slots chan struct{}
	nowMs int64
	// lastWriteMs is when the cluster last wrote an object: producers idle
	// for tiered.DefaultProducerExpiry before it are dropped.
	lastWriteMs int64
}

// partition applies the batches of p's rebuilt index at or above from to
// its state, streaming its blocks (readBlocks), then drops the producers the
// log would have expired, then aborts, in the state, the transactions still
// open that began at or above from: the transaction coordinator's records of
// them are lost with NATS (there are none without a snapshot), so nothing
// would ever end them, and they would hold the last stable offset back
// forever. No marker is written for them: the aborted index entry ends at
// the last offset, and a consumer skips their records by it. (Transactions
// open before the snapshot are left to the restored coordinator, which has
// their records and writes their markers.)
func (r replay) partition(ctx context.Context, p *PartitionSummary, from int64) error {
	st := &p.state
	var blocks []segment.IndexEntry
	for _, e := range st.Entries {
		if e.LastOffset < from {
			continue
		}
		for _, blk := range blocksOf(e, r.exists) {
			if blk.LastOffset >= from {
				blocks = append(blocks, blk)
			}
		}
	}
	err := readBlocks(ctx, r.bucket, blocks, r.slots, func(blk segment.IndexEntry, data []byte) error {
		usedMs := r.writtenMs(blk.Object)
		err := batch.Each(data, func(raw []byte, h batch.Header) error {
			if h.LastOffset() >= from {
				tiered.ApplyRecovered(st, raw, h, usedMs)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("batches of %s at %d: %w", blk.Object, blk.Position, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.expireProducers(st)
	var aborted []index.AbortedTxn
	for pid, first := range st.OpenTxns {
		if first >= from {
			aborted = append(aborted, index.AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: st.HighWatermark - 1})
			delete(st.OpenTxns, pid)
		}
	}
	// All end at the same offset; ordered by first offset, so that a
	// rebuild is deterministic.
	slices.SortFunc(aborted, func(a, b index.AbortedTxn) int { return cmp.Compare(a.FirstOffset, b.FirstOffset) })
	st.Aborted = append(st.Aborted, aborted...)
	p.AbortedOpen += len(aborted)
	if len(st.OpenTxns) == 0 {
		st.OpenTxns = nil
	}
	return nil
}

// writtenMs is when the object named key was written (its key says), no later
// than now: the last use of the producers whose batches it holds, so that
// they expire when they would have without the loss. A merged or compacted
// object is younger than its batches, which only keeps producers longer.
func (r replay) writtenMs(key string) int64 {
	if o, ok := r.exists[key]; ok && !o.created.IsZero() {
		return min(o.created.UnixMilli(), r.nowMs)
	}
	return r.nowMs
}

// expireProducers drops the producers idle for tiered.DefaultProducerExpiry
// (Kafka's producer.id.expiration.ms) when the cluster was lost, as the log
// does at every flush: replaying a whole log meets every producer that ever
// wrote to it, and a state holding them all could outgrow what the
// coordinator stores.
func (r replay) expireProducers(st *index.Partition) {
	for id, pr := range st.Producers {
		if r.lastWriteMs-pr.LastTimestamp >= tiered.DefaultProducerExpiry.Milliseconds() {
			delete(st.Producers, id)
		}
	}
	if len(st.Producers) == 0 {
		st.Producers = nil
	}
}

// readBlocks calls apply with each of blocks' bytes, in order, reading ahead
// with as many GETs in flight as slots allows. Each read holds a slot from
// before its GET until apply has returned, so slots bound both the GETs and
// the blocks in memory over every partition reading at once. A partition
// waits for a slot only while it holds none, and with reads in flight takes
// only free ones: partitions holding slots never wait on each other, and
// the oldest read of each always completes and frees its slot.
func readBlocks(ctx context.Context, b objstore.Bucket, blocks []segment.IndexEntry, slots chan struct{}, apply func(segment.IndexEntry, []byte) error) error {
	type read struct {
		data []byte
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var pending []chan read // the reads started and not yet applied, in block order
	defer func() {
		// 1. Cancel the GETs still running; 2. wait for them; 3. give back
		// the slots of the reads never applied.
		cancel()
		wg.Wait()
		for range pending {
			<-slots
		}
	}()
	start := func(blk segment.IndexEntry) {
		done := make(chan read, 1)
		pending = append(pending, done)
		wg.Add(1)
		go func() {
			defer wg.Done()
			data, err := getRange(ctx, b, blk.Object, blk.Position, blk.Length)
			done <- read{data, err}
		}()
	}
	next := 0
	for _, blk := range blocks {
		for next < len(blocks) {
			if len(pending) == 0 {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return ctx.Err()
				}
			} else if !trySend(slots) {
				break
			}
			start(blocks[next])
			next++
		}
		var r read
		select {
		case r = <-pending[0]:
		case <-ctx.Done():
			return ctx.Err()
		}
		pending = pending[1:]
		err := r.err
		if err == nil {
			err = apply(blk, r.data)
		}
		<-slots
		if err != nil {
			return err
		}
	}
	return nil
}

// trySend takes a slot if one is free.
func trySend(slots chan struct{}) bool {
	select {
	case slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// blocksOf returns the blocks entry e stands for: itself, or for a whole
// entry its object's blocks of the partition within its offsets.
func blocksOf(e segment.IndexEntry, exists map[string]*object) []segment.IndexEntry {
	if !e.Whole {
		return []segment.IndexEntry{e}
	}
	var out []segment.IndexEntry
	if o, ok := exists[e.Object]; ok {
		for _, b := range o.blocks {
			if b.TopicID == e.TopicID && b.Partition == e.Partition && b.LastOffset >= e.BaseOffset && b.BaseOffset <= e.LastOffset {
				out = append(out, b)
			}
		}
	}
	return out
}
