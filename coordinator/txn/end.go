package txn

// EndTxn decides an EndTxn request (TransactionCoordinator.handleEndTransaction)
// for the producer pid at epoch: commit or abort the ongoing transaction.
// tv2 is set for transaction version 2 clients (EndTxn v5+, KIP-890 part 2):
// their end bumps the epoch, so the next transaction cannot be confused with a
// retry of this one, and the answer carries the producer to use next. allocate
// is called only when a version 2 end exhausts the epoch: the producer moves
// to a fresh id at epoch 0 once the markers are written.
//
// Success moves Ongoing to PrepareCommit or PrepareAbort (StoreThenMarkers;
// a transaction with nothing to mark goes straight to Complete*, Store), or
// repeats the answer to a retry of an end that already happened (Reply). The
// errors, in Kafka's order:
//   - ErrInvalidProducerIDMapping: no record, or another producer id.
//   - ErrConcurrentTransactions: PrepareCommit/PrepareAbort, the previous
//     end still writing its markers (for version 2 before the epoch check,
//     KAFKA-18464, so that an abort right after a commit waits rather than
//     looking fenced).
//   - ErrProducerFenced: an epoch that is not the current one (version 1),
//     or neither the current one nor a retry of the last end (version 2).
//   - ErrInvalidTxnState: a commit with no transaction (Empty), or the other
//     outcome of a completed transaction. Version 2 clients may abort with
//     no transaction: Empty, or Complete* at the current epoch, gets an
//     empty abort that only bumps the epoch.
func EndTxn(cur *Transaction, pid int64, epoch int16, commit, tv2 bool, nowMs int64,
	allocate func() (int64, error)) (Result, error) {
	if cur == nil {
		return reply(ErrInvalidProducerIDMapping), nil
	}
	if err := checkRecord(cur, ""); err != nil {
		return Result{}, err
	}
	if tv2 {
		return endV2(cur, pid, epoch, commit, nowMs, allocate)
	}
	return endV1(cur, pid, epoch, commit, nowMs)
}

// endV1 is Kafka's endTransactionWithTV1: the epoch never changes at an end,
// so a retry carries the current epoch and finds Complete*.
func endV1(cur *Transaction, pid int64, epoch int16, commit bool, nowMs int64) (Result, error) {
	switch {
	case cur.ProducerID != pid:
		return reply(ErrInvalidProducerIDMapping), nil
	case epoch != cur.ProducerEpoch:
		// Strict equality for client requests: a version 1 client never
		// bumps its epoch without the coordinator.
		return reply(ErrProducerFenced), nil
	}
	switch cur.State {
	case Ongoing:
		return prepare(cur, commit, false, false, nowMs, nil)
	case PrepareCommit, PrepareAbort:
		// Kafka's Prepare* always has its Complete* pending while markers
		// are written, which answers CONCURRENT_TRANSACTIONS whatever the
		// outcome asked (its unit tests, with no pending state, show
		// INVALID_TXN_STATE for the other outcome; the client ends there
		// once the transaction completes).
		return reply(ErrConcurrentTransactions), nil
	case CompleteCommit:
		return repeatOrInvalid(cur, commit), nil
	case CompleteAbort:
		return repeatOrInvalid(cur, !commit), nil
	default: // Empty: nothing to end.
		return reply(ErrInvalidTxnState), nil
	}
}

// repeatOrInvalid answers a retry of an end that completed with the same
// outcome (same is true), and ErrInvalidTxnState otherwise.
func repeatOrInvalid(cur *Transaction, same bool) Result {
	if same {
		return replyProducer(cur)
	}
	return reply(ErrInvalidTxnState)
}

