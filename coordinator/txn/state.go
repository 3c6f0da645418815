package txn

import "fmt"

// State is a transaction's state, with Kafka's values and names
// (org.apache.kafka.coordinator.transaction.TransactionState).
//
//	Empty ──AddPartitions/AddGroup──► Ongoing ──EndTxn──► PrepareCommit ──Complete──► CompleteCommit
//	  ▲                                  │  ╲                                               │
//	  │                                  │   ╲──EndTxn, Expired, InitProducerID──►          │
//	  │                                  │          PrepareAbort ──Complete──► CompleteAbort│
//	  └───────────────InitProducerID─────┴──────────────────────────────────────────────────┘
//
// A record is stored only in Empty, Ongoing, Prepare* or Complete*. Dead is
// Kafka's name for a transactional id being expired, which Strata deletes
// instead (IDExpired); PrepareEpochFence is Kafka's in-memory pending state
// while it fences a producer, which Strata writes as PrepareAbort at once.
// Both exist so that State covers every name Kafka reports.
type State int8

// Kafka's state ids (TransactionState.id), kept so the numbering matches
// Kafka's transaction log.
const (
	Empty             State = 0
	Ongoing           State = 1
	PrepareCommit     State = 2
	PrepareAbort      State = 3
	CompleteCommit    State = 4
	CompleteAbort     State = 5
	Dead              State = 6
	PrepareEpochFence State = 7
)

// stateNames are the names DescribeTransactions and ListTransactions report
// (TransactionState.stateName, from the admin client's TransactionState).
var stateNames = [...]string{
	Empty:             "Empty",
	Ongoing:           "Ongoing",
	PrepareCommit:     "PrepareCommit",
	PrepareAbort:      "PrepareAbort",
	CompleteCommit:    "CompleteCommit",
	CompleteAbort:     "CompleteAbort",
	Dead:              "Dead",
	PrepareEpochFence: "PrepareEpochFence",
}

// String returns Kafka's name for s, or "State(n)" for a value outside the
// enum.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int8(s))
}

// ParseState returns the state named name (as String spells it). ok is
// false for any other name: ListTransactions reports such filters back as
// UnknownStateFilters.
func ParseState(name string) (s State, ok bool) {
	for i, n := range stateNames {
		if n == name {
			return State(i), true
		}
	}
	return 0, false
}

// MarshalText writes the state's name, so stored records read as Kafka's
// names.
func (s State) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(stateNames) {
		return nil, fmt.Errorf("txn: no name for %v", s)
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText parses a state's name.
func (s *State) UnmarshalText(b []byte) error {
	v, ok := ParseState(string(b))
	if !ok {
		return fmt.Errorf("txn: unknown transaction state %q", b)
	}
	*s = v
	return nil
}

// stored reports whether a record may be stored in state s.
func (s State) stored() bool { return s >= Empty && s <= CompleteAbort }

// preparing reports whether s is PrepareCommit or PrepareAbort: the outcome is
// decided and markers are being written.
func (s State) preparing() bool { return s == PrepareCommit || s == PrepareAbort }

// complete reports whether s is CompleteCommit or CompleteAbort.
func (s State) complete() bool { return s == CompleteCommit || s == CompleteAbort }

// idle reports whether s has no transaction in flight: Empty or Complete*.
// These are the states Kafka lets a transactional id expire in
// (TransactionState.isExpirationAllowed) and the ones a new transaction
// starts from.
func (s State) idle() bool { return s == Empty || s.complete() }
