package cache

import (
	"container/list"
	"context"
	"fmt"
	"sync"
)

// Cache holds immutable blocks under a byte budget. It is safe for concurrent use.
//
// One mutex guards the LRU list, the map and the in-flight loads; loads run
// outside it.
type Cache struct {
	budget int64

	mu       sync.Mutex
	size     int64
	lru      *list.List // of *entry, most recent at the front
	entries  map[string]*list.Element
	inflight map[string]*load
}

type entry struct {
	key   string
	block []byte
}

// load is one in-flight miss; waiters block on done and then read block/err.
type load struct {
	done  chan struct{}
	block []byte
	err   error
}

// New returns a cache holding at most budget bytes of blocks. A budget of zero or
// less caches nothing but still collapses concurrent loads.
func New(budget int64) *Cache {
	return &Cache{
		budget:   budget,
		lru:      list.New(),
		entries:  make(map[string]*list.Element),
		inflight: make(map[string]*load),
	}
}

// Get returns the block for key, calling fetch on a miss. Concurrent Gets of a
// missing key share one fetch. A fetch error is returned to every waiter and
// not cached. The returned slice must not be modified.
func (c *Cache) Get(ctx context.Context, key string, fetch func(context.Context) ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.lru.MoveToFront(el)
		b := el.Value.(*entry).block
		c.mu.Unlock()
		return b, nil
	}
	if l, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		select {
		case <-l.done:
			return l.block, l.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l := &load{done: make(chan struct{})}
	c.inflight[key] = l
	c.mu.Unlock()

	l.block, l.err = fetch(ctx)

	c.mu.Lock()
	delete(c.inflight, key)
	if l.err == nil {
		c.insertLocked(key, l.block)
	}
	c.mu.Unlock()
	close(l.done)
	return l.block, l.err
}

// Contains reports whether key is cached or being loaded.
func (c *Cache) Contains(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, cached := c.entries[key]
	_, loading := c.inflight[key]
	return cached || loading
}

// LoadMany loads several blocks with one fetch, such as adjacent blocks of
// one object read with one ranged GET: fetch returns one block per key, in
// order. Gets of any of the keys meanwhile wait for it, as for any load. It
// fetches only if none of the keys is cached or being loaded, and reports
// whether it did; a fetch error is returned and nothing is cached.
func (c *Cache) LoadMany(ctx context.Context, keys []string, fetch func(context.Context) ([][]byte, error)) (bool, error) {
	c.mu.Lock()
	for _, k := range keys {
		_, cached := c.entries[k]
		_, loading := c.inflight[k]
		if cached || loading {
			c.mu.Unlock()
			return false, nil
		}
	}
	loads := make([]*load, len(keys))
	for i, k := range keys {
		loads[i] = &load{done: make(chan struct{})}
		c.inflight[k] = loads[i]
	}
	c.mu.Unlock()

	blocks, err := fetch(ctx)
	if err == nil && len(blocks) != len(keys) {
		err = fmt.Errorf("cache: fetch returned %d blocks for %d keys", len(blocks), len(keys))
	}

	c.mu.Lock()
	for i, k := range keys {
		delete(c.inflight, k)
		if err != nil {
			loads[i].err = err
			continue
		}
		loads[i].block = blocks[i]
		c.insertLocked(k, blocks[i])
	}
	c.mu.Unlock()
	for _, l := range loads {
		close(l.done)
	}
	return true, err
}

// Put inserts a block the caller already has, such as a block of a segment this
// gateway just wrote, so that the newest data is served without a GET.
func (c *Cache) Put(key string, block []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.lru.MoveToFront(el)
		return
	}
	c.insertLocked(key, block)
}

// Size returns the bytes currently cached.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}

func (c *Cache) insertLocked(key string, block []byte) {
	n := int64(len(block))
	if n > c.budget {
		return
	}
	c.entries[key] = c.lru.PushFront(&entry{key: key, block: block})
	c.size += n
	for c.size > c.budget {
		el := c.lru.Back()
		e := el.Value.(*entry)
		c.lru.Remove(el)
		delete(c.entries, e.key)
		c.size -= int64(len(e.block))
	}
}