// endV2 is Kafka's endTransaction for transaction version 2 clients:
//
//	              Abort            Commit
//	              retry  current   retry  current
//	Empty         PF     EB        PF     ITS
//	CompleteAbort NONE   EB        ITS    ITS
//	CompleteCommit ITS   EB        NONE   ITS
//
// (PF: ErrProducerFenced, ITS: ErrInvalidTxnState, NONE: the same answer
// again, EB: an empty abort that bumps the epoch. A retry carries the epoch
// before the end's bump, or, when that bump rotated the producer id, the old
// id at MaxEpoch-1.)
func endV2(cur *Transaction, pid int64, epoch int16, commit bool, nowMs int64, allocate func() (int64, error)) (Result, error) {
	// The end being retried rotated the producer id: the record is at the
	// new id's epoch 0 and the client still holds the old id.
	retryOnOverflow := cur.LastProducerID == pid && epoch == MaxEpoch-1 && cur.ProducerEpoch == 0
	// The end being retried bumped the epoch the client sent.
	retryOnEpochBump := int32(cur.ProducerEpoch) == int32(epoch)+1
	if cur.ProducerID != pid && !retryOnOverflow {
		return reply(ErrInvalidProducerIDMapping), nil
	}
	if cur.State.preparing() {
		// KAFKA-18464: the pending Complete* is answered before the epoch,
		// whose check would otherwise fence a client that aborts right
		// after its commit was answered.
		return reply(ErrConcurrentTransactions), nil
	}
	valid := epoch == cur.ProducerEpoch
	if cur.State.complete() {
		valid = valid || retryOnEpochBump || retryOnOverflow
	}
	if !valid {
		return reply(ErrProducerFenced), nil
	}
	retry := retryOnEpochBump || retryOnOverflow
	switch {
	case cur.State == Ongoing:
		return prepare(cur, commit, true, false, nowMs, allocate)
	case commit && cur.State == CompleteCommit && retry, !commit && cur.State == CompleteAbort && retry:
		return replyProducer(cur), nil
	case !commit && !retry:
		// An abort with no transaction to abort, allowed from Empty and
		// Complete* so that a client unsure of the coordinator's state can
		// always abort (TransactionState: PrepareAbort's previous states).
		return prepare(cur, false, true, true, nowMs, allocate)
	default:
		return reply(ErrInvalidTxnState), nil
	}
}

// prepare is prepareAbortOrCommit: the outcome is decided and stored before
// any marker is written. A version 2 end bumps the epoch (and, when that
// exhausts it, picks the producer id Complete moves to); an empty abort
// (noPartitionAdded) starts its transaction now, as Kafka does. With nothing
// to mark, the transaction completes in the same write.
func prepare(cur *Transaction, commit, tv2, noPartitionAdded bool, nowMs int64, allocate func() (int64, error)) (Result, error) {
	next := cur.Clone()
	next.State = PrepareAbort
	if commit {
		next.State = PrepareCommit
	}
	next.LastProducerID = cur.ProducerID
	next.NextProducerID = NoProducerID
	next.UpdateMs = nowMs
	next.TV2 = tv2
	if tv2 {
		if epochExhausted(cur.ProducerEpoch) {
			pid, err := allocateID(allocate)
			if err != nil {
				return Result{}, err
			}
			next.NextProducerID = pid
		}
		next.ProducerEpoch, next.LastProducerEpoch = bumped(cur.ProducerEpoch), cur.ProducerEpoch
	}
	if noPartitionAdded {
		next.StartMs, next.Partitions, next.Groups = nowMs, nil, nil
	}
	return decided(next, nowMs), nil
}

// decided returns the Result for a Prepare* record: markers to write, or, with
// nothing to mark, the completed record at once. Either way the client is
// told the producer it continues with.
func decided(next *Transaction, nowMs int64) Result {
	markers := next.PendingMarkers()
	if markers.Empty() {
		done := complete(next, nowMs)
		return Result{Action: Store, Next: done, ProducerID: done.ProducerID, ProducerEpoch: done.ProducerEpoch}
	}
	pid, epoch := next.ProducerID, next.ProducerEpoch
	if next.NextProducerID != NoProducerID {
		pid, epoch = next.NextProducerID, 0
	}
	return Result{Action: StoreThenMarkers, Next: next, Markers: markers, ProducerID: pid, ProducerEpoch: epoch}
}

