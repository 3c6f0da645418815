package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// jetStreamFormingWait bounds how long start-up waits for a JetStream
// cluster that is still forming; past it, the last error stands.
const jetStreamFormingWait = 2 * time.Minute

// jetStreamAttemptTimeout bounds one attempt: a request to a cluster without
// a meta leader may go unanswered.
const jetStreamAttemptTimeout = 10 * time.Second

// JetStream API error codes that a forming cluster returns.
const (
	jsErrNoSuitablePeers = 10005 // the meta leader has not heard from enough peers to place the replicas
	jsErrClusterNotAvail = 10008 // no meta leader yet
)

// whenJetStreamReady runs open until it succeeds, fails for a reason that
// waiting does not cure, or jetStreamFormingWait passes. Servers started
// together answer clients before they have a meta leader, and place an R3
// stream only once the meta leader has heard from enough peers; Strata started
// alongside its NATS cluster waits for that instead of exiting. open must be
// safe to repeat (coordinator.Open and wal.Open are).
func whenJetStreamReady[T any](ctx context.Context, log *slog.Logger, what string, open func(context.Context) (T, error)) (T, error) {
	deadline := time.Now().Add(jetStreamFormingWait)
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, jetStreamAttemptTimeout)
		v, err := open(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !jetStreamForming(err) || time.Now().After(deadline) {
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

// jetStreamForming reports whether err is what a JetStream cluster answers
// while it forms: no meta leader, too few peers heard from, or no answer
// within the attempt's timeout.
func jetStreamForming(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jsErrNoSuitablePeers || apiErr.ErrorCode == jsErrClusterNotAvail
	}
	return errors.Is(err, context.DeadlineExceeded)
}
