package coordinator

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/segment"
)

const (
	// maxTailEntries is the most index entries a head record keeps outside
	// chunks. Commits rewrite the head, so this bounds what every flush
	// writes: about 42 bytes an entry (entries.go).
	maxTailEntries = 256
	// chunkEntries is how many entries a new chunk takes from the front of
	// the tail.
	chunkEntries = 256

	// Record versions: 1 stored entries as JSON objects, 2 in the compact
	// encoding (entries.go), 3 adds each entry's flags. All are read; 3 is
	// written.
	partitionRecordVersion = 3
	chunkRecordVersion     = 3
)

// partitionRecord is a partition's head record: the partition state minus
// the entries kept in chunks (index.Partition's Entries field is not
// serialised). The entries after the last chunk are in TailEntries (version
// 2) or Tail (version 1); decodeHead leaves them in Tail.
type partitionRecord struct {
	Version int `json:"v"`
	index.Partition
	Tail        []segment.IndexEntry `json:"tail,omitempty"`
	TailEntries []byte               `json:"tail_entries,omitempty"`
}

// chunkRecord is an immutable run of index entries: in EntryData (version
// 2) or Entries (version 1); decodeChunk leaves them in Entries.
type chunkRecord struct {
	Version   int                  `json:"v"`
	Entries   []segment.IndexEntry `json:"entries,omitempty"`
	EntryData []byte               `json:"entry_data,omitempty"`
}

// encodeHead returns tp's head record for state p with tail as its entries.
func (s *Store) encodeHead(p index.Partition, tail []segment.IndexEntry) ([]byte, error) {
	rec := partitionRecord{Version: partitionRecordVersion, Partition: p}
	if len(tail) > 0 {
		rec.TailEntries = appendEntries(nil, tail)
	}
	return s.encode(rec)
}

// decodeHead decodes a head record of either version.
func decodeHead(tp index.TopicPartition, data []byte) (partitionRecord, error) {
	var r partitionRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return partitionRecord{}, err
	}
	switch r.Version {
	case 1:
	case 2, 3:
		if len(r.TailEntries) > 0 {
			tail, err := decodeEntriesVersion(tp, r.TailEntries, r.Version)
			if err != nil {
				return partitionRecord{}, fmt.Errorf("tail: %w", err)
			}
			r.Tail, r.TailEntries = tail, nil
		}
	default:
		return partitionRecord{}, fmt.Errorf("unsupported version %d", r.Version)
	}
	return r, nil
}

// decodeChunk decodes a chunk record of either version.
func decodeChunk(tp index.TopicPartition, data []byte) ([]segment.IndexEntry, error) {
	var r chunkRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	switch r.Version {
	case 1:
		return r.Entries, nil
	case 2, 3:
		return decodeEntriesVersion(tp, r.EntryData, r.Version)
	default:
		return nil, fmt.Errorf("unsupported version %d", r.Version)
	}
}

// LoadPartition reads the committed state of tp with the head record's
// revision, to be passed to CommitPartition. The state's Entries is the whole
// segment index: the entries of every chunk the head lists, then the head's
// own. When tp has no state yet it returns a zero Partition and revision 0.
// Empty Entries, Chunks and Producers come back nil.
//
// Errors: ErrCorrupt when a record cannot be decoded or a listed chunk is
// missing or does not match its reference.
func (s *Store) LoadPartition(ctx context.Context, tp index.TopicPartition) (index.Partition, uint64, error) {
	head, rev, err := s.loadHead(ctx, tp)
	if err != nil || rev == 0 {
		return index.Partition{}, 0, err
	}
	return s.expandHead(ctx, tp, head, rev)
}

