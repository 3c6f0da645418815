package compact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/segment"
)

// maxGetBytes caps a coalesced ranged GET. Blocks are about 1 MiB
// (segment.DefaultBlockSize), so a GET takes up to eight of them: few enough
// requests that their per-request cost (S3 bills GETs per request, each with
// a first-byte latency of tens of ms) is small against the transfer, small
// enough that GetParallelism of them in memory is modest. A single block
// larger than the cap is fetched alone.
const maxGetBytes = 8 << 20

// span is one ranged GET: adjacent blocks of one object.
type span struct {
	object  string
	off     int64
	length  int64
	entries []segment.IndexEntry
}

// plan groups consecutive entries into spans: an entry joins the previous
// span when it is in the same object, starts where the span ends, and keeps
// the span within maxGetBytes.
func plan(entries []segment.IndexEntry) []span {
	var spans []span
	for i, e := range entries {
		if n := len(spans); n > 0 {
			s := &spans[n-1]
			if s.object == e.Object && s.off+s.length == e.Position && s.length+e.Length <= maxGetBytes {
				s.length += e.Length
				s.entries = entries[i-len(s.entries) : i+1]
				continue
			}
		}
		spans = append(spans, span{object: e.Object, off: e.Position, length: e.Length, entries: entries[i : i+1]})
	}
	return spans
}

// fetchInOrder GETs every span, with up to parallel GETs in flight, and calls
// fn with each span's bytes in span order. It returns the first error of a
// GET or of fn, after every goroutine it started has exited.
//
// Design: results come back in any order but are consumed in order, so each
// span has its own one-slot result channel. A slot in sem is taken before a
// GET starts and given back only when fn is done with its bytes, so at most
// parallel spans' bytes are held at once, whether in flight or waiting for
// their turn. Shutdown, on an error or once done: 1. cancel the context,
// which stops the launcher waiting for a slot and aborts GETs in flight;
// 2. wait for the launcher and the GETs, which never block on their
// buffered result channels. Rejected: an errgroup with SetLimit, which bounds
// GETs in flight but not results waiting behind a slow earlier one.
func fetchInOrder(ctx context.Context, bucket objstore.Bucket, spans []span, parallel int, fn func(span, []byte) error) error {
	type result struct {
		buf []byte
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	results := make([]chan result, len(spans))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	sem := make(chan struct{}, parallel)
	wg.Go(func() {
		for i, s := range spans {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				buf, err := get(ctx, bucket, s)
				results[i] <- result{buf, err}
			})
		}
	})
	for i, s := range spans {
		var r result
		select {
		case r = <-results[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.err != nil {
			return r.err
		}
		if err := fn(s, r.buf); err != nil {
			return err
		}
		<-sem
	}
	return nil
}

// get reads span s with one ranged GET. A range the object does not hold
// means the index does not match the object: corruption.
func get(ctx context.Context, bucket objstore.Bucket, s span) ([]byte, error) {
	rc, err := bucket.GetRange(ctx, s.object, s.off, s.length)
	if errors.Is(err, objstore.ErrInvalidRange) {
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if err != nil {
		return nil, fmt.Errorf("get %d bytes at %d of %s: %w", s.length, s.off, s.object, err)
	}
	buf := make([]byte, s.length)
	n, err := io.ReadFull(rc, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = fmt.Errorf("object ends after %d bytes: %w", n, ErrCorrupt)
	}
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("read %d bytes at %d of %s: %w", s.length, s.off, s.object, err)
	}
	return buf, nil
}
