package txn

import "errors"

// Errors a transition answers a client with (Result.Err, VerifyPartitions).
// Each stands for exactly one Kafka error code, named in its comment; the
// gateway maps them in its error table (this package does not speak the
// Kafka protocol, see internal/lint). Where a request version predates
// PRODUCER_FENCED (InitProducerId v0-3, AddPartitionsToTxn, AddOffsetsToTxn
// and EndTxn v0-1) Kafka answers INVALID_PRODUCER_EPOCH instead, and so must
// the gateway.
var (
	// ErrInvalidRequest: INVALID_REQUEST. An empty transactional id, or a
	// negative partition or empty topic name in AddPartitions. Not
	// retriable.
	ErrInvalidRequest = errors.New("txn: invalid request")
	// ErrInvalidTimeout: INVALID_TRANSACTION_TIMEOUT. A transaction timeout
	// not in 1..transaction.max.timeout.ms. Not retriable.
	ErrInvalidTimeout = errors.New("txn: transaction timeout out of range")
	// ErrConcurrentTransactions: CONCURRENT_TRANSACTIONS. The previous
	// transaction is still completing (Prepare*), or InitProducerId has
	// just aborted the ongoing one; the client backs off and retries.
	ErrConcurrentTransactions = errors.New("txn: a transaction is completing; retry")
	// ErrProducerFenced: PRODUCER_FENCED (INVALID_PRODUCER_EPOCH for old
	// request versions). Another producer with the same transactional id
	// has a newer epoch. Not retriable.
	ErrProducerFenced = errors.New("txn: producer fenced by a newer epoch")
	// ErrInvalidProducerIDMapping: INVALID_PRODUCER_ID_MAPPING. No record
	// for the transactional id, or it has another producer id. Not
	// retriable.
	ErrInvalidProducerIDMapping = errors.New("txn: producer id is not the transactional id's")
	// ErrInvalidTxnState: INVALID_TXN_STATE. EndTxn that does not fit the
	// state: a commit with no transaction, or the other outcome of a
	// completed one. Not retriable.
	ErrInvalidTxnState = errors.New("txn: request does not fit the transaction's state")
	// ErrTransactionAbortable: TRANSACTION_ABORTABLE (KIP-890). A partition
	// VerifyPartitions asked about is not in the ongoing transaction; the
	// producer aborts and carries on.
	ErrTransactionAbortable = errors.New("txn: partition not in the transaction; abort it")
	// ErrTransactionalIDNotFound: TRANSACTIONAL_ID_NOT_FOUND, for
	// DescribeTransactions of an id with no record.
	ErrTransactionalIDNotFound = errors.New("txn: transactional id not found")
	// ErrInvalidGroupID: INVALID_GROUP_ID. AddOffsetsToTxn with an empty
	// group id (Kafka refuses it at TxnOffsetCommit). Not retriable.
	ErrInvalidGroupID = errors.New("txn: invalid group id")
)

// Errors that are not an answer to a client: the caller could not get a
// decision. The gateway maps them too (suggested: ErrCorrupt as
// coordinator.ErrCorrupt is, ErrNotPrepared as UNKNOWN_SERVER_ERROR).
var (
	// ErrCorrupt marks a record that does not decode or breaks the
	// invariants in Decode's comment, or a transition given one. Never
	// retried; always worth an alert.
	ErrCorrupt = errors.New("txn: corrupt transaction record")
	// ErrNotPrepared is returned by Complete for a record not in
	// PrepareCommit or PrepareAbort: another coordinator completed it, or
	// the caller has a bug.
	ErrNotPrepared = errors.New("txn: transaction is not being committed or aborted")
)
