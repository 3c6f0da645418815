package txn

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The tables below cover every stored state against every request. Each
// case names the test of Kafka's TransactionCoordinatorTest (TCT) or
// TransactionMetadataTest (TMT) it mirrors, where there is one; the others
// follow the branch of TransactionCoordinator they name.

func TestInitProducerID(t *testing.T) {
	const max = MaxEpoch
	for _, tc := range []struct {
		name      string
		cur       *Transaction
		id        string
		timeout   int32 // 0: timeoutMs
		maxMs     int32
		expPID    int64 // with expEpoch; both 0 means none (-1, -1)
		expEpoch  int16
		fail      bool // the allocator fails
		want      want
		allocated int
	}{
		{name: "empty id (TCT shouldReturnInvalidRequestWhenTransactionalIdIsEmpty)",
			id: "", want: fail(ErrInvalidRequest)},
		{name: "id not UTF-8", id: "a\xff", want: fail(ErrInvalidRequest)},
		{name: "id over MaxIDBytes", id: strings.Repeat("x", MaxIDBytes+1), want: fail(ErrInvalidRequest)},
		{name: "id of MaxIDBytes", id: strings.Repeat("x", MaxIDBytes), cur: rec(Empty, func(r *Transaction) { r.ID = strings.Repeat("x", MaxIDBytes) }),
			want: stored(rec(Empty, func(r *Transaction) { r.ID = strings.Repeat("x", MaxIDBytes) }, epochAt(2), lastEpoch(-1), updated(now)))},
		{name: "producer id without epoch (KafkaApis.handleInitProducerIdRequest)",
			id: txnID, expPID: pid, expEpoch: -1, want: fail(ErrInvalidRequest)},
		{name: "epoch without producer id", id: txnID, expPID: -1, expEpoch: 3, want: fail(ErrInvalidRequest)},
		{name: "zero timeout (validateTransactionTimeoutMs)", id: txnID, timeout: -1, want: fail(ErrInvalidTimeout)},
		{name: "timeout over the maximum", id: txnID, timeout: 5001, maxMs: 5000, want: fail(ErrInvalidTimeout)},
		{name: "timeout over the default maximum", id: txnID, timeout: DefaultMaxTimeoutMs + 1, want: fail(ErrInvalidTimeout)},
		{name: "timeout at the default maximum, new id", id: txnID, timeout: DefaultMaxTimeoutMs,
			want: stored(&Transaction{ID: txnID, ProducerID: newPID, LastProducerID: newPID, LastProducerEpoch: -1,
				NextProducerID: -1, TimeoutMs: DefaultMaxTimeoutMs, State: Empty, StartMs: -1, UpdateMs: now}),
			allocated: 1},
		{name: "new id (TCT shouldInitPidWithEpochZeroForNewTransactionalId)", id: txnID,
			want: stored(&Transaction{ID: txnID, ProducerID: newPID, LastProducerID: newPID, LastProducerEpoch: -1,
				NextProducerID: -1, TimeoutMs: timeoutMs, State: Empty, StartMs: -1, UpdateMs: now}),
			allocated: 1},
		{name: "new id, producer given (TCT shouldGenerateNewProducerIdIfNoStateAndProducerIdAndEpochProvided)",
			id: txnID, expPID: pid, expEpoch: epoch,
			want: stored(&Transaction{ID: txnID, ProducerID: newPID, LastProducerID: newPID, LastProducerEpoch: -1,
				NextProducerID: -1, TimeoutMs: timeoutMs, State: Empty, StartMs: -1, UpdateMs: now}),
			allocated: 1},
		{name: "new id, allocation fails", id: txnID, fail: true, allocated: 1},
		{name: "Empty bumps the epoch (TCT shouldIncrementEpochAndUpdateMetadataOnHandleInitPidWhenExistingEmptyTransaction)",
			cur: rec(Empty), id: txnID, timeout: 2000,
			want: stored(rec(Empty, epochAt(2), lastEpoch(-1), timeout(2000), updated(now)))},
		{name: "CompleteCommit bumps the epoch (TCT ...WhenExistingCompleteCommitTransaction)",
			cur: rec(CompleteCommit), id: txnID,
			want: stored(rec(Empty, epochAt(2), lastEpoch(-1), updated(now)))},
		{name: "CompleteAbort of a version 2 client bumps the epoch (TCT ...WhenExistingCompleteTransaction)",
			cur: rec(CompleteAbort, tv2), id: txnID,
			want: stored(rec(Empty, epochAt(2), lastEpoch(-1), updated(now), tv2))},
		{name: "PrepareCommit (TCT shouldWaitForCommitToCompleteOnHandleInitPidAndExistingTransactionInPrepareCommitState)",
			cur: rec(PrepareCommit), id: txnID, want: fail(ErrConcurrentTransactions)},
		{name: "PrepareAbort (TCT ...InPrepareAbortState)",
			cur: rec(PrepareAbort), id: txnID, want: fail(ErrConcurrentTransactions)},
		{name: "PrepareCommit before the producer check (TCT shouldNotBumpEpochWithPendingTransaction)",
			cur: rec(PrepareCommit), id: txnID, expPID: pid, expEpoch: 10, want: fail(ErrConcurrentTransactions)},
		{name: "Ongoing is aborted under a bumped epoch (TCT shouldAbortTransactionOnHandleInitPidWhenExistingTransactionInOngoingState)",
			cur: rec(Ongoing), id: txnID,
			want: fenced(rec(PrepareAbort, epochAt(2), lastEpoch(-1), updated(now)))},
		{name: "Ongoing with the producer's stale epoch still fences (isValidProducerId checks the id only)",
			cur: rec(Ongoing, epochAt(5)), id: txnID, expPID: pid, expEpoch: 3,
			want: fenced(rec(PrepareAbort, epochAt(6), lastEpoch(-1), updated(now)))},
		{name: "Ongoing, another producer id expected", cur: rec(Ongoing), id: txnID, expPID: pid + 1, expEpoch: epoch,
			want: fail(ErrProducerFenced)},
		{name: "Ongoing at an exhausted epoch fences with the last one (TCT shouldUseLastEpochToFenceWhenEpochsAreExhausted)",
			cur: rec(Ongoing, epochAt(max-1), lastEpoch(max-2)), id: txnID,
			want: fenced(rec(PrepareAbort, epochAt(max), lastEpoch(-1), updated(now)))},
		{name: "version 2 Ongoing at an exhausted epoch picks the next producer id (KAFKA-20090)",
			cur: rec(Ongoing, epochAt(max-1), tv2), id: txnID,
			want:      fenced(rec(PrepareAbort, epochAt(max), lastEpoch(-1), nextPID(newPID), updated(now), tv2)),
			allocated: 1},
		{name: "Ongoing with nothing added aborts in one write", cur: rec(Ongoing, noParts), id: txnID,
			want: want{action: Store, err: ErrConcurrentTransactions, pid: -1, epoch: -1,
				next: rec(CompleteAbort, epochAt(2), lastEpoch(-1), updated(now))}},
		{name: "exhausted epoch rotates the producer id (TCT shouldGenerateNewProducerIdIfEpochsExhausted)",
			cur: rec(Empty, epochAt(max-1), lastEpoch(max-2)), id: txnID,
			want:      stored(rec(Empty, producer(newPID), epochAt(0), lastPID(pid), lastEpoch(-1), updated(now))),
			allocated: 1},
		{name: "exhausted epoch, current producer expected: rotation remembers its epoch (TMT testRotateProducerId)",
			cur: rec(Empty, epochAt(max-1), lastEpoch(max-2)), id: txnID, expPID: pid, expEpoch: max - 1,
			want:      stored(rec(Empty, producer(newPID), epochAt(0), lastPID(pid), lastEpoch(max-1), updated(now))),
			allocated: 1},
		{name: "retry of a rotation (TCT testRetryInitProducerIdAfterProducerIdRotation)",
			cur: rec(Empty, producer(newPID), epochAt(0), lastPID(pid), lastEpoch(max-1)), id: txnID,
			expPID: pid, expEpoch: max - 1,
			want: stored(rec(Empty, producer(newPID), epochAt(0), lastPID(newPID), lastEpoch(max-1), updated(now)))},
		{name: "old producer with a stale epoch after a rotation (TCT testInitProducerIdWithInvalidEpochAfterProducerIdRotation)",
			cur: rec(Empty, producer(newPID), epochAt(0), lastPID(pid), lastEpoch(max-1)), id: txnID,
			expPID: pid, expEpoch: max - 2, want: fail(ErrProducerFenced)},
		{name: "CompleteAbort after a fence at the maximum epoch rotates",
			cur: rec(CompleteAbort, epochAt(max), lastEpoch(-1)), id: txnID,
			want:      stored(rec(Empty, producer(newPID), epochAt(0), lastPID(pid), lastEpoch(-1), updated(now))),
			allocated: 1},
		{name: "exhausted epoch, last epoch expected: a retry (Kafka throws here)",
			cur: rec(Empty, epochAt(max-1), lastEpoch(max-2)), id: txnID, expPID: pid, expEpoch: max - 2,
			want: stored(rec(Empty, epochAt(max-1), lastEpoch(max-2), updated(now)))},
		{name: "exhausted epoch, older epoch expected", cur: rec(Empty, epochAt(max-1), lastEpoch(max-2)), id: txnID,
			expPID: pid, expEpoch: max - 3, want: fail(ErrProducerFenced)},
		{name: "no last producer recorded (TCT testInitProducerIdWithNoLastProducerData)",
			cur: rec(Empty, lastPID(-1), epochAt(epoch+1), lastEpoch(-1)), id: txnID, expPID: pid, expEpoch: epoch,
			want: fail(ErrProducerFenced)},
		{name: "id moved to another producer id (TCT testFenceProducerWhenMappingExistsWithDifferentProducerId)",
			cur: rec(Empty, producer(pid+1), lastPID(pid)), id: txnID, expPID: pid, expEpoch: epoch,
			want: fail(ErrProducerFenced)},
		{name: "current epoch expected (TCT testInitProducerIdWithCurrentEpochProvided, TMT testEpochBumpWithCurrentEpochProvided)",
			cur: rec(Empty, epochAt(10), lastEpoch(9)), id: txnID, expPID: pid, expEpoch: 10,
			want: stored(rec(Empty, epochAt(11), lastEpoch(10), updated(now)))},
		{name: "retry with the last epoch (TCT testInitProducerIdWithCurrentEpochProvided, TMT testAttemptedEpochBumpWithLastEpoch)",
			cur: rec(Empty, epochAt(11), lastEpoch(10)), id: txnID, expPID: pid, expEpoch: 10,
			want: stored(rec(Empty, epochAt(11), lastEpoch(10), updated(now)))},
		{name: "old producer after a new one initialised (TCT testInitProducerIdStaleCurrentEpochProvided)",
			cur: rec(Empty, epochAt(11), lastEpoch(-1)), id: txnID, expPID: pid, expEpoch: 10,
			want: fail(ErrProducerFenced)},
		{name: "fenced epoch (TMT testAttemptedEpochBumpWithFencedEpoch)",
			cur: rec(Empty, epochAt(735), lastEpoch(734)), id: txnID, expPID: pid, expEpoch: 733,
			want: fail(ErrProducerFenced)},
		{name: "no expected epoch forgets the last one (TMT testNormalEpochBump)",
			cur: rec(CompleteCommit, epochAt(735), lastEpoch(734)), id: txnID,
			want: stored(rec(Empty, epochAt(736), lastEpoch(-1), updated(now)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			to := tc.timeout
			if to == 0 {
				to = timeoutMs
			}
			expPID, expEpoch := tc.expPID, tc.expEpoch
			if expPID == 0 && expEpoch == 0 {
				expPID, expEpoch = NoProducerID, NoProducerEpoch
			}
			a := &allocator{fail: tc.fail}
			before := tc.cur.Clone()
			res, err := InitProducerID(tc.cur, tc.id, to, tc.maxMs, expPID, expEpoch, now, a.next)
			if tc.fail {
				if !errors.Is(err, errAllocate) {
					t.Fatalf("err = %v, want the allocator's", err)
				}
			} else {
				checkResult(t, res, err, tc.want)
			}
			if a.calls != tc.allocated {
				t.Errorf("allocator called %d times, want %d", a.calls, tc.allocated)
			}
			if !reflect.DeepEqual(before, tc.cur) {
				t.Errorf("the current record changed: %+v", tc.cur)
			}
		})
	}
}

// fenced is InitProducerId's answer to an Ongoing transaction: store the
// abort, answer CONCURRENT_TRANSACTIONS, write the abort markers.
func fenced(next *Transaction) want {
	w := marked(next, NoProducerID, NoProducerEpoch)
	w.err = ErrConcurrentTransactions
	return w
}

func TestInitProducerIDOtherIDsRecord(t *testing.T) {
	_, err := InitProducerID(rec(Empty), "other", timeoutMs, 0, -1, -1, now, (&allocator{}).next)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
}

func TestAddPartitions(t *testing.T) {
	topic2 := map[string][]int32{"topic2": {3, 1, 3}}
	for _, tc := range []struct {
		name  string
		cur   *Transaction
		pid   int64
		epoch int16
		parts map[string][]int32
		tv2   bool
		want  want
	}{
		{name: "negative partition", cur: rec(Ongoing), parts: map[string][]int32{"t": {-1}}, want: fail(ErrInvalidRequest)},
		{name: "empty topic name", cur: rec(Ongoing), parts: map[string][]int32{"": {0}}, want: fail(ErrInvalidRequest)},
		{name: "topic name not UTF-8", cur: rec(Ongoing), parts: map[string][]int32{"\xc3": {0}}, want: fail(ErrInvalidRequest)},
		{name: "no record (TCT shouldRespondWithInvalidPidMappingOnAddPartitionsToTransactionWhenTransactionalIdNotPresent)",
			want: fail(ErrInvalidProducerIDMapping)},
		{name: "another producer id", cur: rec(Ongoing), pid: pid + 1, want: fail(ErrInvalidProducerIDMapping)},
		{name: "another epoch before the state (TCT shouldRespondWithProducerFencedOnAddPartitionsWhenEpochsAreDifferent)",
			cur: rec(PrepareCommit, epochAt(10)), epoch: 0, want: fail(ErrProducerFenced)},
		{name: "PrepareCommit (TCT shouldRespondWithConcurrentTransactionsOnAddPartitionsWhenStateIsPrepareCommit)",
			cur: rec(PrepareCommit), want: fail(ErrConcurrentTransactions)},
		{name: "PrepareAbort (TCT shouldRespondWithConcurrentTransactionOnAddPartitionsWhenStateIsPrepareAbort)",
			cur: rec(PrepareAbort), want: fail(ErrConcurrentTransactions)},
		{name: "Empty starts a transaction (TCT shouldAppendNewMetadataToLogOnAddPartitionsWhenPartitionsAdded)",
			cur: rec(Empty), parts: topic2,
			want: stored(rec(Ongoing, started(now), updated(now), parts(map[string][]int32{"topic2": {1, 3}})))},
		{name: "Ongoing adds partitions (TCT shouldRespondWithSuccessOnAddPartitionsWhenStateIsOngoing)",
			cur: rec(Ongoing), parts: topic2,
			want: stored(rec(Ongoing, updated(now), parts(map[string][]int32{"topic1": {0}, "topic2": {1, 3}})))},
		{name: "Ongoing adds to a topic it has", cur: rec(Ongoing), parts: map[string][]int32{"topic1": {2, 0}},
			want: stored(rec(Ongoing, updated(now), parts(map[string][]int32{"topic1": {0, 2}})))},
		{name: "CompleteCommit starts a new transaction (TCT shouldRespondWithSuccessOnAddPartitionsWhenStateIsCompleteCommit)",
			cur: rec(CompleteCommit, tv2), parts: topic2, tv2: true,
			want: stored(rec(Ongoing, started(now), updated(now), parts(map[string][]int32{"topic2": {1, 3}}), tv2))},
		{name: "CompleteAbort starts a new transaction (TCT ...WhenStateIsCompleteAbort)",
			cur: rec(CompleteAbort), parts: topic2,
			want: stored(rec(Ongoing, started(now), updated(now), parts(map[string][]int32{"topic2": {1, 3}})))},
		{name: "Ongoing with every partition: no write (TCT shouldRespondWithErrorsNoneOnAddPartitionWhenNoErrorsAndPartitionsTheSame)",
			cur: rec(Ongoing), parts: map[string][]int32{"topic1": {0}}, want: ok(pid, epoch)},
		{name: "Ongoing, nothing asked", cur: rec(Ongoing), parts: nil, want: ok(pid, epoch)},
		{name: "version 2 add marks the transaction", cur: rec(Ongoing), parts: topic2, tv2: true,
			want: stored(rec(Ongoing, updated(now), parts(map[string][]int32{"topic1": {0}, "topic2": {1, 3}}), tv2))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, e := tc.pid, tc.epoch
			if p == 0 {
				p = pid
			}
			if e == 0 && tc.cur != nil && tc.cur.ProducerEpoch != 10 {
				e = epoch
			}
			before := tc.cur.Clone()
			res, err := AddPartitions(tc.cur, p, e, tc.parts, tc.tv2, now)
			checkResult(t, res, err, tc.want)
			if !reflect.DeepEqual(before, tc.cur) {
				t.Errorf("the current record changed: %+v", tc.cur)
			}
		})
	}
}

