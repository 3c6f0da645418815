package txn

import (
	"errors"
	"testing"
)

// coordinatorSim plays the caller: it keeps the stored record, stores every
// Next, and completes a transaction when asked (its markers written).
type coordinatorSim struct {
	t     *testing.T
	cur   *Transaction
	now   int64
	alloc allocator
	// pending holds the last Prepare* record until complete is called.
	pending bool
}

func (c *coordinatorSim) apply(res Result, err error) Result {
	c.t.Helper()
	if err != nil {
		c.t.Fatalf("transition failed: %v", err)
	}
	if res.Next != nil {
		checkStorable(c.t, res.Next)
		c.cur = res.Next
		c.pending = res.Action == StoreThenMarkers
	}
	c.now += 10
	return res
}

func (c *coordinatorSim) init(expPID int64, expEpoch int16) Result {
	return c.apply(InitProducerID(c.cur, txnID, timeoutMs, 0, expPID, expEpoch, c.now, c.alloc.next))
}

func (c *coordinatorSim) add(p int64, e int16, v2 bool) Result {
	return c.apply(AddPartitions(c.cur, p, e, map[string][]int32{"t": {0, 1}}, v2, c.now))
}

func (c *coordinatorSim) end(p int64, e int16, commit, v2 bool) Result {
	return c.apply(EndTxn(c.cur, p, e, commit, v2, c.now, c.alloc.next))
}

// complete stands for the markers being written.
func (c *coordinatorSim) complete() {
	c.t.Helper()
	if !c.pending {
		c.t.Fatalf("nothing to complete in %v", c.cur.State)
	}
	next, err := Complete(c.cur, c.now)
	if err != nil {
		c.t.Fatal(err)
	}
	checkStorable(c.t, next)
	c.cur, c.pending = next, false
}

func expect(t *testing.T, what string, res Result, err error, p int64, e int16) {
	t.Helper()
	if !errors.Is(res.Err, err) || (err == nil) != (res.Err == nil) {
		t.Fatalf("%s: answer %v, want %v", what, res.Err, err)
	}
	if err == nil && (res.ProducerID != p || res.ProducerEpoch != e) {
		t.Fatalf("%s: producer %d/%d, want %d/%d", what, res.ProducerID, res.ProducerEpoch, p, e)
	}
}

// TestLifecycleV1: a version 1 producer commits, retries its commit, and a
// second instance fences it (the epoch never moves at an end).
func TestLifecycleV1(t *testing.T) {
	c := &coordinatorSim{t: t, now: t0}
	expect(t, "init", c.init(-1, -1), nil, newPID, 0)
	expect(t, "add", c.add(newPID, 0, false), nil, newPID, 0)
	expect(t, "add again, no write", c.add(newPID, 0, false), nil, newPID, 0)
	res := c.end(newPID, 0, true, false)
	expect(t, "commit", res, nil, newPID, 0)
	if res.Markers == nil || !res.Markers.Commit || res.Markers.ProducerEpoch != 0 || len(res.Markers.Partitions["t"]) != 2 {
		t.Fatalf("commit markers %+v", res.Markers)
	}
	expect(t, "commit retried while markers are written", c.end(newPID, 0, true, false), ErrConcurrentTransactions, 0, 0)
	c.complete()
	expect(t, "commit retried after", c.end(newPID, 0, true, false), nil, newPID, 0)
	expect(t, "next transaction", c.add(newPID, 0, false), nil, newPID, 0)
	// A second instance initialises: the ongoing transaction is aborted
	// under epoch 1, and the retry gets epoch 2.
	res = c.init(-1, -1)
	expect(t, "second instance", res, ErrConcurrentTransactions, 0, 0)
	if res.Markers == nil || res.Markers.Commit || res.Markers.ProducerEpoch != 1 {
		t.Fatalf("fence markers %+v", res.Markers)
	}
	expect(t, "second instance while aborting", c.init(-1, -1), ErrConcurrentTransactions, 0, 0)
	c.complete()
	expect(t, "second instance retries", c.init(-1, -1), nil, newPID, 2)
	expect(t, "first instance is fenced", c.end(newPID, 0, false, false), ErrProducerFenced, 0, 0)
	expect(t, "first instance's add is fenced", c.add(newPID, 0, false), ErrProducerFenced, 0, 0)
}

