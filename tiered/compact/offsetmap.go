package compact

import (
	"crypto/md5"
	"fmt"

	"github.com/stratalog/strata/tiered/batch"
)

// DefaultMaxDecompressed is the default limit on what one batch's records may
// decompress to, in OffsetMap and Cleaner: as much as tiered allows a
// timestamp lookup, far above Kafka's default max.message.bytes of 1 MiB
// compressed.
const DefaultMaxDecompressed = 64 << 20

// offsetMapEntryBytes is what one OffsetMap entry costs in memory: a 16-byte
// hash and an 8-byte offset in a Go map, whose tables run between 35 and 55
// bytes an entry depending on where the last growth left them (measured with
// Go 1.26). Kafka's SkimpyOffsetMap needs 24 bytes a slot at a load factor of
// 0.9 (log.cleaner.io.buffer.load.factor), about 27 an entry; a Go map costs
// about twice that and needs no buffer sized up front.
const offsetMapEntryBytes = 56

// keyHash is the MD5 of a record key. Kafka's SkimpyOffsetMap keys its slots
// by the same 16-byte MD5 digest: collisions are negligible (2^-64 at four
// billion keys), and MD5 is used for its speed and spread, not security.
type keyHash [md5.Size]byte

// OffsetMap maps each record key in a range of a partition's log to the offset
// of its latest record, as Kafka's SkimpyOffsetMap does for the dirty section
// of a log (kafka.log.LogCleaner; org.apache.kafka.storage.internals.log.Cleaner
// .buildOffsetMap). Keys are stored as 16-byte MD5 hashes, so memory does not
// depend on key sizes: about 56 bytes an entry (see MaxEntriesFor).
//
// The map holds at most the number of entries it was created with. Add is all
// or nothing per batch: when a batch's keys do not fit, or its records do not
// decode, the map is left as it was before the batch.
//
// An OffsetMap is not safe for concurrent use. Build it, then use it
// read-only from a Cleaner (Latest and LatestOffset do not write).
type OffsetMap struct {
	maxEntries int
	dec        *batch.Decoder
	offsets    map[keyHash]int64
	latest     int64
	undo       []undoEntry // Add's scratch, kept to reuse its memory
}

// undoEntry restores one key after a failed Add.
type undoEntry struct {
	key     keyHash
	old     int64
	existed bool
}

// NewOffsetMap returns an empty map that holds at most maxEntries keys
// (non-positive: none) and refuses to decompress a batch's records to more
// than maxDecompressed bytes (non-positive: DefaultMaxDecompressed).
func NewOffsetMap(maxEntries, maxDecompressed int) *OffsetMap {
	if maxDecompressed <= 0 {
		maxDecompressed = DefaultMaxDecompressed
	}
	return &OffsetMap{
		maxEntries: max(maxEntries, 0),
		dec:        batch.NewDecoder(maxDecompressed),
		offsets:    make(map[keyHash]int64),
		latest:     -1,
	}
}

// MaxEntriesFor returns how many entries an OffsetMap may hold within a
// memory budget of budgetBytes, the way Kafka sizes its map from
// log.cleaner.dedupe.buffer.size.
func MaxEntriesFor(budgetBytes int64) int {
	return int(max(budgetBytes, 0) / offsetMapEntryBytes)
}

// Add records the key of every record of b, one RecordBatch v2, with the
// record's offset, keeping for each key the largest offset seen, so that
// batches may be added in any order. Like Kafka's buildOffsetMapForSegment it
// skips control batches (transaction markers carry no user key) and records
// with a null key, and it advances LatestOffset to the batch's last offset
// whether or not the batch holds keys.
//
// The caller leaves out the batches of aborted transactions (see
// Cleaner.Aborted), as Kafka's CleanedTransactionMetadata.onBatchRead does,
// so that an aborted record never shadows a committed one.
//
// Add verifies the batch (batch.Verify and record decoding). It returns an
// error wrapping ErrCorrupt for a batch that fails, one wrapping
// batch.ErrTooLarge for records that decompress past the limit, and
// ErrMapFull when a new key would take the map past its maximum. In all these
// cases the map is unchanged.
func (m *OffsetMap) Add(b []byte) error {
	h, err := batch.Verify(b)
	if err != nil {
		return fmt.Errorf("add batch to offset map: %w", corrupt(err))
	}
	if !h.Control() {
		if err := m.addRecords(b); err != nil {
			return err
		}
	}
	m.latest = max(m.latest, h.LastOffset())
	return nil
}

// addRecords adds the keys of the data batch b, undoing its changes if any
// record fails.
func (m *OffsetMap) addRecords(b []byte) error {
	m.undo = m.undo[:0]
	full := false
	err := m.dec.EachRecord(b, func(r batch.Record) error {
		if r.Key == nil {
			return nil
		}
		key := keyHash(md5.Sum(r.Key))
		old, existed := m.offsets[key]
		if !existed && len(m.offsets) >= m.maxEntries {
			full = true
			return ErrMapFull
		}
		m.undo = append(m.undo, undoEntry{key, old, existed})
		if !existed || r.Offset > old {
			m.offsets[key] = r.Offset
		}
		return nil
	})
	if err == nil {
		return nil
	}
	for i := len(m.undo) - 1; i >= 0; i-- {
		u := m.undo[i]
		if u.existed {
			m.offsets[u.key] = u.old
		} else {
			delete(m.offsets, u.key)
		}
	}
	if full {
		return ErrMapFull
	}
	return fmt.Errorf("add batch to offset map: %w", corrupt(err))
}

// Latest returns the offset of the latest record with key, and whether the
// map holds key at all. A nil key is never held.
func (m *OffsetMap) Latest(key []byte) (int64, bool) {
	if key == nil {
		return 0, false
	}
	off, ok := m.offsets[md5.Sum(key)]
	return off, ok
}

// LatestOffset returns the largest last offset of the batches added, or -1
// before the first: the end of the range the map covers (Kafka's
// OffsetMap.latestOffset). A Cleaner keeps every record past it.
func (m *OffsetMap) LatestOffset() int64 { return m.latest }

// Len returns the number of keys held.
func (m *OffsetMap) Len() int { return len(m.offsets) }

// MemoryBytes estimates the memory the map's entries take: Len times about
// 56 bytes (see MaxEntriesFor).
func (m *OffsetMap) MemoryBytes() int64 { return int64(len(m.offsets)) * offsetMapEntryBytes }

// Close releases the decompressors' resources. The map stays usable.
func (m *OffsetMap) Close() { m.dec.Close() }