func TestAddGroup(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cur   *Transaction
		pid   int64
		epoch int16
		group string
		want  want
	}{
		{name: "empty group id", cur: rec(Ongoing), group: "", want: fail(ErrInvalidGroupID)},
		{name: "group id not UTF-8", cur: rec(Ongoing), group: "\xff", want: fail(ErrInvalidGroupID)},
		{name: "no record", group: "g", want: fail(ErrInvalidProducerIDMapping)},
		{name: "another producer id", cur: rec(Ongoing), pid: pid + 1, group: "g", want: fail(ErrInvalidProducerIDMapping)},
		{name: "another epoch", cur: rec(Ongoing), epoch: epoch + 1, group: "g", want: fail(ErrProducerFenced)},
		{name: "PrepareCommit", cur: rec(PrepareCommit), group: "g", want: fail(ErrConcurrentTransactions)},
		{name: "PrepareAbort", cur: rec(PrepareAbort), group: "g", want: fail(ErrConcurrentTransactions)},
		{name: "Empty starts a transaction with the group", cur: rec(Empty), group: "g",
			want: stored(rec(Ongoing, noParts, groups("g"), started(now), updated(now)))},
		{name: "CompleteCommit starts a new transaction", cur: rec(CompleteCommit), group: "g",
			want: stored(rec(Ongoing, noParts, groups("g"), started(now), updated(now)))},
		{name: "CompleteAbort starts a new transaction", cur: rec(CompleteAbort), group: "g",
			want: stored(rec(Ongoing, noParts, groups("g"), started(now), updated(now)))},
		{name: "Ongoing adds the group in order", cur: rec(Ongoing, groups("a", "c")), group: "b",
			want: stored(rec(Ongoing, groups("a", "b", "c"), updated(now)))},
		{name: "Ongoing with the group: no write", cur: rec(Ongoing, groups("a", "c")), group: "c", want: ok(pid, epoch)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, e := tc.pid, tc.epoch
			if p == 0 {
				p = pid
			}
			if e == 0 {
				e = epoch
			}
			res, err := AddGroup(tc.cur, p, e, tc.group, false, now)
			checkResult(t, res, err, tc.want)
		})
	}
}

