package tiered

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"

	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/wal"
)

// Writer chains. With Config.WALChains the Log appends every partition's
// records to its own wal.Writer: one message per round per shard, whatever
// the partition count. The index names the chain that holds each partition's
// tail (index.Partition.WALWriter), and a claim moves the tail to the
// claimer's chain before it serves:
//
//  1. The claim commits the next leader epoch (fencing the previous
//     leader's index commits), as without chains.
//  2. It fences the previous writer's chain for the partition (wal.Log.Fence)
//     and replays that writer's records of it below the fence: every record
//     the previous writer had acknowledged, and nothing it could still
//     acknowledge. A tail on the partition's own subject (written before
//     chains) is replayed instead, and fenced with a marker record that no
//     replay takes for data.
//  3. It appends the replayed batches to its own chain and commits the index
//     naming its chain. Until that commit the index names the previous
//     chain, which still holds everything; after it, the claimer's chain
//     does.
//
// A partition never written, or written only by this writer, skips 2 and 3
// (a claim of its own chain fences the writer's own older rounds).
//
// Fencing is exact, so a leader need not look for another leader's
// appends after its replay (walSuperseded, verifyClaim's WAL check).
//
// Purge: a chain message may hold records of many partitions. Each partition
// with batches not yet in the index holds the writer's chains in its shard
// back at its first such batch's sequence (chainFloors) until a commit
// covers them. A partition this Log gave up (released, or broken) holds it
// until the index covers everything the WAL acknowledged for it (a draining
// partition flushes that, Log.drain) or names another chain for it (its new
// leader moved the tail there). The purger drops all the writer's chains in
// a shard, with one purge, below the lowest floor of any and below the
// newest message it knows of (purgeBounds).

// validNodeID is what may name a writer as is; other node ids are hexed.
var validNodeID = regexp.MustCompile(`^[a-zA-Z0-9-]{1,32}$`)

// newWriterID names this Log's writer: the node id and a random incarnation,
// so that no two runs share a chain.
func newWriterID(nodeID string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	if !validNodeID.MatchString(nodeID) {
		nodeID = hex.EncodeToString([]byte(nodeID))
		if len(nodeID) > 32 {
			nodeID = nodeID[:32]
		}
	}
	return nodeID + "_" + hex.EncodeToString(b[:])
}

// errPastFence ends a chain replay at the fence.
var errPastFence = errors.New("past the fence")

// claimFresh makes claim name this writer's chain when nothing of the
// partition is on its own WAL subject and no chain is named: a partition
// never written needs no replay, and its claim no second commit. rev is the
// revision of the stored state claim is built on: with none (0) the
// partition was never claimed, and as every append follows a claim's
// commit, its subject holds nothing and is not read.
func (l *Log) claimFresh(ctx context.Context, tp index.TopicPartition, claim *index.Partition, rev uint64) (bool, error) {
	if l.writer == nil || claim.WALWriter != "" {
		return false, nil
	}
	wp := walPartition(tp)
	if rev != 0 {
		last, err := l.cfg.WAL.LastSeq(ctx, wp)
		if err != nil || last != 0 {
			return false, err
		}
	}
	claim.WALWriter = l.writer.ChainOf(wp)
	claim.WALSeq = l.writer.KnownLast(wp)
	return true, nil
}

// replayChain is replay with writer chains (see the file comment).
func (l *Log) replayChain(ctx context.Context, p *partition) error {
	st := p.committed
	if p.fresh {
		l.installTail(p, replayedTail{next: st.HighWatermark}, 0)
		return nil
	}
	wp := walPartition(p.tp)
	me := l.writer.ChainOf(wp)
	var t replayedTail
	var marker uint64 // the legacy subject's fence marker
	if st.WALWriter == "" {
		var err error
		if t, err = l.readSubjectTail(ctx, p); err != nil {
			return err
		}
		if t.last != 0 {
			marker, err = l.cfg.WAL.Append(ctx, wp, wal.Record{Epoch: st.LeaderEpoch}, t.last)
			if err != nil {
				if errors.Is(err, wal.ErrFenced) {
					err = fmt.Errorf("%w: %w", ErrNotLeader, err)
				}
				return fmt.Errorf("fence the partition's own wal subject: %w", err)
			}
		}
	} else {
		var err error
		if t, err = l.readChainTail(ctx, p); err != nil {
			return err
		}
	}
	if st.WALWriter == me {
		l.installTail(p, t, 0)
		return nil
	}
	from := l.writer.KnownLast(wp)
	if len(t.batches) > 0 {
		l.holdChain(p)
	}
	err := l.reappend(ctx, p, t.batches, func(rec wal.Record) (uint64, error) {
		return l.writer.Append(ctx, wp, rec)
	})
	if err != nil {
		return fmt.Errorf("move the replayed tail to this writer's chain: %w", err)
	}
	next := st
	next.WALWriter, next.WALSeq = me, from
	if err := l.commitTailMove(ctx, p, next); err != nil {
		return err
	}
	l.installTail(p, t, 0) // the floor moves to the moved batches'
	p.mu.Lock()
	p.chainHold = 0
	p.mu.Unlock()
	if marker > 1 {
		// The old subject's records are in this writer's chain now; its
		// marker stays as the subject's anchor.
		if err := l.cfg.WAL.Purge(ctx, wp, marker); err != nil {
			l.cfg.Logger.Warn("wal purge of the partition's own subject failed", "partition", p.tp.Partition, "err", err)
		}
	}
	return nil
}