// LoadPartitions is LoadPartition for many partitions at once, the states
// and revisions in tps's order. It reads the head record of every partition
// of the topics tps names in one pass (a watch over their keys, which
// the stream's leader serves as a Get is), then the chunks of the heads that
// list any: a gateway taking 10,000 partitions of a topic reads their heads
// as one stream of messages rather than as 10,000 requests, each a JSON
// round trip. Meant for callers that load many of a topic's partitions; for
// a few of a wide topic, LoadPartition reads less.
//
// A head written while it reads may come back at an older revision, and
// one created meanwhile at revision 0 (see listEntries). A caller that
// commits on the revision finds out: its compare-and-swap conflicts with
// the stored head.
func (s *Store) LoadPartitions(ctx context.Context, tps []index.TopicPartition) ([]index.Partition, []uint64, error) {
	if len(tps) == 0 {
		return nil, nil, nil // no filter would read every partition's head
	}
	var filters []string
	seen := make(map[[16]byte]bool)
	for _, tp := range tps {
		if tp.Partition < 0 {
			return nil, nil, fmt.Errorf("coordinator: partition %d out of range", tp.Partition)
		}
		if !seen[tp.TopicID] {
			seen[tp.TopicID] = true
			filters = append(filters, hex.EncodeToString(tp.TopicID[:])+".*")
		}
	}
	heads, err := s.listEntries(ctx, s.partitions, filters, false)
	if err != nil {
		return nil, nil, fmt.Errorf("read partition records: %w", err)
	}
	states := make([]index.Partition, len(tps))
	revs := make([]uint64, len(tps))
	for i, tp := range tps {
		e, ok := heads[partitionKey(tp)]
		if !ok {
			continue // never written, or deleted: as LoadPartition, revision 0
		}
		head, err := s.readHead(tp, e)
		if err != nil {
			return nil, nil, err
		}
		if states[i], revs[i], err = s.expandHead(ctx, tp, head, e.Revision()); err != nil {
			return nil, nil, err
		}
	}
	return states, revs, nil
}

// expandHead returns the state head (tp's head record, at revision rev)
// holds, with the entries of the chunks it lists read in.
func (s *Store) expandHead(ctx context.Context, tp index.TopicPartition, head partitionRecord, rev uint64) (index.Partition, uint64, error) {
	p := head.Partition
	n := len(head.Tail)
	for _, c := range p.Chunks {
		n += c.Count
	}
	if n > 0 {
		p.Entries = make([]segment.IndexEntry, 0, n)
	}
	// Chunks are read one after another: a load happens when a gateway
	// takes a partition, not on the produce or fetch path.
	for _, c := range p.Chunks {
		entries, err := s.loadChunk(ctx, tp, c)
		if err != nil {
			return index.Partition{}, 0, fmt.Errorf("load partition %s: %w", partitionKey(tp), err)
		}
		p.Entries = append(p.Entries, entries...)
	}
	p.Entries = append(p.Entries, head.Tail...)
	s.heads.remember(tp, rev, headSummary{LeaderEpoch: p.LeaderEpoch, Chunks: p.Chunks, Entries: p.Entries})
	return p, rev, nil
}

// loadHead reads tp's head record; revision 0 means there is none.
func (s *Store) loadHead(ctx context.Context, tp index.TopicPartition) (partitionRecord, uint64, error) {
	key := partitionKey(tp)
	if tp.Partition < 0 {
		return partitionRecord{}, 0, fmt.Errorf("coordinator: partition %d out of range", tp.Partition)
	}
	e, err := s.partitions.Get(ctx, key)
	if isNotFound(err) {
		return partitionRecord{}, 0, nil
	}
	if err != nil {
		return partitionRecord{}, 0, fmt.Errorf("read partition %s: %w", key, err)
	}
	r, err := s.readHead(tp, e)
	if err != nil {
		return partitionRecord{}, 0, err
	}
	return r, e.Revision(), nil
}

// readHead decodes e, tp's head record, and remembers its summary.
func (s *Store) readHead(tp index.TopicPartition, e jetstream.KeyValueEntry) (partitionRecord, error) {
	r, err := decodeHead(tp, e.Value())
	if err != nil {
		return partitionRecord{}, corruptf("partition record %s: %v", e.Key(), err)
	}
	s.heads.remember(tp, e.Revision(), headSummary{LeaderEpoch: r.LeaderEpoch, Chunks: r.Chunks})
	return r, nil
}

// loadChunk reads the chunk c references and checks it is what c says.
func (s *Store) loadChunk(ctx context.Context, tp index.TopicPartition, c index.Chunk) ([]segment.IndexEntry, error) {
	e, err := s.chunks.Get(ctx, c.Key)
	if isNotFound(err) {
		return nil, corruptf("chunk %s is missing", c.Key)
	}
	if err != nil {
		return nil, fmt.Errorf("read chunk %s: %w", c.Key, err)
	}
	entries, err := decodeChunk(tp, e.Value())
	if err != nil {
		return nil, corruptf("chunk %s: %v", c.Key, err)
	}
	if !chunkMatches(tp, c, entries) {
		return nil, corruptf("chunk %s does not match its reference (count %d, offsets %d-%d)", c.Key, c.Count, c.FirstOffset, c.LastOffset)
	}
	return entries, nil
}