// TestVerifyPartitions mirrors TCT testVerifyPartitionHandling,
// shouldRespondWithErrorsNoneOnAddPartitionWhenOngoingVerifyOnlyAndPartitionsTheSame
// and shouldRespondWithInvalidTxnStateWhenVerifyOnlyAndPartitionNotPresent.
func TestVerifyPartitions(t *testing.T) {
	asked := map[string][]int32{"topic1": {0}, "topic2": {0}}
	all := func(err error) map[string]map[int32]error {
		return map[string]map[int32]error{"topic1": {0: err}, "topic2": {0: err}}
	}
	for _, tc := range []struct {
		name  string
		cur   *Transaction
		pid   int64
		epoch int16
		want  map[string]map[int32]error
	}{
		{name: "no record", pid: pid, epoch: epoch, want: all(ErrInvalidProducerIDMapping)},
		{name: "another producer id", cur: rec(PrepareCommit, producer(1)), pid: 0, epoch: epoch,
			want: all(ErrInvalidProducerIDMapping)},
		{name: "another epoch", cur: rec(PrepareCommit), pid: pid, epoch: epoch + 1, want: all(ErrProducerFenced)},
		{name: "PrepareCommit", cur: rec(PrepareCommit), pid: pid, epoch: epoch, want: all(ErrConcurrentTransactions)},
		{name: "PrepareAbort", cur: rec(PrepareAbort), pid: pid, epoch: epoch, want: all(ErrConcurrentTransactions)},
		{name: "Ongoing with topic1-0 only", cur: rec(Ongoing), pid: pid, epoch: epoch,
			want: map[string]map[int32]error{"topic1": {0: nil}, "topic2": {0: ErrTransactionAbortable}}},
		{name: "Ongoing with neither", cur: rec(Ongoing, noParts, groups("g")), pid: pid, epoch: epoch,
			want: all(ErrTransactionAbortable)},
		{name: "Empty", cur: rec(Empty), pid: pid, epoch: epoch, want: all(ErrTransactionAbortable)},
		{name: "CompleteCommit", cur: rec(CompleteCommit), pid: pid, epoch: epoch, want: all(ErrTransactionAbortable)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := VerifyPartitions(tc.cur, tc.pid, tc.epoch, asked)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestEndTxnV1 covers transaction version 1 clients (EndTxn v0-4): the
// epoch never moves at an end.
func TestEndTxnV1(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cur    *Transaction
		pid    int64
		epoch  int16
		commit bool
		want   want
	}{
		{name: "no record (TCT shouldReplyWithInvalidPidMappingOnEndTxnWhenTxnIdDoesntExist)",
			pid: pid, epoch: epoch, commit: true, want: fail(ErrInvalidProducerIDMapping)},
		{name: "another producer id (TCT shouldReplyWithInvalidPidMappingOnEndTxnWhenPidDosentMatchMapped)",
			cur: rec(Ongoing), pid: 0, epoch: epoch, commit: true, want: fail(ErrInvalidProducerIDMapping)},
		{name: "older epoch (TCT shouldReplyWithProducerFencedOnEndTxnWhenEpochIsNotSameAsTransaction)",
			cur: rec(Ongoing), pid: pid, epoch: 0, commit: true, want: fail(ErrProducerFenced)},
		{name: "newer epoch (TCT shouldReturnInvalidEpochOnEndTxnWhenEpochIsLarger)",
			cur: rec(CompleteCommit), pid: pid, epoch: 2, commit: true, want: fail(ErrProducerFenced)},
		{name: "Ongoing commit (TCT shouldAppendPrepareCommitToLogOnEndTxnWhenStatusIsOngoingAndResultIsCommit)",
			cur: rec(Ongoing, groups("g")), pid: pid, epoch: epoch, commit: true,
			want: marked(rec(PrepareCommit, groups("g"), updated(now)), pid, epoch)},
		{name: "Ongoing abort (TCT shouldAppendPrepareAbortToLogOnEndTxnWhenStatusIsOngoingAndResultIsAbort)",
			cur: rec(Ongoing), pid: pid, epoch: epoch,
			want: marked(rec(PrepareAbort, updated(now)), pid, epoch)},
		{name: "Ongoing with nothing to mark completes at once", cur: rec(Ongoing, noParts), pid: pid, epoch: epoch, commit: true,
			want: stored(rec(CompleteCommit, updated(now)))},
		{name: "PrepareCommit commit (TCT shouldReturnConcurrentTransactionsOnEndTxnRequestWhenStatusIsPrepareCommit)",
			cur: rec(PrepareCommit), pid: pid, epoch: epoch, commit: true, want: fail(ErrConcurrentTransactions)},
		{name: "PrepareAbort commit: Complete* is pending (TCT shouldReturnInvalidTxnRequestOnEndTxnRequestWhenStatusIsPrepareAbort has none)",
			cur: rec(PrepareAbort), pid: pid, epoch: epoch, commit: true, want: fail(ErrConcurrentTransactions)},
		{name: "PrepareAbort abort", cur: rec(PrepareAbort), pid: pid, epoch: epoch, want: fail(ErrConcurrentTransactions)},
		{name: "PrepareCommit, older epoch", cur: rec(PrepareCommit), pid: pid, epoch: 0, want: fail(ErrProducerFenced)},
		{name: "CompleteCommit commit again (TCT shouldReturnOkOnEndTxnWhenStatusIsCompleteCommitAndResultIsCommit)",
			cur: rec(CompleteCommit), pid: pid, epoch: epoch, commit: true, want: ok(pid, epoch)},
		{name: "CompleteAbort abort again (TCT shouldReturnOkOnEndTxnWhenStatusIsCompleteAbortAndResultIsAbort)",
			cur: rec(CompleteAbort), pid: pid, epoch: epoch, want: ok(pid, epoch)},
		{name: "CompleteAbort commit (TCT shouldReturnInvalidTxnRequestOnEndTxnRequestWhenStatusIsCompleteAbortAndResultIsNotAbort)",
			cur: rec(CompleteAbort), pid: pid, epoch: epoch, commit: true, want: fail(ErrInvalidTxnState)},
		{name: "CompleteCommit abort (TCT ...WhenStatusIsCompleteCommitAndResultIsNotCommit)",
			cur: rec(CompleteCommit), pid: pid, epoch: epoch, want: fail(ErrInvalidTxnState)},
		{name: "Empty commit", cur: rec(Empty), pid: pid, epoch: epoch, commit: true, want: fail(ErrInvalidTxnState)},
		{name: "Empty abort", cur: rec(Empty), pid: pid, epoch: epoch, want: fail(ErrInvalidTxnState)},
		{name: "after a version 2 end, the pre-bump epoch is fenced (new Kafka dispatches on the request's version)",
			cur: rec(CompleteCommit, epochAt(2), tv2), pid: pid, epoch: 1, commit: true, want: fail(ErrProducerFenced)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &allocator{}
			res, err := EndTxn(tc.cur, tc.pid, tc.epoch, tc.commit, false, now, a.next)
			checkResult(t, res, err, tc.want)
			if a.calls != 0 {
				t.Errorf("allocator called %d times", a.calls)
			}
		})
	}
}

// TestEndTxnV2 covers transaction version 2 clients (EndTxn v5+, KIP-890
// part 2): every end bumps the epoch, and a retry carries the epoch before
// the bump. The table in endV2's comment, row by row.
func TestEndTxnV2(t *testing.T) {
	const max = MaxEpoch
	// After a version 2 end the record is at epoch 2 (last 1); the client
	// retrying holds 1, the next transaction 2.
	const retry, current = int16(1), int16(2)
	done := func(s State, mods ...func(*Transaction)) *Transaction {
		return rec(s, append([]func(*Transaction){epochAt(2), lastEpoch(1), tv2}, mods...)...)
	}
	for _, tc := range []struct {
		name      string
		cur       *Transaction
		pid       int64
		epoch     int16
		commit    bool
		want      want
		allocated int
	}{
		{name: "no record", pid: pid, epoch: epoch, commit: true, want: fail(ErrInvalidProducerIDMapping)},
		{name: "another producer id", cur: rec(Ongoing), pid: pid + 1, epoch: epoch, want: fail(ErrInvalidProducerIDMapping)},
		{name: "Ongoing commit bumps the epoch (TCT shouldAppendPrepareCommitToLogOnEndTxnWhenStatusIsOngoingAndResultIsCommit, TMT testEpochBumpOnEndTxn)",
			cur: rec(Ongoing), pid: pid, epoch: epoch, commit: true,
			want: marked(done(PrepareCommit, updated(now)), pid, 2)},
		{name: "Ongoing abort bumps the epoch", cur: rec(Ongoing, groups("g")), pid: pid, epoch: epoch,
			want: marked(done(PrepareAbort, groups("g"), updated(now)), pid, 2)},
		{name: "Ongoing, older epoch", cur: rec(Ongoing), pid: pid, epoch: 0, commit: true, want: fail(ErrProducerFenced)},
		{name: "Ongoing, newer epoch", cur: rec(Ongoing), pid: pid, epoch: 2, commit: true, want: fail(ErrProducerFenced)},
		{name: "Ongoing at an exhausted epoch moves to a new producer id (TMT testEpochBumpOnEndTxnOverflow)",
			cur: rec(Ongoing, epochAt(max-1)), pid: pid, epoch: max - 1, commit: true,
			want:      marked(rec(PrepareCommit, epochAt(max), lastEpoch(max-1), nextPID(newPID), updated(now), tv2), newPID, 0),
			allocated: 1},
		{name: "PrepareCommit, retry (TCT shouldReturnConcurrentTransactionsOnEndTxnRequestWhenStatusIsPrepareCommit)",
			cur: done(PrepareCommit), pid: pid, epoch: retry, commit: true, want: fail(ErrConcurrentTransactions)},
		{name: "PrepareCommit, abort of the next transaction waits (KAFKA-18464)",
			cur: done(PrepareCommit), pid: pid, epoch: current, want: fail(ErrConcurrentTransactions)},
		{name: "PrepareAbort, stale epoch: pending before the epoch check", cur: done(PrepareAbort), pid: pid, epoch: 0,
			want: fail(ErrConcurrentTransactions)},
		{name: "PrepareAbort, another producer id", cur: done(PrepareAbort), pid: pid + 1, epoch: retry,
			want: fail(ErrInvalidProducerIDMapping)},
		{name: "Empty abort retry: PF", cur: done(Empty), pid: pid, epoch: retry, want: fail(ErrProducerFenced)},
		{name: "Empty abort current: empty abort, epoch bumped", cur: done(Empty), pid: pid, epoch: current,
			want: stored(rec(CompleteAbort, epochAt(3), lastEpoch(2), started(now), updated(now), tv2))},
		{name: "Empty commit retry: PF", cur: done(Empty), pid: pid, epoch: retry, commit: true, want: fail(ErrProducerFenced)},
		{name: "Empty commit current: ITS", cur: done(Empty), pid: pid, epoch: current, commit: true, want: fail(ErrInvalidTxnState)},
		{name: "CompleteAbort abort retry: NONE (TCT shouldReturnOkOnEndTxnWhenStatusIsCompleteAbortAndResultIsAbort)",
			cur: done(CompleteAbort), pid: pid, epoch: retry, want: ok(pid, 2)},
		{name: "CompleteAbort abort current: empty abort", cur: done(CompleteAbort), pid: pid, epoch: current,
			want: stored(rec(CompleteAbort, epochAt(3), lastEpoch(2), started(now), updated(now), tv2))},
		{name: "CompleteAbort commit retry: ITS (TCT shouldReturnInvalidTxnRequestOnEndTxnRequestWhenStatusIsCompleteAbortAndResultIsNotAbort)",
			cur: done(CompleteAbort), pid: pid, epoch: retry, commit: true, want: fail(ErrInvalidTxnState)},
		{name: "CompleteAbort commit current: ITS", cur: done(CompleteAbort), pid: pid, epoch: current, commit: true,
			want: fail(ErrInvalidTxnState)},
		{name: "CompleteCommit abort retry: ITS (TCT ...WhenStatusIsCompleteCommitAndResultIsNotCommit)",
			cur: done(CompleteCommit), pid: pid, epoch: retry, want: fail(ErrInvalidTxnState)},
		{name: "CompleteCommit abort current: empty abort", cur: done(CompleteCommit), pid: pid, epoch: current,
			want: stored(rec(CompleteAbort, epochAt(3), lastEpoch(2), started(now), updated(now), tv2))},
		{name: "CompleteCommit commit retry: NONE (TCT shouldReturnOkOnEndTxnWhenStatusIsCompleteCommitAndResultIsCommit)",
			cur: done(CompleteCommit), pid: pid, epoch: retry, commit: true, want: ok(pid, 2)},
		{name: "CompleteCommit commit current: ITS (TCT shouldReturnInvalidTxnRequestOnEndTxnV2IfNotEndTxnV2Retry, now ITS)",
			cur: done(CompleteCommit), pid: pid, epoch: current, commit: true, want: fail(ErrInvalidTxnState)},
		{name: "CompleteCommit, newer epoch (TCT shouldReturnInvalidEpochOnEndTxnWhenEpochIsLarger)",
			cur: done(CompleteCommit), pid: pid, epoch: 3, commit: true, want: fail(ErrProducerFenced)},
		{name: "CompleteCommit, older epoch (TCT shouldReturnInvalidEpochOnEndTxnWhenEpochIsSmaller)",
			cur: done(CompleteCommit), pid: pid, epoch: 0, commit: true, want: fail(ErrProducerFenced)},
		{name: "CompleteCommit retry after the producer id moved (TCT shouldReturnOkOnEndTxnV2IfEndTxnV2RetryEpochOverflow)",
			cur: rec(CompleteCommit, producer(newPID), epochAt(0), lastPID(pid), lastEpoch(max-1), tv2),
			pid: pid, epoch: max - 1, commit: true, want: ok(newPID, 0)},
		{name: "empty abort at an exhausted epoch moves to a new producer id",
			cur: rec(CompleteCommit, epochAt(max-1), tv2), pid: pid, epoch: max - 1,
			want:      stored(rec(CompleteAbort, producer(newPID), epochAt(0), lastEpoch(max-1), started(now), updated(now), tv2)),
			allocated: 1},
		{name: "a version 1 transaction's commit, retried by a version 2 request, is not a retry",
			cur: rec(CompleteCommit), pid: pid, epoch: epoch, commit: true, want: fail(ErrInvalidTxnState)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &allocator{}
			res, err := EndTxn(tc.cur, tc.pid, tc.epoch, tc.commit, true, now, a.next)
			checkResult(t, res, err, tc.want)
			if a.calls != tc.allocated {
				t.Errorf("allocator called %d times, want %d", a.calls, tc.allocated)
			}
		})
	}
}

