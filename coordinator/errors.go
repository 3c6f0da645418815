package coordinator

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

var (
	// ErrTopicExists is returned by CreateTopic when a topic of that name
	// exists.
	ErrTopicExists = errors.New("coordinator: topic already exists")
	// ErrUnknownTopic is returned when a named topic does not exist.
	ErrUnknownTopic = errors.New("coordinator: unknown topic")
	// ErrInvalidTopic is returned for a topic name Kafka would refuse, or
	// an update that changes a topic's name, id or creation time.
	ErrInvalidTopic = errors.New("coordinator: invalid topic")
	// ErrInvalidPartitions is returned for a partition count below one, or
	// an update that lowers it.
	ErrInvalidPartitions = errors.New("coordinator: invalid partition count")
	// ErrConflict means a compare-and-swap lost: someone else wrote the key
	// first. Reload and retry, unless the caller's decision no longer holds.
	// Retriable.
	ErrConflict = errors.New("coordinator: conflicting write")
	// ErrFenced is returned by CommitPartition when the stored state carries
	// a newer leader epoch than the commit: the caller is no longer the
	// leader and must stop writing. Not retriable.
	ErrFenced = errors.New("coordinator: fenced by a newer leader epoch")
	// ErrInvalidIndex is returned by CommitPartition for a segment index that
	// breaks index.Partition's invariants (order, overlap, wrong partition,
	// missing object). It is a bug in the caller. Not retriable.
	ErrInvalidIndex = errors.New("coordinator: invalid partition index")
	// ErrTooLarge is returned when a record would not fit in one NATS
	// message with room to spare (see Store.RecordLimit). Not retriable.
	ErrTooLarge = errors.New("coordinator: record too large")
	// ErrCorrupt marks a stored record that cannot be decoded or does not
	// match what references it. Never retried; always worth an alert.
	ErrCorrupt = errors.New("coordinator: corrupt record")
	// ErrBucketConfig is returned by Open when an existing bucket's
	// configuration (replicas, storage) differs from what Config asks for.
	ErrBucketConfig = errors.New("coordinator: bucket configuration mismatch")
	// ErrNodeIDInUse is returned by RegisterGateway when another live
	// gateway holds the node id.
	ErrNodeIDInUse = errors.New("coordinator: node id held by another gateway")
	// ErrLeaseLost is returned by RenewGateway when the gateway's lease
	// expired or changed hands: it is no longer a member.
	ErrLeaseLost = errors.New("coordinator: gateway lease lost")
)

// errCASLost is what one attempt of a compare-and-swap loop returns when it
// lost the race; retryCAS turns it into another attempt, or into ErrConflict.
var errCASLost = errors.New("coordinator: compare-and-swap lost")

// isCASMismatch reports whether err is JetStream refusing a write because the
// key's last revision was not the expected one. Create reports
// ErrKeyExists, Update ErrKeyRevisionMismatch, and a Delete with LastRevision
// only the API error: 10071, or 10164 on replicated streams.
func isCASMismatch(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// isNotFound reports whether err means the key has no live value.
func isNotFound(err error) bool {
	return errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted)
}

// corruptf wraps ErrCorrupt with what was found.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}
