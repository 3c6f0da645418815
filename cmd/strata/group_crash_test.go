package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
)

// TestGroupResumesAfterKill: a group member commits what it processed; strata is
// SIGKILLed and restarted; a member of the same group resumes exactly after the
// last commit: nothing committed is read again, nothing produced is skipped.
// It runs with the classic protocol and with KIP-848's. The group's
// membership outlives the kill, so the dead first member holds its
// partitions until its session (6 s here) expires, as in Kafka.
func TestGroupResumesAfterKill(t *testing.T) {
	t.Run("classic", func(t *testing.T) { testGroupResumesAfterKill(t, kgo.SessionTimeout(6*time.Second)) })
	t.Run("consumer", func(t *testing.T) { testGroupResumesAfterKill(t, kgo.ServerSideBalancer()) })
}

func testGroupResumesAfterKill(t *testing.T, groupOpts ...kgo.Opt) {
	const (
		topic = "jobs"
		n     = 2000
	)
	dir, addr := t.TempDir(), freeLoopbackAddr(t)
	args := []string{"--flush-interval", "20ms", "--log-level", "info", "--group-consumer-session-timeout", "6s"}
	p := startProcess(t, dir, addr, args...)
	createTopic(t, addr, topic, 4)
	producer := newClient(t, addr, kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(i % 10)), Value: fmt.Appendf(nil, "%06d", i)})
	}
	if err := producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// First member: read about half, commit exactly what was read.
	first, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumerGroup("resume"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.FetchMaxBytes(16 << 10)}, groupOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	processed := map[string]bool{}
	for len(processed) < n/2 {
		fs := first.PollRecords(ctx, 100)
		if ctx.Err() != nil {
			t.Fatalf("first member read %d records", len(processed))
		}
		fs.EachRecord(func(r *kgo.Record) { processed[string(r.Value)] = true })
		if err := first.CommitRecords(ctx, fs.Records()...); err != nil {
			t.Fatal(err)
		}
	}
	committed := len(processed)
	p.kill(t)
	first.Close() // its leave cannot reach a dead server; that is the point
	p = startProcess(t, dir, addr, args...)

	second := newClient(t, addr, append([]kgo.Opt{kgo.ConsumerGroup("resume"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, groupOpts...)...)
	for len(processed) < n {
		fs := second.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("after restart: %d of %d records seen", len(processed), n)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error (retried): %v", err) })
		for _, r := range fs.Records() {
			if processed[string(r.Value)] {
				t.Fatalf("record %s was committed before the kill and read again", r.Value)
			}
			processed[string(r.Value)] = true
		}
	}
	t.Logf("%d records committed before the kill, %d read after the restart", committed, n-committed)
}

// TestGroupSurvivesRestart: three live members of a group read a topic under
// steady production while strata is SIGKILLed and restarted under them. They
// rejoin on their own and, between them, read every acknowledged record:
// nothing is skipped. Records read but not yet committed at the kill may be
// read again (at-least-once), and are counted. Classic and KIP-848 protocols.
func TestGroupSurvivesRestart(t *testing.T) {
	t.Run("classic", func(t *testing.T) { testGroupSurvivesRestart(t, kgo.SessionTimeout(6*time.Second)) })
	t.Run("consumer", func(t *testing.T) { testGroupSurvivesRestart(t, kgo.ServerSideBalancer()) })
}

func testGroupSurvivesRestart(t *testing.T, groupOpts ...kgo.Opt) {
	const topic = "live"
	dir, addr := t.TempDir(), freeLoopbackAddr(t)
	args := []string{"--flush-interval", "20ms", "--group-consumer-heartbeat-interval", "250ms"}
	p := startProcess(t, dir, addr, args...)
	createTopic(t, addr, topic, 6)

	reads := startGroupMembers(t, addr, 3, append([]kgo.Opt{kgo.ConsumerGroup("live-group"), kgo.ConsumeTopics(topic)}, groupOpts...)...)

	// Produce in the background until told to stop; kgo retries through the
	// restart, so every record is eventually acknowledged or the test fails.
	producer := newClient(t, addr, kgo.DefaultProduceTopic(topic))
	var ackedMu sync.Mutex
	var acked []string
	stopProducing := make(chan struct{})
	produced := make(chan error, 1)
	go func() {
		for i := 0; ; i += 10 {
			select {
			case <-stopProducing:
				produced <- nil
				return
			default:
			}
			recs := make([]*kgo.Record, 10)
			for j := range recs {
				recs[j] = &kgo.Record{Key: []byte(strconv.Itoa((i + j) % 20)), Value: fmt.Appendf(nil, "%06d", i+j)}
			}
			pctx, pcancel := context.WithTimeout(context.Background(), 2*time.Minute)
			err := producer.ProduceSync(pctx, recs...).FirstErr()
			pcancel()
			if err != nil {
				produced <- err
				return
			}
			ackedMu.Lock()
			for _, r := range recs {
				acked = append(acked, string(r.Value))
			}
			ackedMu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()

	ackedCount := func() int { ackedMu.Lock(); defer ackedMu.Unlock(); return len(acked) }
	testenv.CheckFor(t, time.Minute, 50*time.Millisecond, func() error {
		if n := reads.distinct(); n < 300 {
			return fmt.Errorf("group read %d records", n)
		}
		return nil
	})
	p.kill(t)
	p = startProcess(t, dir, addr, args...)
	before := ackedCount()
	testenv.CheckFor(t, 2*time.Minute, 50*time.Millisecond, func() error {
		if n := ackedCount(); n < before+300 {
			return fmt.Errorf("%d records acknowledged after the restart", n-before)
		}
		return nil
	})
	close(stopProducing)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}

	ackedMu.Lock()
	all := slices.Clone(acked)
	ackedMu.Unlock()
	again := reads.waitAll(t, all)
	t.Logf("%d records acknowledged and read across the restart, %d read more than once", len(all), again)
}

// groupReads counts, by value, what the members of a group read.
type groupReads struct {
	mu    sync.Mutex
	count map[string]int
}

// startGroupMembers starts n group members (opts name the group and topic)
// reading from the start and committing every 200 ms, until the test ends.
func startGroupMembers(t *testing.T, broker string, n int, opts ...kgo.Opt) *groupReads {
	t.Helper()
	g := &groupReads{count: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for range n {
		cl := newClient(t, broker, append([]kgo.Opt{kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.AutoCommitInterval(200 * time.Millisecond), kgo.MetadataMinAge(250 * time.Millisecond)}, opts...)...)
		wg.Go(func() {
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				g.mu.Lock()
				fs.EachRecord(func(r *kgo.Record) { g.count[string(r.Value)]++ })
				g.mu.Unlock()
			}
		})
	}
	return g
}

func (g *groupReads) distinct() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.count)
}

// waitAll waits until every one of values has been read, and returns how many
// were read more than once.
func (g *groupReads) waitAll(t *testing.T, values []string) (again int) {
	t.Helper()
	testenv.CheckFor(t, 2*time.Minute, 100*time.Millisecond, func() error {
		g.mu.Lock()
		defer g.mu.Unlock()
		missing := 0
		for _, v := range values {
			if g.count[v] == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d acknowledged records not read by the group", missing, len(values))
		}
		return nil
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, n := range g.count {
		if n > 1 {
			again++
		}
	}
	return again
}