// readChainTail fences the writer chain p's committed state names, for p at
// p's epoch, and reads that writer's records of p below the fence.
func (l *Log) readChainTail(ctx context.Context, p *partition) (replayedTail, error) {
	st := p.committed
	wp := walPartition(p.tp)
	fence, err := l.cfg.WAL.Fence(ctx, st.WALWriter, wp, st.LeaderEpoch)
	if err != nil {
		return replayedTail{}, err
	}
	return l.readTail(p, func(fn func(uint64, wal.Record) error) (uint64, error) {
		last, err := l.cfg.WAL.ReplayChain(ctx, st.WALWriter, l.cfg.WAL.Shard(wp), st.WALSeq, func(seq uint64, e wal.Entry) error {
			if seq > fence {
				return errPastFence
			}
			if e.Partition != wp {
				return nil
			}
			return fn(seq, e.Record)
		})
		if errors.Is(err, errPastFence) {
			return fence, nil
		}
		return last, err
	})
}

// replayChainToSubject is replay without writer chains of a partition whose
// tail a writer chain holds (a gateway ran with chains before): it takes the
// tail over as replayChain does, onto the partition's own subject.
func (l *Log) replayChainToSubject(ctx context.Context, p *partition) error {
	t, err := l.readChainTail(ctx, p)
	if err != nil {
		return err
	}
	wp := walPartition(p.tp)
	from, err := l.cfg.WAL.LastSeq(ctx, wp)
	if err != nil {
		return err
	}
	last := from
	err = l.reappend(ctx, p, t.batches, func(rec wal.Record) (uint64, error) {
		seq, err := l.cfg.WAL.Append(ctx, wp, rec, last)
		if err == nil {
			last = seq
		}
		return seq, err
	})
	if err != nil {
		return fmt.Errorf("move the replayed tail to the partition's own subject: %w", err)
	}
	next := p.committed
	next.WALWriter, next.WALSeq = "", from
	if err := l.commitTailMove(ctx, p, next); err != nil {
		return err
	}
	l.installTail(p, t, last)
	return nil
}

// commitTailMove commits next, p's claim naming where its tail is now.
func (l *Log) commitTailMove(ctx context.Context, p *partition, next index.Partition) error {
	stored, rev, err := l.cfg.Index.CommitPartition(ctx, p.tp, next, p.rev)
	if err != nil {
		if errors.Is(err, index.ErrConflict) || errors.Is(err, index.ErrFenced) {
			err = fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		return fmt.Errorf("name the wal tail's new place in the index: %w", err)
	}
	next.Chunks = stored.Chunks
	p.committed, p.rev = next, rev
	return nil
}

// reappend appends batches, replayed from another writer's chain or
// subject, with appendRec, as records of at most MaxDataBytes under p's
// epoch, and points each batch at its new sequence.
func (l *Log) reappend(ctx context.Context, p *partition, batches []*pending, appendRec func(wal.Record) (uint64, error)) error {
	maxData := l.cfg.WAL.MaxDataBytes()
	for len(batches) > 0 {
		n, size := 0, 0
		for n < len(batches) && (n == 0 || size+len(batches[n].data) <= maxData) {
			size += len(batches[n].data)
			n++
		}
		data := make([]byte, 0, size)
		for _, pb := range batches[:n] {
			data = append(data, pb.data...)
		}
		seq, err := appendRec(wal.Record{Epoch: p.committed.LeaderEpoch, BaseOffset: batches[0].h.BaseOffset, LastOffset: batches[n-1].h.LastOffset(), Data: data})
		if err != nil {
			if errors.Is(err, wal.ErrFenced) {
				err = fmt.Errorf("%w: %w", ErrNotLeader, err)
			}
			return err
		}
		for _, pb := range batches[:n] {
			pb.walSeq = seq
		}
		batches = batches[n:]
	}
	return nil
}

// setChainFloor records that tp's first batch not yet in the index is in
// the message at seq, or, with seq 0, that it has none. The caller holds
// p.mu, so that a commit and an append of p set it in their order.
func (l *Log) setChainFloor(tp index.TopicPartition, seq uint64) {
	if l.writer == nil {
		return
	}
	l.floorsMu.Lock()
	defer l.floorsMu.Unlock()
	if seq == 0 {
		delete(l.chainFloors, tp)
		return
	}
	if _, ok := l.chainFloors[tp]; !ok {
		l.chainFloors[tp] = seq
	}
}

// holdChain sets p's floor, if it has none, at the lowest sequence its next
// append to this writer's chain can get, before the append: set after it,
// a purge between the two could drop the message.
func (l *Log) holdChain(p *partition) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.chainHold = l.writer.KnownLast(walPartition(p.tp)) + 1
	l.setChainFloor(p.tp, p.chainHold)
}