// TestLifecycleV2: a version 2 producer's every end bumps the epoch, a
// retried end is recognised by the epoch before the bump, and an abort
// right after a commit waits for the commit's markers (KAFKA-18464).
func TestLifecycleV2(t *testing.T) {
	c := &coordinatorSim{t: t, now: t0}
	expect(t, "init", c.init(-1, -1), nil, newPID, 0)
	expect(t, "add", c.add(newPID, 0, true), nil, newPID, 0)
	res := c.end(newPID, 0, true, true)
	expect(t, "commit", res, nil, newPID, 1)
	if res.Markers.ProducerEpoch != 1 {
		t.Fatalf("markers carry epoch %d, want the bumped 1", res.Markers.ProducerEpoch)
	}
	expect(t, "commit retried", c.end(newPID, 0, true, true), ErrConcurrentTransactions, 0, 0)
	expect(t, "empty abort of the next transaction waits", c.end(newPID, 1, false, true), ErrConcurrentTransactions, 0, 0)
	c.complete()
	expect(t, "commit retried after", c.end(newPID, 0, true, true), nil, newPID, 1)
	expect(t, "empty abort", c.end(newPID, 1, false, true), nil, newPID, 2)
	expect(t, "empty abort retried", c.end(newPID, 1, false, true), nil, newPID, 2)
	expect(t, "add at the new epoch", c.add(newPID, 2, true), nil, newPID, 2)
	expect(t, "add at the old epoch", c.add(newPID, 1, true), ErrProducerFenced, 0, 0)
}

// TestTimeoutV2: a version 2 producer whose transaction timed out aborts and
// carries on with the bumped epoch (KIP-890 part 2); a version 1 producer in
// the same place is fenced for good.
func TestTimeoutV2(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		c := &coordinatorSim{t: t, now: t0}
		c.init(-1, -1)
		c.add(newPID, 0, v2)
		res := c.apply(Expired(c.cur, c.cur.StartMs+int64(timeoutMs)+1, c.alloc.next))
		if res.Action != StoreThenMarkers || c.cur.State != PrepareAbort || c.cur.ProducerEpoch != 1 {
			t.Fatalf("v2=%v: timeout left %+v", v2, c.cur)
		}
		c.complete()
		res = c.end(newPID, 0, false, v2)
		if !v2 {
			expect(t, "version 1 abort after the timeout", res, ErrProducerFenced, 0, 0)
			continue
		}
		expect(t, "version 2 abort after the timeout", res, nil, newPID, 1)
		expect(t, "version 2 carries on", c.add(newPID, 1, true), nil, newPID, 1)
	}
}

// TestEpochExhaustionV2: the end that exhausts the epoch hands the producer
// a new id at epoch 0, and a retry of it is recognised by the old id.
func TestEpochExhaustionV2(t *testing.T) {
	c := &coordinatorSim{t: t, now: t0, cur: rec(Ongoing, epochAt(MaxEpoch-1), tv2)}
	expect(t, "commit", c.end(pid, MaxEpoch-1, true, true), nil, newPID, 0)
	c.complete()
	if c.cur.ProducerID != newPID || c.cur.ProducerEpoch != 0 {
		t.Fatalf("after completion: %+v", c.cur)
	}
	expect(t, "commit retried with the old id", c.end(pid, MaxEpoch-1, true, true), nil, newPID, 0)
	expect(t, "old id otherwise", c.end(pid, 5, true, true), ErrInvalidProducerIDMapping, 0, 0)
	expect(t, "new id carries on", c.add(newPID, 0, true), nil, newPID, 0)
}

// TestRotationRetry mirrors TCT testRetryInitProducerIdAfterProducerIdRotation
// end to end.
func TestRotationRetry(t *testing.T) {
	c := &coordinatorSim{t: t, now: t0, cur: rec(CompleteCommit, epochAt(MaxEpoch-1), lastEpoch(MaxEpoch-2))}
	expect(t, "rotate", c.init(pid, MaxEpoch-1), nil, newPID, 0)
	expect(t, "retry", c.init(pid, MaxEpoch-1), nil, newPID, 0)
	expect(t, "new id recovers", c.init(newPID, 0), nil, newPID, 1)
}
