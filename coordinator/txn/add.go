package txn

import (
	"slices"
	"unicode/utf8"
)

// AddPartitions decides an AddPartitionsToTxn request
// (TransactionCoordinator.handleAddPartitionsToTransaction) of the producer
// pid at epoch: partitions (topic to partition numbers) join the transaction,
// which starts now if none is ongoing. tv2 is set when the add comes from a
// transaction version 2 producer (KIP-890 part 2, the partition leader adding
// the partition on the producer's behalf).
//
// Outcomes, in Kafka's order: ErrInvalidRequest for an empty topic name or a
// negative partition (the gateway answers unknown topics itself, before
// calling); ErrInvalidProducerIDMapping for no record or another producer id;
// ErrProducerFenced for another epoch; ErrConcurrentTransactions in
// PrepareCommit/PrepareAbort; success with nothing to store when the
// transaction is Ongoing and has every partition already; otherwise Ongoing
// with the partitions added (Store).
func AddPartitions(cur *Transaction, pid int64, epoch int16, partitions map[string][]int32, tv2 bool, nowMs int64) (Result, error) {
	if !validPartitions(partitions) {
		return reply(ErrInvalidRequest), nil
	}
	if res, done, err := checkAdd(cur, pid, epoch); done {
		return res, err
	}
	if cur.State == Ongoing && cur.hasPartitions(partitions) {
		// Kafka's shortcut: nothing new, answer at once.
		return replyProducer(cur), nil
	}
	next := ongoing(cur, tv2, nowMs)
	next.Partitions = unionPartitions(next.Partitions, partitions)
	return store(next), nil
}

// AddGroup decides an AddOffsetsToTxn request (KafkaApis adds the group's
// offsets partition with handleAddPartitionsToTransaction): the consumer
// group's offsets, committed with TxnOffsetCommit, join the transaction. The
// outcomes are AddPartitions', with ErrInvalidGroupID for an empty group id
// (or one that is not UTF-8).
func AddGroup(cur *Transaction, pid int64, epoch int16, group string, tv2 bool, nowMs int64) (Result, error) {
	if group == "" || !utf8.ValidString(group) {
		return reply(ErrInvalidGroupID), nil
	}
	if res, done, err := checkAdd(cur, pid, epoch); done {
		return res, err
	}
	i, found := slices.BinarySearch(cur.Groups, group)
	if cur.State == Ongoing && found {
		return replyProducer(cur), nil
	}
	next := ongoing(cur, tv2, nowMs)
	if !found {
		next.Groups = slices.Insert(next.Groups, i, group)
	}
	return store(next), nil
}

// checkAdd runs the checks AddPartitions and AddGroup share. done is set when
// res (or err) is the answer.
func checkAdd(cur *Transaction, pid int64, epoch int16) (res Result, done bool, err error) {
	switch {
	case cur == nil:
		return reply(ErrInvalidProducerIDMapping), true, nil
	case cur.validate() != nil:
		return Result{}, true, checkRecord(cur, "")
	case cur.ProducerID != pid:
		return reply(ErrInvalidProducerIDMapping), true, nil
	case cur.ProducerEpoch != epoch:
		return reply(ErrProducerFenced), true, nil
	case cur.State.preparing():
		// The previous transaction is still writing its markers.
		return reply(ErrConcurrentTransactions), true, nil
	}
	return Result{}, false, nil
}

// ongoing is prepareAddPartitions' common part: Ongoing, starting now if the
// transaction is new.
func ongoing(cur *Transaction, tv2 bool, nowMs int64) *Transaction {
	next := cur.Clone()
	if cur.State.idle() {
		next.StartMs, next.Partitions, next.Groups, next.Offsets = nowMs, nil, nil, nil
	}
	next.State = Ongoing
	next.LastProducerID = cur.ProducerID
	next.UpdateMs = nowMs
	next.TV2 = tv2
	return next
}

