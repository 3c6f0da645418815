package txn

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"unicode/utf8"
)

const (
	// NoProducerID and NoProducerEpoch are Kafka's "none" values
	// (RecordBatch.NO_PRODUCER_ID, NO_PRODUCER_EPOCH).
	NoProducerID    int64 = -1
	NoProducerEpoch int16 = -1

	// MaxEpoch is the largest producer epoch. A client never holds it:
	// epochs from MaxEpoch-1 up count as exhausted, so that the
	// coordinator can always fence a producer by one more bump
	// (TransactionMetadata.isEpochExhausted).
	MaxEpoch int16 = math.MaxInt16

	// recordVersion is the version Encode writes and Decode reads.
	recordVersion = 1
)

// Transaction is the coordinator's record of one transactional id: its
// producer id and epoch and the transaction in flight, if any. It is the
// value of the id's key in the coordinator store, encoded by Encode and
// written by compare-and-swap; it holds what Kafka's TransactionMetadata
// holds.
//
// The JSON field names are the stored format and never change within a
// version. Timestamps are milliseconds since the Unix epoch.
type Transaction struct {
	// ID is the transactional id.
	ID string `json:"id"`
	// ProducerID and ProducerEpoch are the producer the id is bound to
	// now. A transaction's records and markers carry them.
	ProducerID    int64 `json:"producer_id"`
	ProducerEpoch int16 `json:"producer_epoch"`
	// LastProducerID is the producer id before the last transition (Kafka's
	// prevProducerId): the old id after the id was rotated, the same id
	// otherwise. LastProducerEpoch is the epoch a client may still hold and
	// retry with (KIP-360): the epoch before the last InitProducerId bump
	// with an expected epoch, the epoch before a KIP-890 bump at EndTxn, or
	// NoProducerEpoch after a fence, which no client may retry with.
	LastProducerID    int64 `json:"last_producer_id"`
	LastProducerEpoch int16 `json:"last_producer_epoch"`
	// NextProducerID is set only in PrepareCommit and PrepareAbort, when
	// a transaction-version-2 end bumped the epoch to exhaustion: the
	// producer id Complete switches to, at epoch 0 (KIP-890). Otherwise
	// NoProducerID.
	NextProducerID int64 `json:"next_producer_id"`
	// TimeoutMs is the transaction timeout from the last InitProducerId.
	TimeoutMs int32 `json:"timeout_ms"`
	// State is where the transaction is.
	State State `json:"state"`
	// Partitions maps each topic in the transaction to its partitions,
	// ascending. Empty outside Ongoing and Prepare*.
	Partitions map[string][]int32 `json:"partitions,omitempty"`
	// Groups are the consumer groups whose offsets are in the transaction
	// (AddOffsetsToTxn), ascending. Empty outside Ongoing and Prepare*.
	Groups []string `json:"groups,omitempty"`
	// Offsets are the offsets committed in the transaction
	// (TxnOffsetCommit), by group (one of Groups), topic and partition:
	// applied to the groups when it commits, dropped when it aborts. Empty
	// outside Ongoing and Prepare*.
	Offsets map[string]map[string]map[int32]PendingOffset `json:"offsets,omitempty"`
	// StartMs is when the transaction started (its first AddPartitions or
	// AddGroup), kept through Prepare* and Complete* for
	// DescribeTransactions; -1 in Empty. The timeout runs from it.
	StartMs int64 `json:"start_ms"`
	// UpdateMs is the time of the last transition; the id expires when it
	// is transactional.id.expiration.ms old and idle.
	UpdateMs int64 `json:"update_ms"`
	// TV2 is set when the client's last transition used transaction
	// version 2 (KIP-890 part 2: EndTxn v5+, epoch bumped at every end).
	TV2 bool `json:"tv2,omitempty"`
}

// record is the stored form: the transaction with the format version.
type record struct {
	Version int `json:"v"`
	Transaction
}

// Encode returns t's stored form. It refuses (with an error, never a panic)
// a record Decode would refuse, which only a bug produces.
func Encode(t *Transaction) ([]byte, error) {
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("txn: refusing to encode transactional id %q: %w", t.ID, err)
	}
	return json.Marshal(record{Version: recordVersion, Transaction: *t})
}

// Decode parses a stored record. Any input that is not a record Encode could
// have written (bad JSON, another version, a state that is never stored, an
// epoch or id out of range, partitions or groups unsorted or in a state
// without a transaction) fails with an error wrapping ErrCorrupt. Decode
// never panics. The caller checks that ID is the key it read.
func Decode(data []byte) (*Transaction, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if r.Version != recordVersion {
		return nil, fmt.Errorf("%w: record version %d, want %d", ErrCorrupt, r.Version, recordVersion)
	}
	t := r.Transaction
	// "partitions":{} and "groups":[] mean none, which Encode omits.
	if len(t.Partitions) == 0 {
		t.Partitions = nil
	}
	if len(t.Groups) == 0 {
		t.Groups = nil
	}
	if len(t.Offsets) == 0 {
		t.Offsets = nil
	}
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("%w: transactional id %q: %v", ErrCorrupt, t.ID, err)
	}
	return &t, nil
}

