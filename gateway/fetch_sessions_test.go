package gateway

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sessionClock is a settable clock for a session cache.
type sessionClock struct{ t time.Time }

func (c *sessionClock) now() time.Time          { return c.t }
func (c *sessionClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// testSessionConn is a connection of principal, enough for the cache.
func testSessionConn(principal string) *conn {
	c := &conn{}
	c.setPrincipal(principal)
	return c
}

// openTestSession opens a session of n partitions of one topic for c through
// the cache, as a full fetch with epoch 0 does, and returns its id (0: none).
func openTestSession(t *testing.T, cache *fetchSessionCache, c *conn, n int) int32 {
	t.Helper()
	req := sessionTestRequest(0, 0, n)
	f, code := cache.begin(c, req)
	if code != 0 {
		t.Fatalf("open: error %d", code)
	}
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return f.finish(resp).SessionID
}

// sessionTestRequest is a v16 fetch of partitions 0..n-1 of one topic.
func sessionTestRequest(id, epoch int32, n int) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.SessionID, req.SessionEpoch = 16, id, epoch
	rt := kmsg.NewFetchRequestTopic()
	rt.TopicID = [16]byte{1}
	for p := range n {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = int32(p)
		rt.Partitions = append(rt.Partitions, rp)
	}
	if n > 0 {
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// touch makes an incremental fetch of session id at epoch, naming no
// partition, and returns its error code.
func touch(cache *fetchSessionCache, c *conn, id, epoch int32) int16 {
	_, code := cache.begin(c, sessionTestRequest(id, epoch, 0))
	return code
}

// TestFetchSessionCacheEviction checks Kafka's eviction rules on a cache of
// two slots: a new session evicts the idlest one idle over 120 s, else the
// smallest one opened over 120 s ago if it is larger than that one, else
// none; and the partition bound evicts as the slots do.
func TestFetchSessionCacheEviction(t *testing.T) {
	type setup struct {
		sizes []int
		// after opening, the clock moves by age; then the sessions in used
		// fetch again.
		age  time.Duration
		used []int
	}
	tests := []struct {
		name    string
		setup   setup
		newSize int
		// maxPartitions overrides the partition bound when set.
		maxPartitions int
		opened        bool
		evicted       []int // indexes into setup.sizes
	}{
		{name: "room left", setup: setup{sizes: []int{5}}, newSize: 5, opened: true},
		{name: "full and young", setup: setup{sizes: []int{5, 5}}, newSize: 50},
		{name: "full, young and used", setup: setup{sizes: []int{5, 5}, age: time.Minute, used: []int{0, 1}}, newSize: 50},
		{name: "idle evicted whatever its size", setup: setup{sizes: []int{50, 5}, age: 3 * time.Minute, used: []int{1}}, newSize: 1, opened: true, evicted: []int{0}},
		{name: "idlest of two", setup: setup{sizes: []int{5, 5}, age: 3 * time.Minute}, newSize: 1, opened: true, evicted: []int{0}},
		{name: "old and smaller evicted by larger", setup: setup{sizes: []int{5, 8}, age: 3 * time.Minute, used: []int{0, 1}}, newSize: 6, opened: true, evicted: []int{0}},
		{name: "old, not smaller", setup: setup{sizes: []int{5, 8}, age: 3 * time.Minute, used: []int{0, 1}}, newSize: 5},
		{name: "partition bound", setup: setup{sizes: []int{5}, age: 3 * time.Minute, used: []int{0}}, maxPartitions: 10, newSize: 6, opened: true, evicted: []int{0}},
		{name: "partition bound, young", setup: setup{sizes: []int{5}}, maxPartitions: 10, newSize: 6},
		{name: "larger than the bound", setup: setup{sizes: []int{}}, maxPartitions: 10, newSize: 11},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &sessionClock{t: time.Unix(1_700_000_000, 0)}
			cache := newFetchSessionCache(Config{MaxIncrementalFetchSessionCacheSlots: 2})
			cache.now = clock.now
			if tc.maxPartitions > 0 {
				cache.maxPartitions = tc.maxPartitions
			}
			conns := make([]*conn, len(tc.setup.sizes))
			ids := make([]int32, len(tc.setup.sizes))
			for i, n := range tc.setup.sizes {
				conns[i] = testSessionConn("User:a")
				if ids[i] = openTestSession(t, cache, conns[i], n); ids[i] == 0 {
					t.Fatalf("session %d not opened", i)
				}
				clock.advance(time.Second) // distinct last uses, oldest first
			}
			clock.advance(tc.setup.age)
			for _, i := range tc.setup.used {
				if code := touch(cache, conns[i], ids[i], 1); code != 0 {
					t.Fatalf("session %d: error %d", i, code)
				}
			}
			id := openTestSession(t, cache, testSessionConn("User:b"), tc.newSize)
			if (id != 0) != tc.opened {
				t.Fatalf("opened %v, want %v", id != 0, tc.opened)
			}
			for i := range ids {
				evicted := slices.Contains(tc.evicted, i)
				if _, ok := cache.sessions[ids[i]]; ok == evicted {
					t.Errorf("session %d (size %d) in the cache: %v, want %v", i, tc.setup.sizes[i], ok, !evicted)
				}
			}
			if int(cache.evictions) != len(tc.evicted) {
				t.Errorf("%d evictions, want %d", cache.evictions, len(tc.evicted))
			}
			want := 0
			for _, s := range cache.sessions {
				want += s.size
			}
			if cache.partitions != want {
				t.Errorf("cache counts %d partitions, its sessions hold %d", cache.partitions, want)
			}
		})
	}
}

