package txn

import (
	"fmt"
	"unicode/utf8"
)

const (
	// DefaultMaxTimeoutMs is Kafka's transaction.max.timeout.ms default
	// (15 minutes): the longest transaction timeout InitProducerId accepts.
	DefaultMaxTimeoutMs int32 = 15 * 60 * 1000
	// DefaultIDExpirationMs is Kafka's transactional.id.expiration.ms
	// default (7 days): how long an idle transactional id is kept.
	DefaultIDExpirationMs int64 = 7 * 24 * 60 * 60 * 1000
)

// MaxIDBytes is the longest transactional id Strata accepts, in bytes. Kafka
// sets no limit below the protocol's 32767; the coordinator store keys
// records by id and keeps keys short enough for a NATS protocol line.
const MaxIDBytes = 1024

// CheckID returns ErrInvalidRequest for an empty transactional id, which
// Kafka refuses on every transactional request before looking it up, for one
// that is not UTF-8 (protocol strings are; a record could not keep it byte
// for byte), and for one longer than MaxIDBytes; nil otherwise. The gateway
// calls it before loading a record.
func CheckID(id string) error {
	if id == "" || len(id) > MaxIDBytes || !utf8.ValidString(id) {
		return ErrInvalidRequest
	}
	return nil
}

// InitProducerID decides an InitProducerId request with a transactional id
// (TransactionCoordinator.handleInitProducerId; a request without one needs no
// record: the gateway hands out a fresh producer id at epoch 0).
//
// cur is the id's record, nil when there is none. expectedPID and
// expectedEpoch are the request's ProducerId and ProducerEpoch (KIP-360,
// v3+): both NoProducerID/NoProducerEpoch for a new producer, both set for one
// recovering with the producer it holds. maxTimeoutMs is
// transaction.max.timeout.ms (0: DefaultMaxTimeoutMs). allocate returns a
// fresh producer id; it is called only when one is needed (no record yet, or
// the epoch is exhausted), and its error is returned as is, wrapped.
//
// Outcomes, in Kafka's order:
//   - ErrInvalidRequest: an id CheckID refuses, or only one of
//     expectedPID/expectedEpoch.
//   - ErrInvalidTimeout: timeoutMs not in 1..maxTimeoutMs.
//   - no record: a new producer id at epoch 0 (Store).
//   - PrepareCommit/PrepareAbort: ErrConcurrentTransactions (the
//     transaction is completing; the client retries).
//   - an expected producer that is neither the current one nor, with an
//     exhausted epoch, the one the id was rotated from: ErrProducerFenced.
//   - Ongoing: the transaction is aborted under the next epoch, which fences
//     its producer, and the answer is ErrConcurrentTransactions
//     (StoreThenMarkers); the client's retry then finds CompleteAbort.
//   - Empty/Complete*: the epoch goes up by one (Store), or, exhausted, the
//     id moves to a fresh producer id at epoch 0; an expected epoch equal to
//     LastProducerEpoch is a retry of a bump that already happened and gets
//     the current epoch again; any other expected epoch, ErrProducerFenced.
func InitProducerID(cur *Transaction, id string, timeoutMs, maxTimeoutMs int32, expectedPID int64, expectedEpoch int16,
	nowMs int64, allocate func() (int64, error)) (Result, error) {
	// KafkaApis.handleInitProducerIdRequest: producer id and epoch come as a
	// pair or not at all.
	hasExpected := expectedPID != NoProducerID || expectedEpoch != NoProducerEpoch
	if hasExpected && (expectedPID == NoProducerID || expectedEpoch == NoProducerEpoch) {
		return reply(ErrInvalidRequest), nil
	}
	if err := CheckID(id); err != nil {
		return reply(err), nil
	}
	if maxTimeoutMs <= 0 {
		maxTimeoutMs = DefaultMaxTimeoutMs
	}
	// TransactionStateManager.validateTransactionTimeoutMs.
	if timeoutMs <= 0 || timeoutMs > maxTimeoutMs {
		return reply(ErrInvalidTimeout), nil
	}
	if cur == nil {
		return newProducer(id, timeoutMs, nowMs, allocate)
	}
	if err := checkRecord(cur, id); err != nil {
		return Result{}, err
	}
	switch {
	case cur.State.preparing():
		// Kafka answers a pending transition (Prepare* always has one:
		// its markers are being written) before looking at the producer.
		return reply(ErrConcurrentTransactions), nil
	case hasExpected && !expectedProducerValid(cur, expectedPID, expectedEpoch):
		return reply(ErrProducerFenced), nil
	case cur.State == Ongoing:
		// Abort the ongoing transaction under a bumped epoch and let the
		// client retry. The bumped epoch is never returned: the retry bumps
		// again, or rotates the producer id if this bump exhausted the
		// epochs (prepareFenceProducerEpoch).
		res, err := fence(cur, nowMs, allocate)
		if err != nil {
			return Result{}, err
		}
		res.Err, res.ProducerID, res.ProducerEpoch = ErrConcurrentTransactions, NoProducerID, NoProducerEpoch
		return res, nil
	}
	// Empty, CompleteCommit, CompleteAbort.
	if epochExhausted(cur.ProducerEpoch) && (!hasExpected || expectedEpoch == cur.ProducerEpoch) {
		pid, err := allocateID(allocate)
		if err != nil {
			return Result{}, err
		}
		return store(rotate(cur, pid, hasExpected, timeoutMs, nowMs)), nil
	}
	next, err := bumpEpoch(cur, hasExpected, expectedEpoch, timeoutMs, nowMs)
	if err != nil {
		return reply(err), nil
	}
	return store(next), nil
}