// chunkMatches reports whether entries are exactly what chunk c holds.
func chunkMatches(tp index.TopicPartition, c index.Chunk, entries []segment.IndexEntry) bool {
	return len(entries) == c.Count && c.Count > 0 &&
		entries[0].BaseOffset == c.FirstOffset &&
		entries[len(entries)-1].LastOffset == c.LastOffset &&
		chunkKey(tp, entries) == c.Key
}

// CommitPartition replaces the committed state of tp with next, if the head
// record is still at prevRevision (0: tp must have no state yet), and returns
// the state as stored with its new revision.
//
// next.Entries is the whole segment index. next.Chunks is ignored: the
// coordinator reuses the stored chunks that still match a run of next.Entries,
// and moves the oldest entries into new chunks while more than maxTailEntries
// would remain in the head. The returned Partition is next with Chunks set to
// what was stored.
//
// The Store keeps next.Entries (and LoadPartition's Entries) as the index at
// the new revision: callers must not modify those entries afterwards, though
// they may append beyond them. A later commit whose Entries extend the same
// array then reuses the chunks without hashing their entries again, so a
// flush's commit costs the same however long the history.
//
// Crash ordering: new chunks are written first (kv.Create, idempotent: a
// chunk's key is derived from its content), then the head is CAS'd to
// reference them. A crash between the two leaves chunks no head references:
// garbage, never a head pointing at a missing chunk. Chunks are never
// deleted while a head references them.
//
// Errors: ErrFenced when the stored state's LeaderEpoch is above
// next.LeaderEpoch; ErrConflict when the head is not at prevRevision;
// ErrInvalidIndex when next.Entries breaks index.Partition's invariants or
// belongs to another partition; ErrTooLarge when the head would not fit in a
// record (too many producers).
func (s *Store) CommitPartition(ctx context.Context, tp index.TopicPartition, next index.Partition, prevRevision uint64) (index.Partition, uint64, error) {
	h, err := s.prepareHead(ctx, tp, next, prevRevision)
	if err != nil {
		return index.Partition{}, 0, err
	}
	return s.writeHead(ctx, h, false)
}

// preparedHead is a head record ready for its compare-and-swap: its chunks
// are written, and data is the record that references them.
type preparedHead struct {
	tp   index.TopicPartition
	key  string
	next index.Partition // with Chunks as stored
	prev uint64
	data []byte
}

// prepareHead does everything CommitPartition does before the head's
// compare-and-swap: validation, the fencing and revision checks against the
// head it last knew, and the chunk writes.
func (s *Store) prepareHead(ctx context.Context, tp index.TopicPartition, next index.Partition, prevRevision uint64) (preparedHead, error) {
	key := partitionKey(tp)
	if err := validateEntries(tp, next.Entries); err != nil {
		return preparedHead{}, fmt.Errorf("commit partition %s: %w", key, err)
	}
	head, rev, err := s.headAt(ctx, tp, prevRevision)
	if err != nil {
		return preparedHead{}, fmt.Errorf("commit partition %s: %w", key, err)
	}
	if rev != 0 && next.LeaderEpoch < head.LeaderEpoch {
		return preparedHead{}, fmt.Errorf("commit partition %s at epoch %d, stored epoch %d: %w: %w", key, next.LeaderEpoch, head.LeaderEpoch, ErrFenced, index.ErrFenced)
	}
	if rev != prevRevision {
		return preparedHead{}, fmt.Errorf("commit partition %s on revision %d, stored revision %d: %w: %w", key, prevRevision, rev, ErrConflict, index.ErrConflict)
	}
	chunks, tail, err := s.writeChunks(ctx, tp, next.Entries, head.Chunks, sharedPrefix(next.Entries, head.Entries))
	if err != nil {
		return preparedHead{}, fmt.Errorf("commit partition %s: %w", key, err)
	}
	next.Chunks = chunks
	data, err := s.encodeHead(next, tail)
	if err != nil {
		return preparedHead{}, fmt.Errorf("commit partition %s: encode head: %w", key, err)
	}
	return preparedHead{tp: tp, key: key, next: next, prev: prevRevision, data: data}, nil
}

