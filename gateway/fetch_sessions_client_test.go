package gateway

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/tiered/batch"
)

// cacheGrabber is a metrics registry that keeps the gateway's fetch session
// cache when it registers, so a test can read it and move its clock.
type cacheGrabber struct {
	*prometheus.Registry
	mu    sync.Mutex
	cache *fetchSessionCache
}

func (g *cacheGrabber) Register(c prometheus.Collector) error {
	if fc, ok := c.(*fetchSessionCache); ok {
		g.mu.Lock()
		g.cache = fc
		g.mu.Unlock()
	}
	return g.Registry.Register(c)
}

func (g *cacheGrabber) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := g.Register(c); err != nil {
			panic(err)
		}
	}
}

// startSessionServer runs a gateway with slots session slots (0: the
// default) and returns it with its session cache.
func startSessionServer(t *testing.T, slots int) (*testServer, *fetchSessionCache) {
	t.Helper()
	g := &cacheGrabber{Registry: prometheus.NewRegistry()}
	s := startServer(t, serverOpts{configure: func(c *Config) {
		c.Registerer = g
		c.MaxIncrementalFetchSessionCacheSlots = slots
	}})
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cache == nil {
		t.Fatal("the gateway registered no fetch session cache")
	}
	return s, g.cache
}

// sessionView is what a test sees of a session.
type sessionView struct {
	id         int32
	epoch      int32
	partitions []int32 // sorted
	lastUsed   time.Time
}

func (c *fetchSessionCache) view() []sessionView {
	c.mu.Lock()
	sessions := slices.Collect(maps.Values(c.sessions))
	c.mu.Unlock()
	var out []sessionView
	for _, s := range sessions {
		s.mu.Lock()
		v := sessionView{id: s.id, epoch: s.epoch}
		for k := range s.parts {
			v.partitions = append(v.partitions, k.partition)
		}
		s.mu.Unlock()
		c.mu.Lock()
		v.lastUsed = s.lastUsed
		c.mu.Unlock()
		slices.Sort(v.partitions)
		out = append(out, v)
	}
	return out
}

func (c *fetchSessionCache) stats() (sessions, partitions int, evictions uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions), c.partitions, c.evictions
}

// setClock replaces the cache's clock.
func (c *fetchSessionCache) setClock(now func() time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

// produceRound writes n records to each partition of topic, valued
// "<round>-<partition>-<i>".
func produceRound(t *testing.T, s *testServer, topic string, partitions []int32, round, n int) {
	t.Helper()
	cl := s.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var rs []*kgo.Record
	for _, p := range partitions {
		for i := range n {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%d-%d-%d", round, p, i)})
		}
	}
	if err := cl.ProduceSync(t.Context(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func partitionRange(n int) []int32 {
	ps := make([]int32, n)
	for i := range ps {
		ps[i] = int32(i)
	}
	return ps
}

// consumeRound polls cl until it has n records of round from each partition
// of want (topic: partitions), checking that each partition's come in order,
// and fails on records of other partitions; records of earlier rounds, read
// again after a reset, are skipped.
func consumeRound(t *testing.T, cl *kgo.Client, round, n int, want map[string][]int32) {
	t.Helper()
	type tp struct {
		topic     string
		partition int32
	}
	got := map[tp]int{}
	total, wantTotal := 0, 0
	for _, ps := range want {
		wantTotal += n * len(ps)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for total < wantTotal {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("round %d: %d of %d records: %v", round, total, wantTotal, got)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Errorf("fetch %s/%d: %v", topic, p, err) })
		for _, r := range fs.Records() {
			var rr, rp, i int
			if _, err := fmt.Sscanf(string(r.Value), "%d-%d-%d", &rr, &rp, &i); err != nil {
				t.Fatalf("record %s/%d@%d %q", r.Topic, r.Partition, r.Offset, r.Value)
			}
			if rr < round {
				continue
			}
			k := tp{r.Topic, r.Partition}
			if !slices.Contains(want[r.Topic], r.Partition) || rr != round || int32(rp) != r.Partition || i != got[k] {
				t.Fatalf("round %d: record %q at %s/%d@%d, want record %d of that partition", round, r.Value, r.Topic, r.Partition, r.Offset, got[k])
			}
			got[k]++
			total++
		}
	}
}

// consumer is a consumer of topics from their start, without a group.
func consumer(t *testing.T, s *testServer, topics ...string) *kgo.Client {
	return s.client(t, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(300*time.Millisecond), kgo.MetadataMinAge(100*time.Millisecond))
}

// TestIncrementalFetchManyPartitions: a consumer of 500 partitions reads
// them all, in order, through one fetch session whose incremental fetches
// then carry the few partitions that get new data.
func TestIncrementalFetchManyPartitions(t *testing.T) {
	s, cache := startSessionServer(t, 0)
	const n = 500
	createTestTopic(t, s, "many", n, nil)
	all := partitionRange(n)
	produceRound(t, s, "many", all, 1, 3)

	cl := consumer(t, s, "many")
	consumeRound(t, cl, 1, 3, map[string][]int32{"many": all})
	var first sessionView
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		v := cache.view()
		if len(v) != 1 || len(v[0].partitions) != n || v[0].epoch < 2 {
			return fmt.Errorf("sessions %+v, want one of %d partitions past its first incremental fetch", v, n)
		}
		first = v[0]
		return nil
	})

	few := []int32{7, 250, 499}
	produceRound(t, s, "many", few, 2, 5)
	consumeRound(t, cl, 2, 5, map[string][]int32{"many": few})
	// The fetch that was in flight when first was taken may be the one
	// that brought round 2; the client's next fetch moves the epoch on.
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		v := cache.view()
		if len(v) != 1 || v[0].id != first.id || v[0].epoch <= first.epoch || len(v[0].partitions) != n {
			return fmt.Errorf("after round 2: sessions %+v, want session %d past epoch %d", v, first.id, first.epoch)
		}
		return nil
	})
}

