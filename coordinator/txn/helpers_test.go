package txn

import (
	"errors"
	"reflect"
	"testing"
)

// The values of Kafka's TransactionCoordinatorTest where they apply.
const (
	txnID     = "known"
	pid       = int64(10)
	newPID    = int64(20) // what the test allocator hands out
	epoch     = int16(1)
	timeoutMs = int32(1000)
	t0        = int64(1_000_000) // when the record was last written
	now       = int64(1_000_500) // when the request comes
)

// rec builds a record of the known id in state, as Kafka's tests build
// TransactionMetadata: producer 10 at epoch 1 (last epoch 0), timeout 1 s,
// last written at t0, its transaction (if any) started at t0 with
// topic1-0 in it. mods adjust it.
func rec(state State, mods ...func(*Transaction)) *Transaction {
	r := &Transaction{
		ID: txnID, ProducerID: pid, ProducerEpoch: epoch,
		LastProducerID: pid, LastProducerEpoch: epoch - 1, NextProducerID: NoProducerID,
		TimeoutMs: timeoutMs, State: state, StartMs: -1, UpdateMs: t0,
	}
	if state != Empty {
		r.StartMs = t0
	}
	if state == Ongoing || state.preparing() {
		r.Partitions = map[string][]int32{"topic1": {0}}
	}
	for _, m := range mods {
		m(r)
	}
	return r
}

func epochAt(e int16) func(*Transaction) { return func(r *Transaction) { r.ProducerEpoch = e } }
func lastEpoch(e int16) func(*Transaction) {
	return func(r *Transaction) { r.LastProducerEpoch = e }
}
func producer(id int64) func(*Transaction)  { return func(r *Transaction) { r.ProducerID = id } }
func lastPID(id int64) func(*Transaction)   { return func(r *Transaction) { r.LastProducerID = id } }
func nextPID(id int64) func(*Transaction)   { return func(r *Transaction) { r.NextProducerID = id } }
func timeout(ms int32) func(*Transaction)   { return func(r *Transaction) { r.TimeoutMs = ms } }
func started(ms int64) func(*Transaction)   { return func(r *Transaction) { r.StartMs = ms } }
func updated(ms int64) func(*Transaction)   { return func(r *Transaction) { r.UpdateMs = ms } }
func tv2(r *Transaction)                    { r.TV2 = true }
func noParts(r *Transaction)                { r.Partitions = nil }
func groups(g ...string) func(*Transaction) { return func(r *Transaction) { r.Groups = g } }
func parts(p map[string][]int32) func(*Transaction) {
	return func(r *Transaction) { r.Partitions = p }
}

// allocator hands out newPID and counts its calls; with fail set it fails.
type allocator struct {
	calls int
	fail  bool
}

var errAllocate = errors.New("no ids today")

func (a *allocator) next() (int64, error) {
	a.calls++
	if a.fail {
		return 0, errAllocate
	}
	return newPID, nil
}

// want is a transition's expected result. A zero pid/epoch means
// NoProducerID/NoProducerEpoch unless set.
type want struct {
	action  Action
	err     error // Result.Err
	next    *Transaction
	markers *Markers
	pid     int64
	epoch   int16
}

// fail answers err with nothing stored.
func fail(err error) want {
	return want{action: Reply, err: err, pid: NoProducerID, epoch: NoProducerEpoch}
}

// ok answers success with the producer (p, e) and nothing stored.
func ok(p int64, e int16) want { return want{action: Reply, pid: p, epoch: e} }

// stored answers success with next's producer after storing next.
func stored(next *Transaction) want {
	return want{action: Store, next: next, pid: next.ProducerID, epoch: next.ProducerEpoch}
}

// marked stores next, answers (p, e), and writes next's markers.
func marked(next *Transaction, p int64, e int16) want {
	return want{action: StoreThenMarkers, next: next, markers: next.PendingMarkers(), pid: p, epoch: e}
}

// checkResult asserts res against w, and that every stored record keeps the
// invariants and survives Encode and Decode unchanged.
func checkResult(t *testing.T, res Result, err error, w want) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if res.Action != w.action {
		t.Errorf("action %v, want %v", res.Action, w.action)
	}
	if !errors.Is(res.Err, w.err) || (res.Err == nil) != (w.err == nil) {
		t.Errorf("answer %v, want %v", res.Err, w.err)
	}
	if res.ProducerID != w.pid || res.ProducerEpoch != w.epoch {
		t.Errorf("producer %d epoch %d, want %d epoch %d", res.ProducerID, res.ProducerEpoch, w.pid, w.epoch)
	}
	if !reflect.DeepEqual(res.Next, w.next) {
		t.Errorf("next record\n got %+v\nwant %+v", res.Next, w.next)
	}
	if !reflect.DeepEqual(res.Markers, w.markers) {
		t.Errorf("markers\n got %+v\nwant %+v", res.Markers, w.markers)
	}
	if res.Next != nil {
		checkStorable(t, res.Next)
	}
}

// checkStorable asserts that r encodes and decodes to itself.
func checkStorable(t *testing.T, r *Transaction) {
	t.Helper()
	data, err := Encode(r)
	if err != nil {
		t.Fatalf("stored record does not encode: %v", err)
	}
	back, err := Decode(data)
	if err != nil {
		t.Fatalf("stored record does not decode: %v\n%s", err, data)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip\n got %+v\nwant %+v", back, r)
	}
}
