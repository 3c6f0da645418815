package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	c := New(30)
	ctx := context.Background()
	loads := 0
	get := func(key string) []byte {
		t.Helper()
		b, err := c.Get(ctx, key, func(context.Context) ([]byte, error) {
			loads++
			return bytes.Repeat([]byte(key), 10), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	get("a")
	get("b")
	get("c")
	get("a") // a is now the most recent; b is the oldest
	get("d") // evicts b
	if loads != 4 {
		t.Fatalf("loads = %d, want 4", loads)
	}
	get("a")
	get("c")
	get("d")
	if loads != 4 {
		t.Fatalf("after hits loads = %d, want 4", loads)
	}
	get("b")
	if loads != 5 {
		t.Fatalf("evicted block not reloaded: loads = %d, want 5", loads)
	}
	if c.Size() > 30 {
		t.Fatalf("size %d over budget", c.Size())
	}
}

func TestConcurrentMissesShareOneLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(1 << 20)
		var loads atomic.Int32
		release := make(chan struct{})
		var wg sync.WaitGroup
		results := make([][]byte, 16)
		for i := range results {
			wg.Go(func() {
				b, err := c.Get(context.Background(), "k", func(context.Context) ([]byte, error) {
					loads.Add(1)
					<-release
					return []byte("block"), nil
				})
				if err != nil {
					t.Error(err)
				}
				results[i] = b
			})
		}
		// Every goroutine is now blocked: one inside the load, the rest
		// waiting for it.
		synctest.Wait()
		close(release)
		wg.Wait()
		if n := loads.Load(); n != 1 {
			t.Fatalf("loads = %d, want 1", n)
		}
		for i, b := range results {
			if string(b) != "block" {
				t.Fatalf("result %d = %q", i, b)
			}
		}
	})
}

func TestErrorsAreNotCached(t *testing.T) {
	c := New(1 << 20)
	boom := errors.New("boom")
	_, err := c.Get(context.Background(), "k", func(context.Context) ([]byte, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	b, err := c.Get(context.Background(), "k", func(context.Context) ([]byte, error) { return []byte("ok"), nil })
	if err != nil || string(b) != "ok" {
		t.Fatalf("second get = %q, %v", b, err)
	}
}

func TestOversizedBlockIsServedButNotKept(t *testing.T) {
	c := New(4)
	for i := range 2 {
		b, err := c.Get(context.Background(), "big", func(context.Context) ([]byte, error) {
			return []byte(fmt.Sprint("0123456789", i)), nil
		})
		if err != nil || len(b) != 11 {
			t.Fatalf("get %d = %q, %v", i, b, err)
		}
	}
	if c.Size() != 0 {
		t.Fatalf("size = %d, want 0", c.Size())
	}
}

// TestLoadMany: one fetch loads several keys; a Get of one of them while
// it runs waits for it instead of fetching again; a load that finds any key
// cached or loading fetches nothing; an error caches nothing.
func TestLoadMany(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(1 << 20)
		ctx := context.Background()
		release := make(chan struct{})
		fetches := 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			did, err := c.LoadMany(ctx, []string{"a", "b"}, func(context.Context) ([][]byte, error) {
				fetches++
				<-release
				return [][]byte{[]byte("A"), []byte("B")}, nil
			})
			if !did || err != nil {
				t.Errorf("LoadMany = %v, %v", did, err)
			}
		}()
		synctest.Wait()
		if !c.Contains("b") {
			t.Fatal("b is not loading while LoadMany runs")
		}
		got := make(chan []byte)
		go func() {
			b, err := c.Get(ctx, "b", func(context.Context) ([]byte, error) {
				t.Error("Get fetched a key LoadMany is loading")
				return nil, nil
			})
			if err != nil {
				t.Error(err)
			}
			got <- b
		}()
		synctest.Wait()
		close(release)
		if b := <-got; string(b) != "B" {
			t.Fatalf("Get during LoadMany = %q, want B", b)
		}
		<-done
		if fetches != 1 {
			t.Fatalf("fetches = %d, want 1", fetches)
		}
		did, err := c.LoadMany(ctx, []string{"c", "a"}, func(context.Context) ([][]byte, error) {
			t.Error("LoadMany fetched although a is cached")
			return nil, nil
		})
		if did || err != nil {
			t.Fatalf("LoadMany with a cached key = %v, %v", did, err)
		}
		boom := errors.New("boom")
		if _, err := c.LoadMany(ctx, []string{"x", "y"}, func(context.Context) ([][]byte, error) { return nil, boom }); !errors.Is(err, boom) {
			t.Fatalf("LoadMany error = %v", err)
		}
		if c.Contains("x") || c.Contains("y") {
			t.Fatal("a failed load left keys behind")
		}
	})
}