// TestIncrementalFetchRaw follows one session through raw requests: the
// full fetch that opens it, an incremental fetch with no changes (no
// partitions), one woken by new data (that partition only), a wrong epoch,
// forgotten partitions, another connection, and closing.
func TestIncrementalFetchRaw(t *testing.T) {
	s, _ := startSessionServer(t, 0)
	createTestTopic(t, s, "inc", 3, nil)
	id := s.topicID(t, "inc")
	produce := func(p int32, n int) {
		recs := encodeBatch(t, batch.Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: records(n, 10)})
		if r := produceResult(t, dial(t, s.addr), produceRequest("inc", p, -1, recs)); r.ErrorCode != 0 {
			t.Fatalf("produce: %d", r.ErrorCode)
		}
	}
	fetch := func(session, epoch int32, wait int32, offsets map[int32]int64, forget ...int32) *kmsg.FetchRequest {
		r := kmsg.NewPtrFetchRequest()
		r.Version, r.MaxWaitMillis, r.MinBytes, r.MaxBytes = 16, wait, 1, 1<<20
		r.SessionID, r.SessionEpoch = session, epoch
		if len(offsets) > 0 {
			rt := kmsg.NewFetchRequestTopic()
			rt.TopicID = id
			for _, p := range slices.Sorted(maps.Keys(offsets)) {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, offsets[p], 1<<20
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
		if len(forget) > 0 {
			ft := kmsg.NewFetchRequestForgottenTopic()
			ft.TopicID, ft.Partitions = id, forget
			r.ForgottenTopics = append(r.ForgottenTopics, ft)
		}
		return r
	}
	// answered lists the partitions of resp with their record bytes.
	answered := func(resp *kmsg.FetchResponse) map[int32]int {
		out := map[int32]int{}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 {
					t.Fatalf("partition %d: error %d", rp.Partition, rp.ErrorCode)
				}
				out[rp.Partition] = len(rp.RecordBatches)
			}
		}
		return out
	}
	c := dial(t, s.addr)
	do := func(req *kmsg.FetchRequest) *kmsg.FetchResponse {
		t.Helper()
		return c.request(req).(*kmsg.FetchResponse)
	}

	produce(0, 2)
	resp := do(fetch(0, 0, 10, map[int32]int64{0: 0, 1: 0, 2: 0}))
	if resp.ErrorCode != 0 || resp.SessionID == 0 {
		t.Fatalf("full fetch: error %d, session %d", resp.ErrorCode, resp.SessionID)
	}
	session := resp.SessionID
	if got := answered(resp); len(got) != 3 || got[0] == 0 {
		t.Fatalf("full fetch answered %v, want all 3 partitions, 0 with records", got)
	}

	// Consumed partition 0: nothing has changed.
	resp = do(fetch(session, 1, 10, map[int32]int64{0: 2}))
	if got := answered(resp); resp.ErrorCode != 0 || resp.SessionID != session || len(got) != 0 {
		t.Fatalf("incremental fetch with no changes: error %d, session %d, partitions %v", resp.ErrorCode, resp.SessionID, got)
	}

	// A long poll woken by data in partition 1 answers partition 1 only.
	polled := make(chan *kmsg.FetchResponse, 1)
	go func() { polled <- do(fetch(session, 2, 30_000, nil)) }()
	produce(1, 1)
	select {
	case resp = <-polled:
	case <-time.After(20 * time.Second):
		t.Fatal("long poll of a session not woken by new data")
	}
	if got := answered(resp); len(got) != 1 || got[1] == 0 {
		t.Fatalf("woken incremental fetch answered %v, want partition 1 with records", got)
	}
	hw1 := resp.Topics[0].Partitions[0].HighWatermark

	// A wrong epoch (3 is next) is refused, and changes nothing.
	resp = do(fetch(session, 2, 10, nil))
	if resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code || resp.SessionID != 0 || len(resp.Topics) != 0 {
		t.Fatalf("wrong epoch: error %d, session %d, %d topics", resp.ErrorCode, resp.SessionID, len(resp.Topics))
	}

	// Forget partition 1 (consumed to hw1): new data there is not returned,
	// new data in partition 2 is.
	resp = do(fetch(session, 3, 10, nil, 1))
	if got := answered(resp); len(got) != 0 {
		t.Fatalf("forgetting answered %v", got)
	}
	produce(1, 1)
	produce(2, 1)
	resp = do(fetch(session, 4, 1000, nil))
	if got := answered(resp); len(got) != 1 || got[2] == 0 {
		t.Fatalf("after forgetting 1 answered %v, want partition 2 only (partition 1 at hw %d)", got, hw1)
	}

	// The session is this connection's only.
	other := dial(t, s.addr).request(fetch(session, 5, 10, nil)).(*kmsg.FetchResponse)
	if other.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("another connection's fetch: error %d", other.ErrorCode)
	}
	if resp = do(fetch(session+1, 5, 10, nil)); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown session: error %d", resp.ErrorCode)
	}

	// Epoch -1 closes it, answering without a session.
	resp = do(fetch(session, -1, 10, map[int32]int64{0: 2}))
	if resp.ErrorCode != 0 || resp.SessionID != 0 || len(resp.Topics) != 1 {
		t.Fatalf("closing fetch: error %d, session %d, %d topics", resp.ErrorCode, resp.SessionID, len(resp.Topics))
	}
	if resp = do(fetch(session, 5, 10, nil)); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("closed session: error %d", resp.ErrorCode)
	}
}