// newProducer creates the record of a transactional id seen for the first
// time: Kafka creates it at epoch -1 and bumps it to 0 at once.
func newProducer(id string, timeoutMs int32, nowMs int64, allocate func() (int64, error)) (Result, error) {
	pid, err := allocateID(allocate)
	if err != nil {
		return Result{}, err
	}
	return store(&Transaction{
		ID: id, ProducerID: pid, ProducerEpoch: 0,
		LastProducerID: pid, LastProducerEpoch: NoProducerEpoch, NextProducerID: NoProducerID,
		TimeoutMs: timeoutMs, State: Empty, StartMs: -1, UpdateMs: nowMs,
	}), nil
}

// expectedProducerValid is Kafka's isValidProducerId (KIP-360): the expected
// producer id is the current one (its epoch is checked by bumpEpoch), or the
// one the id was rotated away from with an exhausted epoch, which is a retry
// of the rotation whose answer was lost.
func expectedProducerValid(cur *Transaction, pid int64, epoch int16) bool {
	return pid == cur.ProducerID || pid == cur.LastProducerID && epochExhausted(epoch)
}

// bumpEpoch is prepareIncrementProducerEpoch: Empty at the next epoch, with
// the new timeout.
func bumpEpoch(cur *Transaction, hasExpected bool, expectedEpoch int16, timeoutMs int32, nowMs int64) (*Transaction, error) {
	next := idle(cur, timeoutMs, nowMs)
	switch {
	case hasExpected && expectedEpoch != cur.ProducerEpoch && expectedEpoch == cur.LastProducerEpoch:
		// A retry of a bump that happened (its answer was lost): the
		// current epoch again. No other producer has initialised since, as
		// that would have set LastProducerEpoch to -1.
	case epochExhausted(cur.ProducerEpoch):
		// Kafka throws IllegalStateException here (the exhausted case
		// with a matching or no expected epoch rotates instead); an
		// expected epoch that is neither current nor last is a fenced
		// producer.
		return nil, ErrProducerFenced
	case !hasExpected:
		// A new producer instance: no epoch before this one may retry.
		next.ProducerEpoch, next.LastProducerEpoch = cur.ProducerEpoch+1, NoProducerEpoch
	case expectedEpoch == cur.ProducerEpoch:
		// The current producer recovering (KIP-360): it may retry with the
		// epoch it held.
		next.ProducerEpoch, next.LastProducerEpoch = cur.ProducerEpoch+1, cur.ProducerEpoch
	default:
		return nil, ErrProducerFenced
	}
	return next, nil
}

// rotate is prepareProducerIdRotation: a fresh producer id at epoch 0 once
// the epochs of the old one are exhausted. With an expected epoch the old
// epoch is kept as LastProducerEpoch, so a retry of this rotation is
// recognised (expectedProducerValid, then bumpEpoch's retry case).
func rotate(cur *Transaction, pid int64, hasExpected bool, timeoutMs int32, nowMs int64) *Transaction {
	next := idle(cur, timeoutMs, nowMs)
	next.ProducerID, next.ProducerEpoch, next.LastProducerEpoch = pid, 0, NoProducerEpoch
	if hasExpected {
		next.LastProducerEpoch = cur.ProducerEpoch
	}
	return next
}

// idle returns cur moved to Empty with no transaction, as InitProducerId
// leaves it.
func idle(cur *Transaction, timeoutMs int32, nowMs int64) *Transaction {
	next := cur.Clone()
	next.State, next.TimeoutMs = Empty, timeoutMs
	next.LastProducerID = cur.ProducerID
	next.NextProducerID = NoProducerID
	next.Partitions, next.Groups, next.StartMs = nil, nil, -1
	next.UpdateMs = nowMs
	return next
}

// epochExhausted is TransactionMetadata.isEpochExhausted: a client is never
// given MaxEpoch, so that its producer can always be fenced by one more bump.
func epochExhausted(e int16) bool { return e >= MaxEpoch-1 }

// bumped returns e+1, or MaxEpoch when e is MaxEpoch already (Kafka stops at
// the maximum rather than overflow, KAFKA-20090).
func bumped(e int16) int16 {
	if e >= MaxEpoch {
		return MaxEpoch
	}
	return e + 1
}

func allocateID(allocate func() (int64, error)) (int64, error) {
	if allocate == nil {
		return 0, fmt.Errorf("txn: allocate producer id: no allocator")
	}
	pid, err := allocate()
	if err != nil {
		return 0, fmt.Errorf("txn: allocate producer id: %w", err)
	}
	if pid < 0 {
		return 0, fmt.Errorf("txn: allocate producer id: got %d", pid)
	}
	return pid, nil
}

// checkRecord checks that cur keeps the stored invariants and belongs to id
// ("" skips the id check).
func checkRecord(cur *Transaction, id string) error {
	if err := cur.validate(); err != nil {
		return fmt.Errorf("%w: transactional id %q: %v", ErrCorrupt, cur.ID, err)
	}
	if id != "" && cur.ID != id {
		return fmt.Errorf("%w: record of transactional id %q read for %q", ErrCorrupt, cur.ID, id)
	}
	return nil
}
