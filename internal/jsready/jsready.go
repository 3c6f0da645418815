// Package jsready opens what a process needs on JetStream while the cluster
// may still be forming. cmd/strata opens the coordinator and the WAL through
// it at start, and tests on fresh clusters do the same.
package jsready

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// FormingWait bounds how long Open waits for a JetStream cluster that is
// still forming; past it, the last error stands.
const FormingWait = 2 * time.Minute

// attemptTimeout bounds one attempt: a request to a cluster without a meta
// leader, or whose leader changes while it is handled, may go unanswered.
const attemptTimeout = 10 * time.Second

// JetStream API error codes that a forming cluster returns.
const (
	jsErrNoSuitablePeers = 10005 // the meta leader has not heard from enough peers to place the replicas
	jsErrClusterNotAvail = 10008 // no meta leader yet
)

// Open runs open until it succeeds, fails for a reason that waiting does not
// cure, or FormingWait passes. Servers started
// together answer clients before they have a meta leader, and place an R3
// stream only once the meta leader has heard from enough peers; Strata started
// alongside its NATS cluster waits for that instead of exiting. open must be
// safe to repeat (coordinator.Open and wal.Open are).
func Open[T any](ctx context.Context, log *slog.Logger, what string, open func(context.Context) (T, error)) (T, error) {
	deadline := time.Now().Add(FormingWait)
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		v, err := open(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !Forming(err) || time.Now().After(deadline) {
			return v, err
		}
		if attempt == 1 || attempt%10 == 0 {
			log.Warn("waiting for the JetStream cluster to form", "opening", what, "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// Forming reports whether err is what a JetStream cluster answers while it
// forms: no meta leader, too few peers heard from, or no answer within the
// attempt's timeout.
func Forming(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jsErrNoSuitablePeers || apiErr.ErrorCode == jsErrClusterNotAvail
	}
	return errors.Is(err, context.DeadlineExceeded)
}