// logRecorder is a franz-go logger keeping its messages.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Level() kgo.LogLevel { return kgo.LogLevelInfo }
func (l *logRecorder) Log(_ kgo.LogLevel, msg string, _ ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, msg)
}

func (l *logRecorder) saw(substr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.msgs, func(m string) bool { return strings.Contains(m, substr) })
}

// TestFetchSessionEvictionConsumers: with two session slots, two consumers
// hold sessions and a third gets none (nothing may be evicted yet) but
// consumes all the same; once the sessions are older than the eviction
// time, a consumer of more partitions evicts one, whose consumer starts
// again with a full fetch; every consumer reads every record throughout.
func TestFetchSessionEvictionConsumers(t *testing.T) {
	s, cache := startSessionServer(t, 2)
	createTestTopic(t, s, "ev", 8, nil)
	createTestTopic(t, s, "ev2", 12, nil)
	ev, ev2 := partitionRange(8), partitionRange(12)
	produceRound(t, s, "ev", ev, 1, 2)

	logs := map[string]*logRecorder{}
	start := func(name string, topics ...string) *kgo.Client {
		logs[name] = &logRecorder{}
		return s.client(t, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(200*time.Millisecond), kgo.WithLogger(logs[name]))
	}
	a, b := start("a", "ev"), start("b", "ev")
	consumeRound(t, a, 1, 2, map[string][]int32{"ev": ev})
	consumeRound(t, b, 1, 2, map[string][]int32{"ev": ev})
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n, _, _ := cache.stats(); n != 2 {
			return fmt.Errorf("%d sessions, want 2", n)
		}
		return nil
	})

	// The cache is full of young sessions: d fetches without one.
	d := start("d", "ev")
	consumeRound(t, d, 1, 2, map[string][]int32{"ev": ev})
	if n, parts, evictions := cache.stats(); n != 2 || parts != 16 || evictions != 0 {
		t.Fatalf("with a third consumer: %d sessions of %d partitions, %d evictions; want 2 of 16, none", n, parts, evictions)
	}

	// Three minutes later, by the cache's clock, once a and b have fetched
	// since: both sessions may be evicted by a larger one.
	later := time.Now().Add(3 * time.Minute)
	cache.setClock(func() time.Time { return later })
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		for _, v := range cache.view() {
			if !v.lastUsed.Equal(later) {
				return fmt.Errorf("session %d last used %v", v.id, v.lastUsed)
			}
		}
		return nil
	})
	produceRound(t, s, "ev2", ev2, 1, 2)
	c := start("c", "ev2")
	consumeRound(t, c, 1, 2, map[string][]int32{"ev2": ev2})
	testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !logs["a"].saw("session was likely evicted") && !logs["b"].saw("session was likely evicted") {
			return fmt.Errorf("neither a nor b was told its session was evicted")
		}
		return nil
	})
	n, parts, evictions := cache.stats()
	if n != 2 || parts != 8+12 || evictions != 1 {
		t.Fatalf("after the eviction: %d sessions of %d partitions, %d evictions; want 2 of 20, 1", n, parts, evictions)
	}

	// Every consumer carries on.
	produceRound(t, s, "ev", ev, 2, 3)
	for name, cl := range map[string]*kgo.Client{"a": a, "b": b, "d": d} {
		t.Run(name, func(t *testing.T) { consumeRound(t, cl, 2, 3, map[string][]int32{"ev": ev}) })
	}
	produceRound(t, s, "ev2", ev2, 2, 3)
	consumeRound(t, c, 2, 3, map[string][]int32{"ev2": ev2})
}