func TestEndTxnAllocationFails(t *testing.T) {
	cur := rec(Ongoing, epochAt(MaxEpoch-1))
	_, err := EndTxn(cur, pid, MaxEpoch-1, true, true, now, (&allocator{fail: true}).next)
	if !errors.Is(err, errAllocate) {
		t.Fatalf("err = %v, want the allocator's", err)
	}
}

func TestComplete(t *testing.T) {
	for _, tc := range []struct {
		name string
		cur  *Transaction
		want *Transaction // nil: ErrNotPrepared
	}{
		{name: "PrepareCommit", cur: rec(PrepareCommit, groups("g")), want: rec(CompleteCommit, updated(now))},
		{name: "PrepareAbort", cur: rec(PrepareAbort), want: rec(CompleteAbort, updated(now))},
		{name: "version 2 PrepareCommit keeps the bumped epoch (TMT testEpochBumpOnEndTxn)",
			cur: rec(PrepareCommit, epochAt(2), lastEpoch(1), tv2), want: rec(CompleteCommit, epochAt(2), lastEpoch(1), updated(now), tv2)},
		{name: "version 2 PrepareCommit moves to the next producer id (TMT testEpochBumpOnEndTxnOverflow)",
			cur:  rec(PrepareCommit, epochAt(MaxEpoch), lastEpoch(MaxEpoch-1), nextPID(newPID), tv2),
			want: rec(CompleteCommit, producer(newPID), epochAt(0), lastPID(pid), lastEpoch(MaxEpoch-1), updated(now), tv2)},
		{name: "nil"},
		{name: "Empty", cur: rec(Empty)},
		{name: "Ongoing", cur: rec(Ongoing)},
		{name: "CompleteCommit", cur: rec(CompleteCommit)},
		{name: "CompleteAbort", cur: rec(CompleteAbort)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Complete(tc.cur, now)
			if tc.want == nil {
				if !errors.Is(err, ErrNotPrepared) {
					t.Fatalf("err = %v, want ErrNotPrepared", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			checkStorable(t, got)
		})
	}
}

func TestExpired(t *testing.T) {
	deadline := t0 + int64(timeoutMs)
	nothing := want{action: Reply, pid: NoProducerID, epoch: NoProducerEpoch}
	for _, tc := range []struct {
		name      string
		cur       *Transaction
		at        int64
		want      want
		allocated int
	}{
		{name: "no record", at: deadline + 1, want: nothing},
		{name: "Ongoing at its deadline", cur: rec(Ongoing), at: deadline, want: nothing},
		{name: "Ongoing past its deadline (TCT shouldAbortExpiredTransactionsInOngoingStateAndBumpEpoch)",
			cur: rec(Ongoing, lastEpoch(-1)), at: deadline + 1,
			want: marked(rec(PrepareAbort, epochAt(2), lastEpoch(-1), updated(deadline+1)), pid, 2)},
		{name: "version 2 at an exhausted epoch (KAFKA-20090)", cur: rec(Ongoing, epochAt(MaxEpoch-1), tv2), at: deadline + 1,
			want:      marked(rec(PrepareAbort, epochAt(MaxEpoch), lastEpoch(-1), nextPID(newPID), updated(deadline+1), tv2), newPID, 0),
			allocated: 1},
		{name: "PrepareCommit (TCT shouldNotAbortExpiredTransactionsThatHaveAPendingStateTransition)",
			cur: rec(PrepareCommit), at: deadline + 1, want: nothing},
		{name: "PrepareAbort", cur: rec(PrepareAbort), at: deadline + 1, want: nothing},
		{name: "Empty", cur: rec(Empty), at: deadline + 1, want: nothing},
		{name: "CompleteCommit", cur: rec(CompleteCommit), at: deadline + 1, want: nothing},
		{name: "CompleteAbort", cur: rec(CompleteAbort), at: deadline + 1, want: nothing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &allocator{}
			res, err := Expired(tc.cur, tc.at, a.next)
			checkResult(t, res, err, tc.want)
			if a.calls != tc.allocated {
				t.Errorf("allocator called %d times, want %d", a.calls, tc.allocated)
			}
		})
	}
}

func TestIDExpired(t *testing.T) {
	const exp = int64(1000)
	for _, tc := range []struct {
		cur  *Transaction
		at   int64
		want bool
	}{
		{cur: nil, at: t0 + exp, want: false},
		{cur: rec(Empty), at: t0 + exp - 1, want: false},
		{cur: rec(Empty), at: t0 + exp, want: true},
		{cur: rec(CompleteCommit), at: t0 + exp, want: true},
		{cur: rec(CompleteAbort), at: t0 + exp, want: true},
		{cur: rec(Ongoing), at: t0 + 10*exp, want: false},
		{cur: rec(PrepareCommit), at: t0 + 10*exp, want: false},
		{cur: rec(PrepareAbort), at: t0 + 10*exp, want: false},
	} {
		if got := IDExpired(tc.cur, tc.at, exp); got != tc.want {
			t.Errorf("IDExpired(%v at %d) = %v, want %v", tc.cur, tc.at, got, tc.want)
		}
	}
	// The default is transactional.id.expiration.ms, 7 days.
	if IDExpired(rec(Empty), t0+DefaultIDExpirationMs-1, 0) || !IDExpired(rec(Empty), t0+DefaultIDExpirationMs, 0) {
		t.Error("default expiration is not 7 days")
	}
}

// TestStateNames mirrors TMT testTransactionStateIdAndNameMapping and
// testAllTransactionStatesAreMapped: Kafka's ids and names, both ways.
func TestStateNames(t *testing.T) {
	for s, name := range map[State]string{
		0: "Empty", 1: "Ongoing", 2: "PrepareCommit", 3: "PrepareAbort",
		4: "CompleteCommit", 5: "CompleteAbort", 6: "Dead", 7: "PrepareEpochFence",
	} {
		if s.String() != name {
			t.Errorf("State(%d) = %q, want %q", int8(s), s.String(), name)
		}
		if got, ok := ParseState(name); !ok || got != s {
			t.Errorf("ParseState(%q) = %v, %v", name, got, ok)
		}
	}
	if _, ok := ParseState("ongoing"); ok {
		t.Error("state names are case-sensitive in Kafka")
	}
	if got := State(8).String(); got != "State(8)" {
		t.Errorf("State(8) = %q", got)
	}
}

func TestDescribe(t *testing.T) {
	if _, err := Describe(nil); !errors.Is(err, ErrTransactionalIDNotFound) {
		t.Fatalf("Describe(nil) = %v", err)
	}
	d, err := Describe(rec(Ongoing, parts(map[string][]int32{"a": {1, 2}})))
	if err != nil {
		t.Fatal(err)
	}
	want := Description{ID: txnID, State: "Ongoing", ProducerID: pid, ProducerEpoch: epoch, TimeoutMs: timeoutMs,
		StartMs: t0, Partitions: map[string][]int32{"a": {1, 2}}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("got %+v, want %+v", d, want)
	}
}

// TestMatches follows TransactionStateManager.listTransactionStates,
// including KIP-994's duration filter.
func TestMatches(t *testing.T) {
	ongoing := rec(Ongoing) // started at t0
	empty := rec(Empty)     // StartMs -1
	for _, tc := range []struct {
		name string
		t    *Transaction
		f    ListFilter
		want bool
	}{
		{"no filter", ongoing, ListFilter{DurationMs: -1}, true},
		{"state listed", ongoing, ListFilter{States: []State{Empty, Ongoing}, DurationMs: -1}, true},
		{"state not listed", ongoing, ListFilter{States: []State{PrepareCommit}, DurationMs: -1}, false},
		{"producer listed", ongoing, ListFilter{ProducerIDs: []int64{3, pid}, DurationMs: -1}, true},
		{"producer not listed", ongoing, ListFilter{ProducerIDs: []int64{3}, DurationMs: -1}, false},
		{"running longer than the duration", ongoing, ListFilter{DurationMs: now - t0 - 1}, true},
		{"running exactly the duration", ongoing, ListFilter{DurationMs: now - t0}, false},
		{"duration zero lists what started before now", ongoing, ListFilter{DurationMs: 0}, true},
		{"Empty passes a duration filter, as in Kafka", empty, ListFilter{DurationMs: now}, true},
	} {
		if got := tc.t.Matches(tc.f, now); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestTransitionsDoNotShare checks that a stored Next shares no slice or
// map with the record it came from.
func TestTransitionsDoNotShare(t *testing.T) {
	cur := rec(Ongoing, groups("a"))
	res, err := AddPartitions(cur, pid, epoch, map[string][]int32{"topic1": {5}}, false, now)
	if err != nil || res.Next == nil {
		t.Fatal(res, err)
	}
	res.Next.Partitions["topic1"][0] = 99
	res.Next.Groups[0] = "z"
	if cur.Partitions["topic1"][0] != 0 || cur.Groups[0] != "a" {
		t.Errorf("the current record changed with Next: %+v", cur)
	}
}

func TestCorruptRecordRefused(t *testing.T) {
	bad := rec(Ongoing, parts(map[string][]int32{"t": {2, 1}}))
	if _, err := EndTxn(bad, pid, epoch, true, false, now, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("EndTxn: %v", err)
	}
	if _, err := AddPartitions(bad, pid, epoch, nil, false, now); !errors.Is(err, ErrCorrupt) {
		t.Errorf("AddPartitions: %v", err)
	}
	if _, err := InitProducerID(bad, txnID, timeoutMs, 0, -1, -1, now, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("InitProducerID: %v", err)
	}
	bad.State = Dead
	if _, err := Complete(bad, now); !errors.Is(err, ErrNotPrepared) {
		t.Errorf("Complete: %v", err)
	}
}