// noteReleased remembers p as the last of its partition this Log gave up:
// its floor stays until the index holds what the WAL acknowledged for it
// (releasedBelow). Only a loaded p counts: one that did not load did not
// replay the records an earlier one left on the chain.
func (l *Log) noteReleased(p *partition) {
	if l.writer == nil {
		return
	}
	select {
	case <-p.loaded:
		if p.loadErr != nil {
			return
		}
	default: // Log.partition notes it once loaded
		return
	}
	l.floorsMu.Lock()
	l.released[p.tp] = p
	l.floorsMu.Unlock()
}

// releasedBelow reports whether everything the WAL acknowledged for p, a
// partition given up (nil: not known), is below hw, with no append of it
// in flight.
func releasedBelow(p *partition, hw int64) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.walInflight) == 0 && p.acked <= hw
}

// resetChainFloor is setChainFloor after a commit: the floor moves to the
// first batch left, queued. A partition given up meanwhile (draining or
// broken) keeps its floor: what it acknowledged is on the chain until the
// index holds it or its next leader moved it, which purgeChains checks.
// The caller holds p.mu.
func (l *Log) resetChainFloor(p *partition) {
	if l.writer == nil || p.broken || p.draining {
		return
	}
	var seq uint64
	if len(p.queued) > 0 {
		seq = p.queued[0].walSeq
	}
	if p.chainHold != 0 && (seq == 0 || p.chainHold < seq) {
		seq = p.chainHold // an append is in flight
	}
	l.floorsMu.Lock()
	defer l.floorsMu.Unlock()
	if seq == 0 {
		delete(l.chainFloors, p.tp)
	} else {
		l.chainFloors[p.tp] = seq
	}
}

// purgeChains drops each of this writer's chains below the lowest floor of
// its partitions (see the file comment), keeping the chain's last message.
func (l *Log) purgeChains(ctx context.Context) {
	// What the writer knows is read before the floors: a message that
	// lands after this read is above it, and one that landed before has
	// its floor set (holdChain) before it was sent.
	chains := l.writer.Chains()
	floors := make(map[string]uint64)
	var released []index.TopicPartition
	l.mu.Lock()
	l.floorsMu.Lock()
	for tp := range l.released {
		if _, held := l.chainFloors[tp]; !held {
			delete(l.released, tp)
		}
	}
	for tp, seq := range l.chainFloors {
		if _, loaded := l.parts[tp]; !loaded {
			released = append(released, tp)
		}
		chain := l.writer.ChainOf(walPartition(tp))
		if cur, ok := floors[chain]; !ok || seq < cur {
			floors[chain] = seq
		}
	}
	l.floorsMu.Unlock()
	l.mu.Unlock()

	// A released partition's floor goes once the index holds what the WAL
	// acknowledged for it, or names another chain (its new leader copied
	// its records there), or the topic is gone.
	for _, tp := range released {
		l.floorsMu.Lock()
		last := l.released[tp]
		l.floorsMu.Unlock()
		st, _, err := l.cfg.Index.LoadPartition(ctx, tp)
		if err != nil || st.WALWriter == l.writer.ChainOf(walPartition(tp)) && !releasedBelow(last, st.HighWatermark) {
			continue
		}
		// Unless the partition was loaded (and maybe given up) again
		// meanwhile: the floor is then another's.
		l.mu.Lock()
		l.floorsMu.Lock()
		if _, loaded := l.parts[tp]; !loaded && l.released[tp] == last {
			delete(l.chainFloors, tp)
			delete(l.released, tp)
		}
		l.floorsMu.Unlock()
		l.mu.Unlock()
	}

	// Per shard, one purge of all the writer's chains below the lowest
	// floor of any, and below the newest message the writer knows of: a
	// message that lands after the read of what it knows is above that,
	// and one that landed before and is not in the index has its floor.
	for shard, before := range purgeBounds(chains, floors) {
		if before <= l.shardPurged[shard] {
			continue
		}
		if err := l.writer.Purge(ctx, shard, before); err != nil {
			if ctx.Err() == nil {
				l.cfg.Logger.Warn("wal chain purge failed", "shard", shard, "err", err)
			}
			continue
		}
		l.shardPurged[shard] = before
	}
}

