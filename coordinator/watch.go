package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
)

// watchBucket calls fn with every record stored in kv, then with nil to mark
// that they are all delivered, then with every change, until ctx ends (nil)
// or the watch fails. what names the bucket in errors.
func watchBucket(ctx context.Context, kv jetstream.KeyValue, what string, log *slog.Logger, fn func(e jetstream.KeyValueEntry)) error {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch %s: %w", what, err)
	}
	defer stopWatcher(w, log)
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("watch %s: %w", what, errWatcherClosed)
			}
			fn(e)
		}
	}
}

var errWatcherClosed = errors.New("watcher closed")