// validate checks the invariants every stored record keeps.
func (t *Transaction) validate() error {
	switch {
	case t.ID == "":
		return fmt.Errorf("empty transactional id")
	case !t.State.stored():
		return fmt.Errorf("state %v is never stored", t.State)
	case t.ProducerID < 0 || t.ProducerEpoch < 0:
		return fmt.Errorf("producer %d epoch %d", t.ProducerID, t.ProducerEpoch)
	case t.LastProducerID < NoProducerID || t.LastProducerEpoch < NoProducerEpoch:
		return fmt.Errorf("last producer %d epoch %d", t.LastProducerID, t.LastProducerEpoch)
	case t.NextProducerID < NoProducerID:
		return fmt.Errorf("next producer id %d", t.NextProducerID)
	case t.NextProducerID != NoProducerID && !(t.State.preparing() && t.TV2):
		return fmt.Errorf("next producer id %d in %v", t.NextProducerID, t.State)
	case t.TimeoutMs <= 0:
		return fmt.Errorf("timeout %d ms", t.TimeoutMs)
	case t.UpdateMs < 0:
		return fmt.Errorf("update time %d", t.UpdateMs)
	case t.State == Empty && t.StartMs != -1:
		return fmt.Errorf("start time %d in Empty", t.StartMs)
	case t.State != Empty && t.StartMs < 0:
		return fmt.Errorf("start time %d in %v", t.StartMs, t.State)
	case (len(t.Partitions) > 0 || len(t.Groups) > 0 || len(t.Offsets) > 0) && t.State != Ongoing && !t.State.preparing():
		return fmt.Errorf("partitions, groups or offsets in %v", t.State)
	}
	for group, topics := range t.Offsets {
		if _, ok := slices.BinarySearch(t.Groups, group); !ok || len(topics) == 0 {
			return fmt.Errorf("offsets of group %q, not in the transaction's groups or empty", group)
		}
		for topic, parts := range topics {
			if topic == "" || len(parts) == 0 {
				return fmt.Errorf("offsets of group %q: topic %q with %d partitions", group, topic, len(parts))
			}
			for p := range parts {
				if p < 0 {
					return fmt.Errorf("offsets of group %q: partition %d", group, p)
				}
			}
		}
	}
	for topic, parts := range t.Partitions {
		if err := checkPartitions(topic, parts); err != nil {
			return err
		}
	}
	for i, g := range t.Groups {
		if g == "" || i > 0 && g <= t.Groups[i-1] {
			return fmt.Errorf("groups %q not distinct, non-empty and ascending", t.Groups)
		}
	}
	return nil
}

// checkPartitions checks one topic's partition list: a named topic,
// partitions non-negative, strictly ascending, at least one.
func checkPartitions(topic string, parts []int32) error {
	if topic == "" || len(parts) == 0 {
		return fmt.Errorf("topic %q with partitions %v", topic, parts)
	}
	for i, p := range parts {
		if p < 0 || i > 0 && p <= parts[i-1] {
			return fmt.Errorf("topic %q: partitions %v not distinct, non-negative and ascending", topic, parts)
		}
	}
	return nil
}

// Clone returns a deep copy of t; nil for nil.
func (t *Transaction) Clone() *Transaction {
	if t == nil {
		return nil
	}
	c := *t
	c.Partitions = clonePartitions(t.Partitions)
	c.Groups = slices.Clone(t.Groups)
	c.Offsets = cloneOffsets(t.Offsets)
	return &c
}

func cloneOffsets(m map[string]map[string]map[int32]PendingOffset) map[string]map[string]map[int32]PendingOffset {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]map[string]map[int32]PendingOffset, len(m))
	for group, topics := range m {
		out[group] = make(map[string]map[int32]PendingOffset, len(topics))
		for topic, parts := range topics {
			out[group][topic] = maps.Clone(parts)
		}
	}
	return out
}

func clonePartitions(m map[string][]int32) map[string][]int32 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string][]int32, len(m))
	for topic, parts := range m {
		out[topic] = slices.Clone(parts)
	}
	return out
}

// Markers is the outcome to write into every partition and group of a
// decided transaction: a COMMIT or ABORT control batch with this producer id
// and epoch on each partition, and the group's pending transactional offsets
// made visible (commit) or dropped (abort) for each group.
type Markers struct {
	Commit        bool
	ProducerID    int64
	ProducerEpoch int16
	Partitions    map[string][]int32
	Groups        []string
	// Offsets are the groups' offsets to apply on commit (see
	// Transaction.Offsets).
	Offsets map[string]map[string]map[int32]PendingOffset
}

