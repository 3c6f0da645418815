package txn

import "fmt"

// Action is what the caller does with a Result.
type Action uint8

const (
	// Reply: nothing to store; answer the client with Result.Err (nil:
	// success) and Result.ProducerID/ProducerEpoch.
	Reply Action = iota
	// Store: write Result.Next by compare-and-swap on the revision the
	// current record was read at (create it when there was none), then
	// answer as for Reply. If the write fails, answer with the write's
	// error instead; on a conflict, reload and run the transition again.
	Store
	// StoreThenMarkers: as Store; then, the client answered, write
	// Result.Markers to every partition and group it names, then run
	// Complete on Result.Next and store that the same way.
	StoreThenMarkers
)

func (a Action) String() string {
	switch a {
	case Reply:
		return "reply"
	case Store:
		return "store"
	case StoreThenMarkers:
		return "store then write markers"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Result is a transition's decision.
type Result struct {
	Action Action
	// Next is the record to store (Store, StoreThenMarkers); nil for Reply.
	// It shares nothing with the record the transition was given.
	Next *Transaction
	// Markers are to be written after Next is stored (StoreThenMarkers).
	Markers *Markers
	// Err is the client's answer: nil, or one of this package's errors
	// that stand for a Kafka code. It may come with a Next to store first
	// (InitProducerID answers ErrConcurrentTransactions after storing the
	// abort of the ongoing transaction).
	Err error
	// ProducerID and ProducerEpoch are what InitProducerId and EndTxn v5+
	// answer with: the producer the client uses from now on; NoProducerID
	// and NoProducerEpoch with an Err.
	ProducerID    int64
	ProducerEpoch int16
}

// reply answers with err and nothing to store.
func reply(err error) Result {
	return Result{Action: Reply, Err: err, ProducerID: NoProducerID, ProducerEpoch: NoProducerEpoch}
}

// replyProducer answers success with the producer in t, nothing to store.
func replyProducer(t *Transaction) Result {
	return Result{Action: Reply, ProducerID: t.ProducerID, ProducerEpoch: t.ProducerEpoch}
}

// store answers success after next is stored, with next's producer.
func store(next *Transaction) Result {
	return Result{Action: Store, Next: next, ProducerID: next.ProducerID, ProducerEpoch: next.ProducerEpoch}
}
