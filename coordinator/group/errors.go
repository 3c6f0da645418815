package group

import "errors"

// Errors a group operation returns; the gateway maps each to its Kafka code.
var (
	ErrUnknownMember         = errors.New("group: unknown member id")
	ErrIllegalGeneration     = errors.New("group: generation is not the group's current one")
	ErrRebalanceInProgress   = errors.New("group: rebalance in progress")
	ErrMemberIDRequired      = errors.New("group: member id required; rejoin with the id given")
	ErrFencedInstance        = errors.New("group: static member fenced by a newer instance")
	ErrInconsistentProtocol  = errors.New("group: protocol type or assignors differ from the group's")
	ErrInvalidSessionTimeout = errors.New("group: session timeout out of range")
	ErrGroupFull             = errors.New("group: group has reached its maximum size")
	ErrGroupDead             = errors.New("group: group is being deleted")
	ErrNotEmpty              = errors.New("group: group has members")
	ErrGroupNotFound         = errors.New("group: no such group")
	// ErrNotPersisted: the coordinator store could not be read or written;
	// the client retries (COORDINATOR_NOT_AVAILABLE).
	ErrNotPersisted = errors.New("group: membership could not be stored or loaded")
	// ErrNotCoordinator: another gateway coordinates the group now.
	ErrNotCoordinator = errors.New("group: not this gateway's group")

	// Consumer-protocol groups (KIP-848).
	ErrNotConsumerGroup         = errors.New("group: not a consumer-protocol group")
	ErrInvalidHeartbeat         = errors.New("group: invalid consumer group heartbeat")
	ErrFencedMemberEpoch        = errors.New("group: member epoch fenced; rejoin")
	ErrStaleMemberEpoch         = errors.New("group: member epoch stale")
	ErrUnreleasedInstance       = errors.New("group: instance id still held by another member")
	ErrUnsupportedAssignor      = errors.New("group: unsupported server assignor")
	ErrInvalidRegex             = errors.New("group: invalid subscription regular expression")
	ErrUnsupportedCommitVersion = errors.New("group: offset commit version too old for this group")
)