// writeHead compare-and-swaps a prepared head into the partitions bucket,
// group-committed with other heads written at the same time (casBatcher);
// alone, it is written by itself (CommitPartitions' fallback, whose batch
// was just refused).
func (s *Store) writeHead(ctx context.Context, h preparedHead, alone bool) (index.Partition, uint64, error) {
	var rev uint64
	var err error
	if alone {
		rev, err = s.headWrites.alone(ctx, h.key, h.data, h.prev)
	} else {
		rev, err = s.headWrites.write(ctx, h.key, h.data, h.prev)
	}
	if isCASMismatch(err) {
		return index.Partition{}, 0, s.casLost(ctx, h)
	}
	if err != nil {
		return index.Partition{}, 0, fmt.Errorf("commit partition %s: write head: %w", h.key, err)
	}
	s.heads.remember(h.tp, rev, headSummary{LeaderEpoch: h.next.LeaderEpoch, Chunks: h.next.Chunks, Entries: h.next.Entries})
	return h.next, rev, nil
}

// casLost explains a lost compare-and-swap on h: the head moved on since
// h.prev, so read it to tell a newer leader (fenced) from any other writer
// (conflict).
func (s *Store) casLost(ctx context.Context, h preparedHead) error {
	if cur, _, err := s.loadHead(ctx, h.tp); err == nil && h.next.LeaderEpoch < cur.LeaderEpoch {
		return fmt.Errorf("commit partition %s at epoch %d, stored epoch %d: %w: %w", h.key, h.next.LeaderEpoch, cur.LeaderEpoch, ErrFenced, index.ErrFenced)
	}
	return fmt.Errorf("commit partition %s on revision %d: %w: %w", h.key, h.prev, ErrConflict, index.ErrConflict)
}

// headAt returns what CommitPartition needs of the head record at
// prevRevision: from the cache when it holds that revision, else by reading
// the record (whose revision may then differ, which the caller reports as a
// conflict). Revision 0 needs no read: the write creates the record, and
// its compare-and-swap fails if one exists (casLost then tells why).
func (s *Store) headAt(ctx context.Context, tp index.TopicPartition, prevRevision uint64) (headSummary, uint64, error) {
	if prevRevision == 0 {
		return headSummary{}, 0, nil
	}
	if h, ok := s.heads.at(tp, prevRevision); ok {
		return h, prevRevision, nil
	}
	r, rev, err := s.loadHead(ctx, tp)
	if err != nil {
		return headSummary{}, 0, err
	}
	return headSummary{LeaderEpoch: r.LeaderEpoch, Chunks: r.Chunks}, rev, nil
}

// validateEntries checks the invariants of index.Partition that chunking and
// readers rely on.
func validateEntries(tp index.TopicPartition, entries []segment.IndexEntry) error {
	if tp.Partition < 0 {
		return fmt.Errorf("partition %d out of range: %w", tp.Partition, ErrInvalidIndex)
	}
	for i := range entries {
		e := &entries[i]
		switch {
		case e.TopicID != tp.TopicID || e.Partition != tp.Partition:
			return fmt.Errorf("entry %d belongs to partition %d of another topic or partition: %w", i, e.Partition, ErrInvalidIndex)
		case e.Object == "":
			return fmt.Errorf("entry %d has no object: %w", i, ErrInvalidIndex)
		case e.LastOffset < e.BaseOffset:
			return fmt.Errorf("entry %d ends (%d) before it starts (%d): %w", i, e.LastOffset, e.BaseOffset, ErrInvalidIndex)
		case i > 0 && e.BaseOffset <= entries[i-1].LastOffset:
			return fmt.Errorf("entry %d starts at %d, not after entry %d's last offset %d: %w", i, e.BaseOffset, i-1, entries[i-1].LastOffset, ErrInvalidIndex)
		}
	}
	return nil
}

// sharedPrefix returns how many leading entries of next are known to equal
// verified's: all of verified when next extends the very same array (a flush
// appends to the state it last committed), else none.
func sharedPrefix(next, verified []segment.IndexEntry) int {
	if len(verified) == 0 || len(next) < len(verified) || &next[0] != &verified[0] {
		return 0
	}
	return len(verified)
}

