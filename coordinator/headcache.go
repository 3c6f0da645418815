package coordinator

import (
	"slices"
	"sync"

	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/segment"
)

// headSummary is what a commit needs of the head record it replaces: the epoch
// to fence against and the chunks it may reuse.
type headSummary struct {
	LeaderEpoch int32
	Chunks      []index.Chunk
	// Entries, when set, is the whole index at this revision as this Store
	// loaded or wrote it: the Chunks are known to hold its leading entries.
	// It is the caller's memory, never modified (see CommitPartition), so
	// a commit whose entries extend the same array need not hash them again.
	Entries []segment.IndexEntry
}

// headCache remembers, per partition, the head record at the last revision
// this Store read or wrote. A KV revision's content never changes, so an entry
// is exact for its revision and never stale: a commit on that revision needs
// no read before its compare-and-swap, and a commit on any other revision
// reads the record as before. It saves one leader round trip per partition
// per flush. Entries are replaced, never removed; there is one per partition
// this Store has touched.
type headCache struct {
	mu      sync.Mutex
	entries map[index.TopicPartition]cachedHead
}

type cachedHead struct {
	revision uint64
	head     headSummary
}

func (c *headCache) remember(tp index.TopicPartition, revision uint64, h headSummary) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[index.TopicPartition]cachedHead)
	}
	h.Chunks = slices.Clone(h.Chunks)
	c.entries[tp] = cachedHead{revision: revision, head: h}
}

// at returns the head at revision, if that is the one remembered.
func (c *headCache) at(tp index.TopicPartition, revision uint64) (headSummary, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[tp]
	if !ok || revision == 0 || e.revision != revision {
		return headSummary{}, false
	}
	return e.head, true
}
