package coordinator

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// casBatcher group-commits the compare-and-swap writes that callers make one
// at a time to one bucket: CommitPartition's heads and PublishLeaderEpoch's
// records, which a gateway claiming thousands of partitions at once (its
// first produce to a new 10,000-partition topic, or a restart) makes by the
// thousand. Each write alone is a stream proposal and, on a server syncing
// always, an fsync; a claim made two of them, and the fsyncs alone held such
// a gateway at about 1,800 claims a second. The writes that wait while a
// batch is in flight go together as the next atomic batch (ADR-50): one
// proposal and one fsync for all, each message still checked against its own
// expected revision, so no write lands over a revision it did not expect.
//
// A batch the server refuses as a whole (one revision moved, or a server
// without atomic publish) stores nothing; each of its writes is then made
// alone by its own caller, as without the batcher, so that the one that
// lost gets its own error. A write that finds nothing in flight is made
// alone at once, at the same cost as before; the writes arriving meanwhile
// queue behind it.
type casBatcher struct {
	kv      jetstream.KeyValue
	nc      *nats.Conn
	subject string // the bucket's key subject prefix, "$KV.<bucket>."
	// atomic is set when the bucket's stream takes atomic batches; without
	// it every write is made alone.
	atomic bool

	mu    sync.Mutex
	queue []*casWrite
	// running is set while a batch is in flight; idle is closed when it
	// ends, for the writes queued meanwhile to start the next.
	running bool
	idle    chan struct{}

	// batchedWrites counts the writes stored by a batch.
	batchedWrites atomic.Int64
}

// casWrite is one queued write and, once done is closed, its outcome.
type casWrite struct {
	key  string
	data []byte
	prev uint64 // the revision expected; 0 creates the key

	done chan struct{}
	// writeAlone is set when the write was in a batch too small to send
	// or one the server refused: its writer then makes it alone.
	// Otherwise rev and err are its outcome.
	writeAlone bool
	rev        uint64
	err        error
}

// write stores data at key if the key is at revision prev (prev 0: the key
// has no value), and returns the new revision. Its errors are those of the
// bucket's Create (prev 0) or Update, so isCASMismatch tells a lost
// compare-and-swap.
func (b *casBatcher) write(ctx context.Context, key string, data []byte, prev uint64) (uint64, error) {
	if !b.atomic {
		return b.alone(ctx, key, data, prev)
	}
	w := &casWrite{key: key, data: data, prev: prev, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, w)
	for {
		select {
		case <-w.done:
			b.mu.Unlock()
			if w.writeAlone {
				return b.alone(ctx, key, data, prev)
			}
			return w.rev, w.err
		default:
		}
		if !b.running {
			n := min(len(b.queue), maxHeadsPerBatch)
			batch := b.queue[:n:n]
			b.queue = slices.Clone(b.queue[n:])
			b.running, b.idle = true, make(chan struct{})
			b.mu.Unlock()
			b.commit(ctx, batch)
			b.mu.Lock()
			b.running = false
			close(b.idle)
			continue
		}
		idle := b.idle
		b.mu.Unlock()
		select {
		case <-w.done:
		case <-idle:
		case <-ctx.Done():
			b.mu.Lock()
			if i := slices.Index(b.queue, w); i >= 0 {
				b.queue = slices.Delete(b.queue, i, i+1)
			}
			b.mu.Unlock()
			// A batch may have taken the write already: its outcome is
			// unknown, as a single write's is when its caller gives up.
			return 0, ctx.Err()
		}
		b.mu.Lock()
	}
}

// commit makes batch's writes: one alone, several as one atomic batch. The
// writes may be other callers' than the one running commit, so it runs on
// its own deadline rather than that caller's cancellation.
func (b *casBatcher) commit(ctx context.Context, batch []*casWrite) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchCommitTimeout)
	defer cancel()
	defer func() {
		for _, w := range batch {
			close(w.done)
		}
	}()
	if len(batch) == 1 {
		w := batch[0]
		w.rev, w.err = b.alone(ctx, w.key, w.data, w.prev)
		return
	}
	if len(batch) >= minCASBatch {
		msgs := make([]casMsg, len(batch))
		for i, w := range batch {
			msgs[i] = casMsg{subject: b.subject + w.key, data: w.data, prev: w.prev}
		}
		if revs, err := publishAtomic(ctx, b.nc, msgs); err == nil {
			for i, w := range batch {
				w.rev = revs[i]
			}
			b.batchedWrites.Add(int64(len(batch)))
			return
		}
	}
	// Too few to be worth a batch, or refused: each writer writes alone,
	// at once.
	for _, w := range batch {
		w.writeAlone = true
	}
}

// minCASBatch is the fewest writes worth an atomic batch: nats-server
// stages each batch in a file store of its own (a directory, its metadata
// and an fsync), which costs as much as some tens of single writes.
const minCASBatch = 64

// alone makes one write without batching.
func (b *casBatcher) alone(ctx context.Context, key string, data []byte, prev uint64) (uint64, error) {
	if prev == 0 {
		return b.kv.Create(ctx, key, data)
	}
	return b.kv.Update(ctx, key, data, prev)
}