// writeChunks splits entries into chunks and a tail. Stored chunks that
// still match a run of entries starting where the previous chunk ended are
// reused as they are (without hashing the entries again when they lie in the
// first known entries, which equal what the stored chunks were checked
// against); entries not covered by a reused chunk go into new
// chunks of up to chunkEntries (cut short before an entry that starts a
// stored chunk, so that the next stored chunk can still be reused) while more
// than maxTailEntries would be left. It returns the chunk list and the tail.
//
// A retention trim of the front therefore rewrites at most the first chunk,
// and a compaction rewrites only the chunks whose entries changed.
func (s *Store) writeChunks(ctx context.Context, tp index.TopicPartition, entries []segment.IndexEntry, stored []index.Chunk, known int) ([]index.Chunk, []segment.IndexEntry, error) {
	byFirst := make(map[int64]index.Chunk, len(stored))
	for _, c := range stored {
		byFirst[c.FirstOffset] = c
	}
	var chunks []index.Chunk
	pos := 0
	for pos < len(entries) {
		if c, ok := byFirst[entries[pos].BaseOffset]; ok && pos+c.Count <= len(entries) &&
			(pos+c.Count <= known || chunkMatches(tp, c, entries[pos:pos+c.Count])) {
			chunks = append(chunks, c)
			pos += c.Count
			continue
		}
		if len(entries)-pos <= maxTailEntries {
			break
		}
		end := pos + 1
		for end < len(entries) && end-pos < chunkEntries {
			if _, ok := byFirst[entries[end].BaseOffset]; ok {
				break
			}
			end++
		}
		c, err := s.writeChunk(ctx, tp, entries[pos:end])
		if err != nil {
			return nil, nil, err
		}
		chunks = append(chunks, c)
		pos = end
	}
	return chunks, entries[pos:], nil
}

// writeChunk stores entries as a chunk record and returns its reference. The
// key is derived from the content, so a chunk that already exists with the
// same bytes (a retried commit, or a racing committer) is success.
func (s *Store) writeChunk(ctx context.Context, tp index.TopicPartition, entries []segment.IndexEntry) (index.Chunk, error) {
	c := index.Chunk{
		Key:         chunkKey(tp, entries),
		Count:       len(entries),
		FirstOffset: entries[0].BaseOffset,
		LastOffset:  entries[len(entries)-1].LastOffset,
	}
	data, err := s.encode(chunkRecord{Version: chunkRecordVersion, EntryData: appendEntries(nil, entries)})
	if err != nil {
		return index.Chunk{}, fmt.Errorf("encode chunk %s: %w", c.Key, err)
	}
	_, err = s.chunks.Create(ctx, c.Key, data)
	if err == nil {
		return c, nil
	}
	if !isCASMismatch(err) {
		return index.Chunk{}, fmt.Errorf("write chunk %s: %w", c.Key, err)
	}
	e, err := s.chunks.Get(ctx, c.Key)
	if err != nil {
		return index.Chunk{}, fmt.Errorf("read existing chunk %s: %w", c.Key, err)
	}
	// The same entries may have been written in another record version.
	if !bytes.Equal(e.Value(), data) {
		stored, err := decodeChunk(tp, e.Value())
		if err != nil || !slices.Equal(stored, entries) {
			return index.Chunk{}, corruptf("chunk %s exists with different content", c.Key)
		}
	}
	// Rewrite it at a new revision: garbage collection deletes a chunk only
	// at the revision it found unreferenced (DeleteChunk), so one reused
	// from now on is kept. If it was deleted meanwhile the commit fails and
	// its retry creates the chunk afresh.
	if _, err := s.chunks.Update(ctx, c.Key, e.Value(), e.Revision()); err != nil {
		return index.Chunk{}, fmt.Errorf("touch existing chunk %s: %w", c.Key, err)
	}
	return c, nil
}

// PartitionRevision returns the revision of tp's head record, 0 when none:
// enough for a leader to see that someone else committed since it did.
func (s *Store) PartitionRevision(ctx context.Context, tp index.TopicPartition) (uint64, error) {
	e, err := s.partitions.Get(ctx, partitionKey(tp))
	switch {
	case isNotFound(err):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("read partition %s: %w", partitionKey(tp), err)
	}
	return e.Revision(), nil
}