// TestFetchSessionUpdates checks the in-order part of incremental fetches:
// epochs, ownership, topic-id consistency, forgetting, closing, and the
// partition bound evicting a session that grows past it.
func TestFetchSessionUpdates(t *testing.T) {
	cache := newFetchSessionCache(Config{MaxIncrementalFetchSessionCacheSlots: 10})
	owner := testSessionConn("User:a")
	id := openTestSession(t, cache, owner, 4)

	if code := touch(cache, owner, id, 2); code != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("wrong epoch: error %d", code)
	}
	if code := touch(cache, testSessionConn("User:a"), id, 1); code != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("another connection: error %d", code)
	}
	if code := touch(cache, owner, id+1, 1); code != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown session: error %d", code)
	}
	byName := sessionTestRequest(id, 1, 0)
	byName.Version = 12
	if _, code := cache.begin(owner, byName); code != kerr.FetchSessionTopicIDError.Code {
		t.Fatalf("by name in a session by id: error %d", code)
	}

	// Epoch 1: add partition 9, forget 0 and 1; the fetch reads 2, 3, 9.
	req := sessionTestRequest(id, 1, 0)
	rt := kmsg.NewFetchRequestTopic()
	rt.TopicID = [16]byte{1}
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset = 9, 7
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ft := kmsg.NewFetchRequestForgottenTopic()
	ft.TopicID, ft.Partitions = [16]byte{1}, []int32{0, 1}
	req.ForgottenTopics = append(req.ForgottenTopics, ft)
	f, code := cache.begin(owner, req)
	if code != 0 {
		t.Fatalf("incremental: error %d", code)
	}
	var got []int32
	for _, rt := range f.req.Topics {
		for _, rp := range rt.Partitions {
			got = append(got, rp.Partition)
			if rp.Partition == 9 && rp.FetchOffset != 7 {
				t.Errorf("partition 9 at offset %d, want 7", rp.FetchOffset)
			}
		}
	}
	if len(got) != 3 || got[0] != 2 || got[1] != 3 || got[2] != 9 || cache.partitions != 3 {
		t.Fatalf("session reads %v (cache counts %d), want [2 3 9]", got, cache.partitions)
	}

	// Growing past the partition bound evicts the session.
	cache.maxPartitions = 4
	if _, code := cache.begin(owner, sessionTestRequest(id, 2, 6)); code != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("over the bound: error %d", code)
	}
	if len(cache.sessions) != 0 || cache.partitions != 0 || cache.evictions != 1 {
		t.Fatalf("after the bound: %d sessions, %d partitions, %d evictions", len(cache.sessions), cache.partitions, cache.evictions)
	}

	// Epoch -1 closes, from another connection of the same principal.
	cache.maxPartitions = maxFetchSessionCachePartitions
	id = openTestSession(t, cache, owner, 2)
	if _, code := cache.begin(testSessionConn("User:b"), sessionTestRequest(id, -1, 0)); code != 0 || len(cache.sessions) != 1 {
		t.Fatalf("another principal closed the session (error %d)", code)
	}
	if _, code := cache.begin(testSessionConn("User:a"), sessionTestRequest(id, -1, 0)); code != 0 || len(cache.sessions) != 0 {
		t.Fatalf("close: error %d, %d sessions left", code, len(cache.sessions))
	}
}

// TestWaitAnyChunks: past reflect.Select's limit of cases the watches wait in
// chunks, and any one of them, first or last, wakes the wait.
func TestWaitAnyChunks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		close int
	}{
		{"one", 1, 0},
		{"many, last", 1000, 999},
		{"chunked, first", maxSelectCases*2 + 10, 0},
		{"chunked, last", maxSelectCases*2 + 10, maxSelectCases*2 + 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			watches := make([]<-chan struct{}, tc.n)
			var target chan struct{}
			for i := range watches {
				ch := make(chan struct{})
				if i == tc.close {
					target = ch
				}
				watches[i] = ch
			}
			close(target)
			deadline := time.NewTimer(time.Minute)
			defer deadline.Stop()
			if !waitAny(t.Context(), deadline.C, watches) {
				t.Fatal("not woken by a closed watch")
			}
		})
	}
	expired := make(chan time.Time, 1)
	expired <- time.Now()
	if waitAny(t.Context(), expired, []<-chan struct{}{make(chan struct{})}) {
		t.Fatal("woken by a watch at the deadline")
	}
}
