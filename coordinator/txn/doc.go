// Package txn is the transaction coordinator's state machine (KIP-98
// transactions, KIP-360 producer recovery, KIP-447 offsets, KIP-890
// verification and epoch bumps), as pure functions over one record per
// transactional id. It follows Kafka's TransactionCoordinator and
// TransactionMetadata: same states, same transitions, same error codes, in
// the same order; comments name the Kafka rule (or fix, KAFKA-nnnnn) where a
// branch is not obvious.
//
// The two things to learn first are Transaction, the record, and Result,
// what every transition returns: the record to store next, the markers to
// write, and the answer for the client.
//
// It leaves to others: storing records (coordinator: LoadTxn, SaveTxn by
// compare-and-swap, DeleteTxn, Txns), speaking the protocol and turning this
// package's errors into Kafka codes (gateway), allocating producer ids
// (coordinator.AllocateProducerIDs, through the allocate functions), writing
// markers into partitions and making transactional offsets visible
// (gateway and tiered), and choosing which gateway coordinates which id
// (coordinator/placement).
//
// # Invariants
//
//   - Transitions do no I/O and keep no state: each takes the current record
//     (nil: none) and a request, and returns a new record that shares
//     nothing with the one it was given. Time comes in as nowMs.
//   - A record is written only by compare-and-swap on the revision it was
//     read at. Kafka serialises transitions with a lock and a pending state;
//     here the store does: a writer that loses reloads and decides again.
//     So Kafka's pending states have no equivalent, except that Prepare*
//     stands for Kafka's Prepare* with its Complete* pending, which is what
//     Kafka has from the moment the outcome is written until the last marker
//     is; and Kafka's hasFailedEpochFence is not needed (a fence that was not
//     stored did not happen; one that was is read back).
//   - The outcome is stored (PrepareCommit, PrepareAbort) before the client
//     is answered and before any marker is written; Complete* is stored only
//     after every marker is. A coordinator that takes an id over finishes a
//     Prepare* record from the record alone (PendingMarkers, Complete).
//   - Every Next a transition returns passes Decode's checks.
//
// # The caller's loop
//
//	if err := txn.CheckID(id); err != nil {
//		return answer(err)
//	}
//	for { // error handling elided
//		data, rev, err := store.LoadTxn(ctx, id) // rev 0: no record, cur stays nil
//		var cur *txn.Transaction
//		if rev != 0 {
//			cur, err = txn.Decode(data)
//		}
//		res, err := txn.EndTxn(cur, pid, epoch, commit, tv2, now, allocate)
//		if res.Action == txn.Reply {
//			return answer(res.Err)
//		}
//		data, err = txn.Encode(res.Next)
//		rev, err = store.SaveTxn(ctx, id, data, rev)
//		if errors.Is(err, coordinator.ErrConflict) {
//			continue // someone else moved the record on: decide again
//		} else if err != nil {
//			return answer(err)
//		}
//		answer(res.Err) // may be set: InitProducerID's fence
//		if res.Action == txn.StoreThenMarkers {
//			writeMarkers(res.Markers)
//			done, err := txn.Complete(res.Next, now)
//			data, err = txn.Encode(done)
//			_, err = store.SaveTxn(ctx, id, data, rev) // on conflict: reload; Complete if still Prepare*
//		}
//		return
//	}
//
// Timers: Expired aborts an Ongoing transaction past StartMs+TimeoutMs, and
// IDExpired says when an idle id may be deleted; a coordinator runs both over
// the records it coordinates (Txns) when it takes them over and
// periodically.
//
// # Record format
//
// One JSON object per transactional id, the value of its key in the
// coordinator's txns bucket:
//
//	{"v":1, "id":"orders-app-1", "producer_id":1042, "producer_epoch":3,
//	 "last_producer_id":1042, "last_producer_epoch":2, "next_producer_id":-1,
//	 "timeout_ms":60000, "state":"Ongoing",
//	 "partitions":{"orders":[0,2]}, "groups":["billing"],
//	 "start_ms":1700000000000, "update_ms":1700000000500, "tv2":true}
//
// State is Kafka's state name. Partitions and groups are sorted and present
// only in Ongoing and Prepare*; start_ms is -1 in Empty; next_producer_id is
// set only in Prepare* of a version 2 transaction whose end exhausted the
// epoch. Versions:
//
//	1  the format above.
//
// A record with a version this code does not know is refused as corrupt, so
// a rolling upgrade that adds a version must read both before writing the
// new one.
//
// # Deviations from Kafka
//
//   - Groups are kept by id rather than as partitions of __consumer_offsets
//     (Strata has no such topic); DescribeTransactions lists topic
//     partitions only.
//   - AddOffsetsToTxn with an empty group id gets INVALID_GROUP_ID at once
//     (Kafka refuses it later, at TxnOffsetCommit).
//   - A transaction with nothing to mark (a version 2 abort with no
//     transaction, or one that added nothing) goes from Ongoing, Empty or
//     Complete* straight to Complete* in one write, where Kafka writes
//     Prepare* and Complete* back to back.
//   - Prepare* answers CONCURRENT_TRANSACTIONS to either EndTxn outcome, as a
//     running Kafka coordinator does (Prepare* with Complete* pending), not
//     INVALID_TXN_STATE for the other outcome as Kafka's unit tests, which
//     set no pending state, show.
//   - InitProducerId with an exhausted epoch and an expected epoch that is
//     the last one is a retry (the current producer again); Kafka throws
//     IllegalStateException there.
//   - A fence keeps the transaction version the client last used; Kafka
//     records the server's finalized transaction.version.
//   - Transactional ids must be UTF-8 and at most MaxIDBytes long (CheckID);
//     Kafka takes any protocol string.
package txn