// VerifyPartitions answers a verify-only AddPartitionsToTxn (KIP-890 part 1,
// handleVerifyPartitionsInTransaction): whether each partition is in the
// ongoing transaction of pid at epoch, before the partition leader appends the
// producer's records. It changes nothing. The answer has an entry for every
// partition asked about: nil when it is in the transaction,
// ErrTransactionAbortable when not, or, for all of them,
// ErrInvalidProducerIDMapping (no record, another producer id),
// ErrProducerFenced (another epoch) or ErrConcurrentTransactions
// (PrepareCommit/PrepareAbort).
func VerifyPartitions(cur *Transaction, pid int64, epoch int16, partitions map[string][]int32) map[string]map[int32]error {
	var all error
	switch {
	case cur == nil || cur.ProducerID != pid:
		all = ErrInvalidProducerIDMapping
	case cur.ProducerEpoch != epoch:
		all = ErrProducerFenced
	case cur.State.preparing():
		all = ErrConcurrentTransactions
	}
	out := make(map[string]map[int32]error, len(partitions))
	for topic, ps := range partitions {
		m := make(map[int32]error, len(ps))
		for _, p := range ps {
			err := all
			if err == nil {
				if _, ok := slices.BinarySearch(cur.Partitions[topic], p); !ok {
					err = ErrTransactionAbortable
				}
			}
			m[p] = err
		}
		out[topic] = m
	}
	return out
}

// PendingOffset is one partition's offset committed in a transaction
// (TxnOffsetCommit), as the group will hold it once the transaction
// commits.
type PendingOffset struct {
	Offset      int64  `json:"offset"`
	LeaderEpoch int32  `json:"leader_epoch"`
	Metadata    string `json:"metadata,omitempty"`
	CommitMs    int64  `json:"commit_ms"`
}

// CommitOffsets decides a TxnOffsetCommit of the producer pid at epoch: the
// offsets (topic to partition to offset) join the ongoing transaction's
// pending offsets for group, replacing earlier ones of the same partitions.
// The group must be in the transaction (AddOffsetsToTxn) unless implicit is
// set (TxnOffsetCommit v5+, KIP-890 part 2: the request adds it).
//
// Outcomes: ErrInvalidGroupID for an empty group; ErrInvalidProducerIDMapping
// for no record or another producer id; ErrProducerFenced for another epoch;
// ErrConcurrentTransactions in PrepareCommit/PrepareAbort; ErrInvalidTxnState
// with no ongoing transaction, or a group not in it without implicit;
// otherwise Store.
func CommitOffsets(cur *Transaction, pid int64, epoch int16, group string, offsets map[string]map[int32]PendingOffset, implicit bool, nowMs int64) (Result, error) {
	if group == "" || !utf8.ValidString(group) {
		return reply(ErrInvalidGroupID), nil
	}
	for topic, parts := range offsets {
		if topic == "" || len(parts) == 0 {
			return reply(ErrInvalidRequest), nil
		}
		for p := range parts {
			if p < 0 {
				return reply(ErrInvalidRequest), nil
			}
		}
	}
	if res, done, err := checkAdd(cur, pid, epoch); done {
		return res, err
	}
	i, found := slices.BinarySearch(cur.Groups, group)
	if cur.State != Ongoing || !found && !implicit {
		return reply(ErrInvalidTxnState), nil
	}
	next := cur.Clone()
	if !found {
		next.Groups = slices.Insert(next.Groups, i, group)
	}
	if next.Offsets == nil {
		next.Offsets = map[string]map[string]map[int32]PendingOffset{}
	}
	if next.Offsets[group] == nil {
		next.Offsets[group] = map[string]map[int32]PendingOffset{}
	}
	for topic, parts := range offsets {
		if next.Offsets[group][topic] == nil {
			next.Offsets[group][topic] = map[int32]PendingOffset{}
		}
		for p, o := range parts {
			next.Offsets[group][topic][p] = o
		}
	}
	if len(next.Offsets[group]) == 0 {
		delete(next.Offsets, group)
	}
	next.UpdateMs = nowMs
	return store(next), nil
}
