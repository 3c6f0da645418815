package compact

import (
	"errors"
	"fmt"

	"github.com/stratalog/strata/tiered/batch"
)

// Sentinel errors.
var (
	// ErrCorrupt marks input that is not what the index and the formats
	// promise: a block that does not match its index entry, a batch whose
	// CRC or fields are wrong, records that do not decode. The error also
	// wraps the segment or batch package's own error. It is never worth
	// retrying: the same bytes fail the same way.
	ErrCorrupt = errors.New("compact: corrupt input")
	// ErrMapFull is returned by OffsetMap.Add when the batch's keys would
	// take the map past its maximum number of entries. The map is left as
	// it was before the batch, covering the batches added so far; the
	// caller cleans that shorter range and starts a new map for the rest,
	// as Kafka's LogCleaner does when its dedupe buffer fills.
	ErrMapFull = errors.New("compact: offset map full")
	// ErrInvalid marks a caller's mistake: a Config without a Bucket or
	// NewKey, index entries that are not one partition's in offset order,
	// a Clean function that changes a batch's offsets.
	ErrInvalid = errors.New("compact: invalid argument")
)

// corrupt wraps err, an error from the batch package about stored bytes, as
// ErrCorrupt, unless it is a size limit (batch.ErrTooLarge): a batch too large
// to decompress under the caller's limit is not corrupt, and a larger limit
// would read it.
func corrupt(err error) error {
	if errors.Is(err, batch.ErrTooLarge) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrCorrupt, err)
}
