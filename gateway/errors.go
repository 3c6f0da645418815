package gateway

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/coordinator/group"
	"github.com/stratalog/strata/coordinator/txn"
	"github.com/stratalog/strata/tiered"
	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/segment"
)

// errorCodes maps each domain sentinel to the Kafka error a client expects. It is
// the only place domain errors become Kafka codes; TestEveryErrorMapped checks
// that every sentinel of the packages below is here.
var errorCodes = []struct {
	err  error
	code *kerr.Error
}{
	{tiered.ErrNotLeader, kerr.NotLeaderForPartition},
	{tiered.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{tiered.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{tiered.ErrProducerFenced, kerr.InvalidProducerEpoch},
	// Object storage is slow or unreachable: KAFKA_STORAGE_ERROR is the
	// retriable code clients expect when a broker cannot write its log.
	{tiered.ErrBackpressure, kerr.KafkaStorageError},
	{tiered.ErrNotDurable, kerr.KafkaStorageError},
	{tiered.ErrClosed, kerr.NotLeaderForPartition},
	{tiered.ErrBatchTooLarge, kerr.MessageTooLarge},
	// A WAL tail that does not check out is not served: as a broker's
	// failed log directory, retriable once an operator has looked.
	{tiered.ErrCorruptTail, kerr.KafkaStorageError},
	// A lifecycle edit that lost a race with another: the state moved on,
	// so the request can be retried against it.
	{tiered.ErrStaleEdit, kerr.NotLeaderForPartition},
	{index.ErrConflict, kerr.NotLeaderForPartition},
	{index.ErrFenced, kerr.NotLeaderForPartition},
	{batch.ErrCorrupt, kerr.CorruptMessage},
	{batch.ErrTruncated, kerr.CorruptMessage},
	{batch.ErrUnsupportedMagic, kerr.UnsupportedForMessageFormat},
	{batch.ErrTooLarge, kerr.MessageTooLarge},
	// Storage the gateway cannot read or write: retriable, as a broker's
	// failed log directory is.
	{segment.ErrCorrupt, kerr.KafkaStorageError},
	{segment.ErrUnsupportedVersion, kerr.KafkaStorageError},
	{segment.ErrOutOfOrder, kerr.KafkaStorageError},
	{segment.ErrTooManyBlocks, kerr.KafkaStorageError},
	{segment.ErrClosed, kerr.KafkaStorageError},
	{objstore.ErrNotExist, kerr.KafkaStorageError},
	{objstore.ErrExists, kerr.KafkaStorageError},
	{objstore.ErrInvalidRange, kerr.KafkaStorageError},
	{coordinator.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	{coordinator.ErrTopicExists, kerr.TopicAlreadyExists},
	{coordinator.ErrInvalidTopic, kerr.InvalidTopicException},
	{coordinator.ErrInvalidPartitions, kerr.InvalidPartitions},
	{coordinator.ErrFenced, kerr.NotLeaderForPartition},
	// A compare-and-swap that kept losing: the client retries.
	{coordinator.ErrConflict, kerr.RequestTimedOut},
	{coordinator.ErrTooLarge, kerr.KafkaStorageError},
	{coordinator.ErrCorrupt, kerr.KafkaStorageError},
	// Bugs and start-up errors: never a client's fault, never retriable
	// by it.
	{coordinator.ErrInvalidIndex, kerr.UnknownServerError},
	{coordinator.ErrBucketConfig, kerr.UnknownServerError},
	{coordinator.ErrNoMetadata, kerr.UnknownServerError},
	// A gateway that lost its lease no longer leads anything.
	{coordinator.ErrLeaseLost, kerr.NotLeaderForPartition},
	{coordinator.ErrNodeIDInUse, kerr.UnknownServerError},
	{group.ErrUnknownMember, kerr.UnknownMemberID},
	{group.ErrIllegalGeneration, kerr.IllegalGeneration},
	{group.ErrRebalanceInProgress, kerr.RebalanceInProgress},
	{group.ErrMemberIDRequired, kerr.MemberIDRequired},
	{group.ErrFencedInstance, kerr.FencedInstanceID},
	{group.ErrInconsistentProtocol, kerr.InconsistentGroupProtocol},
	{group.ErrInvalidSessionTimeout, kerr.InvalidSessionTimeout},
	{group.ErrGroupFull, kerr.GroupMaxSizeReached},
	{group.ErrGroupDead, kerr.CoordinatorNotAvailable},
	{group.ErrNotEmpty, kerr.NonEmptyGroup},
	{group.ErrGroupNotFound, kerr.GroupIDNotFound},
	{group.ErrNotConsumerGroup, kerr.GroupIDNotFound},
	{group.ErrNotPersisted, kerr.CoordinatorNotAvailable},
	{group.ErrNotCoordinator, kerr.NotCoordinator},
	{group.ErrInvalidHeartbeat, kerr.InvalidRequest},
	{group.ErrFencedMemberEpoch, kerr.FencedMemberEpoch},
	{group.ErrStaleMemberEpoch, kerr.StaleMemberEpoch},
	{group.ErrUnreleasedInstance, kerr.UnreleasedInstanceID},
	{group.ErrUnsupportedAssignor, kerr.UnsupportedAssignor},
	{group.ErrInvalidRegex, kerr.InvalidRegularExpression},
	{group.ErrUnsupportedCommitVersion, kerr.UnsupportedVersion},
	{txn.ErrInvalidRequest, kerr.InvalidRequest},
	{txn.ErrInvalidTimeout, kerr.InvalidTransactionTimeout},
	{txn.ErrConcurrentTransactions, kerr.ConcurrentTransactions},
	{txn.ErrProducerFenced, kerr.ProducerFenced},
	{txn.ErrInvalidProducerIDMapping, kerr.InvalidProducerIDMapping},
	{txn.ErrInvalidTxnState, kerr.InvalidTxnState},
	{txn.ErrTransactionAbortable, kerr.TransactionAbortable},
	{txn.ErrTransactionalIDNotFound, kerr.TransactionalIDNotFound},
	{txn.ErrInvalidGroupID, kerr.InvalidGroupID},
	{txn.ErrCorrupt, kerr.KafkaStorageError},
	{txn.ErrNotPrepared, kerr.UnknownServerError},
	{context.DeadlineExceeded, kerr.RequestTimedOut},
	{context.Canceled, kerr.RequestTimedOut},
}

// errorCode returns the Kafka error code for err: 0 for nil, the mapped code
// for a domain error, and UNKNOWN_SERVER_ERROR for anything else. Clients do
// not retry UNKNOWN_SERVER_ERROR (a producer fails the records), so a
// transient failure must reach here as a domain error: tiered, for one, wraps
// a partition it cannot load while NATS is unavailable in ErrNotLeader.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	for _, m := range errorCodes {
		if errors.Is(err, m.err) {
			return m.code.Code
		}
	}
	return kerr.UnknownServerError.Code
}

// errorMessage is the message to put next to a code in responses that carry one.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	m := err.Error()
	return &m
}