// PendingMarkers returns the markers a PrepareCommit or PrepareAbort record
// still needs written (all of them: the record does not track progress, and
// writing a marker twice is harmless to readers), or nil in any other state.
// A coordinator taking over a transactional id finishes its transaction with
// it: write the markers, then Complete.
func (t *Transaction) PendingMarkers() *Markers {
	if t == nil || !t.State.preparing() {
		return nil
	}
	// Markers carry the epoch of the Prepare* record: with transaction
	// version 2 the bumped one, which fences late writes of the old epoch
	// (KIP-890 part 2).
	return &Markers{
		Commit:        t.State == PrepareCommit,
		ProducerID:    t.ProducerID,
		ProducerEpoch: t.ProducerEpoch,
		Partitions:    clonePartitions(t.Partitions),
		Groups:        slices.Clone(t.Groups),
		Offsets:       cloneOffsets(t.Offsets),
	}
}

// Empty reports whether there is nothing to write.
func (m *Markers) Empty() bool { return len(m.Partitions) == 0 && len(m.Groups) == 0 }

// Description is what DescribeTransactions reports for a transactional id
// (and ListTransactions a subset of).
type Description struct {
	ID            string
	State         string // Kafka's state name
	ProducerID    int64
	ProducerEpoch int16
	TimeoutMs     int32
	StartMs       int64 // -1 when no transaction has started
	Partitions    map[string][]int32
}

// Describe returns what DescribeTransactions reports for cur, or
// ErrTransactionalIDNotFound when there is no record.
func Describe(cur *Transaction) (Description, error) {
	if cur == nil {
		return Description{}, ErrTransactionalIDNotFound
	}
	return Description{
		ID: cur.ID, State: cur.State.String(), ProducerID: cur.ProducerID, ProducerEpoch: cur.ProducerEpoch,
		TimeoutMs: cur.TimeoutMs, StartMs: cur.StartMs, Partitions: clonePartitions(cur.Partitions),
	}, nil
}

// ListFilter selects transactions for ListTransactions. Empty lists match
// everything.
type ListFilter struct {
	// States are the states to list; the caller parses names with
	// ParseState and reports unknown ones.
	States []State
	// ProducerIDs are the producer ids to list.
	ProducerIDs []int64
	// DurationMs, when not negative, lists only transactions that started
	// more than DurationMs before now (KIP-994, ListTransactions v1).
	DurationMs int64
}

// Matches reports whether ListTransactions lists t under f at nowMs, as
// Kafka's TransactionStateManager.listTransactionStates decides. As there, the
// duration filter compares against StartMs, which is -1 in Empty, so an
// Empty transactional id passes any duration filter.
func (t *Transaction) Matches(f ListFilter, nowMs int64) bool {
	switch {
	case len(f.ProducerIDs) > 0 && !slices.Contains(f.ProducerIDs, t.ProducerID):
		return false
	case len(f.States) > 0 && !slices.Contains(f.States, t.State):
		return false
	case f.DurationMs >= 0 && nowMs-t.StartMs <= f.DurationMs:
		return false
	}
	return true
}

// Deadline returns when an Ongoing transaction times out: Expired aborts it
// once nowMs is past this. ok is false in any other state.
func (t *Transaction) Deadline() (ms int64, ok bool) {
	if t == nil || t.State != Ongoing {
		return 0, false
	}
	if t.StartMs > math.MaxInt64-int64(t.TimeoutMs) {
		return math.MaxInt64, true // never, rather than overflow
	}
	return t.StartMs + int64(t.TimeoutMs), true
}

// hasPartitions reports whether every partition in parts is in the
// transaction.
func (t *Transaction) hasPartitions(parts map[string][]int32) bool {
	for topic, ps := range parts {
		have := t.Partitions[topic]
		for _, p := range ps {
			if _, ok := slices.BinarySearch(have, p); !ok {
				return false
			}
		}
	}
	return true
}

// unionPartitions returns a ∪ b, each topic's partitions ascending; neither
// is changed.
func unionPartitions(a, b map[string][]int32) map[string][]int32 {
	out := clonePartitions(a)
	for topic, ps := range b {
		if len(ps) == 0 {
			continue
		}
		if out == nil {
			out = make(map[string][]int32, len(b))
		}
		merged := append(out[topic], ps...)
		slices.Sort(merged)
		out[topic] = slices.Compact(merged)
	}
	return out
}

// validPartitions checks partitions named in a request: topic names
// non-empty UTF-8, partition numbers non-negative.
func validPartitions(parts map[string][]int32) bool {
	for topic, ps := range parts {
		if topic == "" || !utf8.ValidString(topic) || slices.ContainsFunc(ps, func(p int32) bool { return p < 0 }) {
			return false
		}
	}
	return true
}
