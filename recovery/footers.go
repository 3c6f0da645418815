package recovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stratalog/strata/tiered/gc"
	"github.com/stratalog/strata/tiered/objstore"
	"github.com/stratalog/strata/tiered/segment"
)

// suffixGuess is how much of an object's end is read at first: the trailer
// and, for all but the largest footers, the footer too (60 bytes a block).
const suffixGuess = 64 << 10

// object is one segment object found in the bucket, with its footer.
type object struct {
	key string
	// created is the time in its key; order is its rank among all objects
	// by that time (newest highest).
	created time.Time
	order   int
	// blocks are the footer's entries with Object set.
	blocks []segment.IndexEntry
	// blocksEnd is where the blocks region ends (the footer starts).
	blocksEnd int64
	// single is set when every block belongs to one partition.
	single bool
}

// listObjects lists the segment objects under prefix and reads their
// footers, concurrency at a time. Objects whose footer cannot be read as a
// segment (corrupt, or an unknown version) are returned in bad, not as an
// error; any other error ends the listing.
func listObjects(ctx context.Context, b objstore.Bucket, prefix string, concurrency int) (objs []*object, bad map[string]error, err error) {
	var keys []string
	if err := b.List(ctx, prefix, func(key string) error {
		if strings.HasSuffix(key, ".seg") {
			keys = append(keys, key)
		}
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	objs = make([]*object, len(keys))
	bad = map[string]error{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i, key := range keys {
		g.Go(func() error {
			o, err := readFooter(gctx, b, key)
			switch {
			case errors.Is(err, objstore.ErrNotExist):
				return nil // deleted since the listing
			case errors.Is(err, segment.ErrCorrupt) || errors.Is(err, segment.ErrUnsupportedVersion):
				mu.Lock()
				bad[key] = err
				mu.Unlock()
				return nil
			case err != nil:
				return err
			}
			objs[i] = o
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	out := objs[:0]
	for _, o := range objs {
		if o != nil {
			out = append(out, o)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].created.Equal(out[j].created) {
			return out[i].created.Before(out[j].created)
		}
		return out[i].key < out[j].key
	})
	for i, o := range out {
		o.order = i + 1
	}
	return out, bad, nil
}

// readFooter reads key's trailer and footer with one or two ranged GETs
// after learning its size.
func readFooter(ctx context.Context, b objstore.Bucket, key string) (*object, error) {
	size, err := b.Size(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("size of %s: %w", key, err)
	}
	if size < segment.TrailerSize {
		return nil, fmt.Errorf("%s: object of %d bytes: %w", key, size, segment.ErrCorrupt)
	}
	off := max(size-suffixGuess, 0)
	suffix, err := getRange(ctx, b, key, off, size-off)
	if err != nil {
		return nil, err
	}
	t, err := segment.DecodeTrailer(suffix[len(suffix)-segment.TrailerSize:])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if t.IndexSize() > size {
		return nil, fmt.Errorf("%s: index of %d bytes in an object of %d: %w", key, t.IndexSize(), size, segment.ErrCorrupt)
	}
	if t.IndexSize() > int64(len(suffix)) {
		off = size - t.IndexSize()
		if suffix, err = getRange(ctx, b, key, off, t.IndexSize()); err != nil {
			return nil, err
		}
	}
	start := int64(len(suffix)) - t.IndexSize()
	blocks, err := segment.DecodeFooter(suffix[start:start+int64(t.FooterLength)], t, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	created, _ := gc.ObjectTime(key)
	o := &object{key: key, created: created, blocks: blocks, blocksEnd: size - t.IndexSize(), single: true}
	for i := range o.blocks {
		o.blocks[i].Object = key
		if o.blocks[i].TopicID != o.blocks[0].TopicID || o.blocks[i].Partition != o.blocks[0].Partition {
			o.single = false
		}
	}
	return o, nil
}

// getRange reads length bytes of key at off, all of them.
func getRange(ctx context.Context, b objstore.Bucket, key string, off, length int64) ([]byte, error) {
	rc, err := b.GetRange(ctx, key, off, length)
	if err != nil {
		return nil, fmt.Errorf("read %s at %d: %w", key, off, err)
	}
	data := make([]byte, length)
	n, err := io.ReadFull(rc, data)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read %s at %d: %d of %d bytes: %w", key, off, n, length, segment.ErrCorrupt)
		}
		return nil, fmt.Errorf("read %s at %d: %w", key, off, err)
	}
	return data, nil
}