// TestFetchSessionForgetsRemovedPartitions: a consumer that stops consuming
// half its partitions (a reassignment: franz-go opens a new session, which
// closes the old one) then pauses one more (franz-go forgets it in the same
// session, ForgottenTopics) keeps only the partitions it still consumes in
// its session, and only their new records reach it.
func TestFetchSessionForgetsRemovedPartitions(t *testing.T) {
	s, cache := startSessionServer(t, 0)
	createTestTopic(t, s, "fg", 6, nil)
	all := partitionRange(6)
	produceRound(t, s, "fg", all, 1, 2)
	offsets := map[int32]kgo.Offset{}
	for _, p := range all {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cl := s.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"fg": offsets}), kgo.FetchMaxWait(200*time.Millisecond))
	consumeRound(t, cl, 1, 2, map[string][]int32{"fg": all})
	sessionOf := func(want []int32) (id int32) {
		t.Helper()
		testenv.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			v := cache.view()
			if len(v) != 1 || !slices.Equal(v[0].partitions, want) {
				return fmt.Errorf("sessions %+v, want one of partitions %v", v, want)
			}
			id = v[0].id
			return nil
		})
		return id
	}
	sessionOf(all)

	kept := []int32{0, 1, 2}
	cl.RemoveConsumePartitions(map[string][]int32{"fg": {3, 4, 5}})
	produceRound(t, s, "fg", all, 2, 2)
	consumeRound(t, cl, 2, 2, map[string][]int32{"fg": kept})
	id := sessionOf(kept)

	cl.PauseFetchPartitions(map[string][]int32{"fg": {2}})
	produceRound(t, s, "fg", all, 3, 2)
	consumeRound(t, cl, 3, 2, map[string][]int32{"fg": {0, 1}})
	if got := sessionOf([]int32{0, 1}); got != id {
		t.Fatalf("pausing a partition changed the session from %d to %d, want it forgotten in the same session", id, got)
	}
}