// Complete returns the record after every marker of a PrepareCommit or
// PrepareAbort transaction is written (prepareComplete): CompleteCommit or
// CompleteAbort, no partitions or groups, and, where a version 2 end
// exhausted the epoch, the next producer id at epoch 0. The caller stores it
// by compare-and-swap on the Prepare* record's revision. A record in any
// other state gets ErrNotPrepared (wrapped): on a conflict, reload and
// complete only what is still Prepare*.
func Complete(cur *Transaction, nowMs int64) (*Transaction, error) {
	if cur == nil || !cur.State.preparing() {
		return nil, ErrNotPrepared
	}
	if err := checkRecord(cur, ""); err != nil {
		return nil, err
	}
	return complete(cur, nowMs), nil
}

func complete(cur *Transaction, nowMs int64) *Transaction {
	next := cur.Clone()
	next.State = CompleteAbort
	if cur.State == PrepareCommit {
		next.State = CompleteCommit
	}
	next.LastProducerID = cur.ProducerID
	if cur.NextProducerID != NoProducerID {
		// LastProducerEpoch stays the epoch the client last held
		// (MaxEpoch-1), which is how a retry of this end is recognised.
		next.ProducerID, next.ProducerEpoch = cur.NextProducerID, 0
	}
	next.NextProducerID = NoProducerID
	next.Partitions, next.Groups, next.Offsets = nil, nil, nil
	next.UpdateMs = nowMs
	return next
}

// fence aborts an Ongoing transaction under the next epoch, which fences its
// producer: Kafka's prepareFenceProducerEpoch followed by the abort. The
// epoch goes up once in all (KAFKA-19367: not again for version 2) and never
// past MaxEpoch; no client may retry with an older epoch
// (LastProducerEpoch -1). A version 2 transaction whose epoch is exhausted
// also gets the producer id it moves to (KAFKA-20090).
func fence(cur *Transaction, nowMs int64, allocate func() (int64, error)) (Result, error) {
	next := cur.Clone()
	next.State = PrepareAbort
	next.LastProducerID = cur.ProducerID
	next.ProducerEpoch, next.LastProducerEpoch = bumped(cur.ProducerEpoch), NoProducerEpoch
	next.NextProducerID = NoProducerID
	if cur.TV2 && epochExhausted(cur.ProducerEpoch) {
		pid, err := allocateID(allocate)
		if err != nil {
			return Result{}, err
		}
		next.NextProducerID = pid
	}
	next.UpdateMs = nowMs
	return decided(next, nowMs), nil
}

// Expired aborts an Ongoing transaction whose timeout has passed
// (TransactionStateManager.timedOutTransactions: StartMs + TimeoutMs < nowMs,
// then abortTimedOutTransactions): the epoch is bumped, which fences the
// producer, and the transaction goes to PrepareAbort (StoreThenMarkers).
// Any other record gets Reply with no error: nothing to do. allocate is
// called only for a version 2 transaction at an exhausted epoch. A new
// coordinator runs Expired over every record it takes over, and again
// periodically (Kafka: every transaction.abort.timed.out.transaction.
// cleanup.interval.ms, 10 s).
func Expired(cur *Transaction, nowMs int64, allocate func() (int64, error)) (Result, error) {
	deadline, ok := cur.Deadline()
	if !ok || nowMs <= deadline {
		return Result{Action: Reply, ProducerID: NoProducerID, ProducerEpoch: NoProducerEpoch}, nil
	}
	if err := checkRecord(cur, ""); err != nil {
		return Result{}, err
	}
	return fence(cur, nowMs, allocate)
}

// IDExpired reports whether cur's transactional id has expired: no
// transaction in flight (Empty or Complete*) and no transition for
// expirationMs (transactional.id.expiration.ms; 0 or less:
// DefaultIDExpirationMs). The caller then deletes the record by
// compare-and-swap on the revision it read, so an id used meanwhile is kept.
// Kafka checks every transactional.id.expiration.check.interval.ms (1 h).
func IDExpired(cur *Transaction, nowMs, expirationMs int64) bool {
	if expirationMs <= 0 {
		expirationMs = DefaultIDExpirationMs
	}
	return cur != nil && cur.State.idle() && cur.UpdateMs <= nowMs-expirationMs
}
