// Package cache is the block cache of the tiered log: immutable byte blocks
// (segment blocks, keyed by object and position) held in memory under a byte
// budget and evicted least-recently-used first.
//
// Blocks are immutable because object keys are never reused, so a cached block
// never goes stale and the cache needs no invalidation. Concurrent misses for the
// same key are collapsed into one load (a ranged GET), so a burst of consumers
// reading the same new data costs one request.
//
//	c := cache.New(256 << 20)
//	b, err := c.Get(ctx, key, func(ctx context.Context) ([]byte, error) {
//		return readRange(ctx, object, pos, n)
//	})
package cache