// purgeBounds returns, per shard, what the writer's chains can be purged
// below: the newest sequence the writer knows on any of them, or the lowest
// floor of any, if lower.
func purgeBounds(chains []wal.ChainState, floors map[string]uint64) map[int]uint64 {
	bounds := make(map[int]uint64)
	for _, c := range chains {
		bounds[c.Shard] = max(bounds[c.Shard], c.KnownLast)
	}
	for _, c := range chains {
		if floor, ok := floors[c.Chain]; ok {
			bounds[c.Shard] = min(bounds[c.Shard], floor)
		}
	}
	return bounds
}

// idleChainKey names another writer's chain in a shard.
type idleChainKey struct {
	shard int
	chain string
}

// idleChain is what the purger read of an idle chain: through sequence
// scanned, the last message holding records (lastRecords) and the last
// offset of each partition's records on it.
type idleChain struct {
	scanned, lastRecords uint64
	ends                 map[wal.Partition]int64
}

// collectIdleChains drops the records of other writers' chains, idle for
// WALIdleChainAge (their gateway died, most likely), once they are all in
// the index or moved to another chain: for every partition with records
// there, the index names another chain or has a high watermark above them.
// It purges through the last message with records that it read: a writer
// that was merely idle loses nothing it appends later, and the fences after
// its last records, which it may not have read, stay (its next message,
// finding its chain's anchor gone, is refused once and sent again after
// reading them).
func (l *Log) collectIdleChains(ctx context.Context) {
	now := l.cfg.Now()
	for shard := range l.cfg.WAL.Shards() {
		chains, err := l.cfg.WAL.Chains(ctx, shard)
		if err != nil {
			if ctx.Err() == nil {
				l.cfg.Logger.Warn("list wal chains", "shard", shard, "err", err)
			}
			continue
		}
		for _, c := range chains {
			if l.writer.Owns(c.Chain) || now.Sub(c.LastTime) < l.cfg.WALIdleChainAge {
				continue
			}
			key := idleChainKey{shard, c.Chain}
			ic := l.idleChains[key]
			if ic == nil {
				ic = &idleChain{ends: make(map[wal.Partition]int64)}
				l.idleChains[key] = ic
			}
			last, err := l.cfg.WAL.ReplayChain(ctx, c.Chain, shard, ic.scanned, func(seq uint64, e wal.Entry) error {
				if end, ok := ic.ends[e.Partition]; !ok || e.Record.LastOffset > end {
					ic.ends[e.Partition] = e.Record.LastOffset
				}
				ic.lastRecords = seq
				return nil
			})
			if err != nil {
				if ctx.Err() == nil {
					l.cfg.Logger.Warn("read an idle wal chain", "chain", c.Chain, "shard", shard, "err", err)
				}
				continue
			}
			ic.scanned = last
			if ic.lastRecords == 0 || l.chainNeeded(ctx, c.Chain, ic.ends) {
				continue
			}
			// Fences after the writer's last records may be unread by it,
			// if it lives: they stay (a few bytes each).
			if err := l.cfg.WAL.PurgeChain(ctx, c.Chain, shard, ic.lastRecords+1); err != nil {
				if ctx.Err() == nil {
					l.cfg.Logger.Warn("drop an idle wal chain", "chain", c.Chain, "shard", shard, "err", err)
				}
				continue
			}
			delete(l.idleChains, key)
			l.cfg.Logger.Info("dropped an idle wal chain's records", "chain", c.Chain, "shard", shard, "partitions", len(ic.ends), "through", ic.lastRecords)
		}
	}
}

// chainNeeded reports whether the index still names writer's chain for a
// partition of ends below the end of its records there, or cannot tell.
func (l *Log) chainNeeded(ctx context.Context, writer string, ends map[wal.Partition]int64) bool {
	for p, end := range ends {
		st, _, err := l.cfg.Index.LoadPartition(ctx, index.TopicPartition{TopicID: p.TopicID, Partition: p.Partition})
		if err != nil || st.WALWriter == writer && st.HighWatermark <= end {
			return true
		}
	}
	return false
}
