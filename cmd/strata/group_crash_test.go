package main

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupResumesAfterKill: a group member commits what it processed; strata is
// SIGKILLed and restarted; a member of the same group resumes exactly after the
// last commit: nothing committed is read again, nothing produced is skipped.
func TestGroupResumesAfterKill(t *testing.T) {
	const (
		topic = "jobs"
		n     = 2000
	)
	dir, addr := t.TempDir(), freeLoopbackAddr(t)
	args := []string{"--flush-interval", "20ms", "--log-level", "info"}
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
	first, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("resume"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.FetchMaxBytes(16<<10))
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

	second := newClient(t, addr, kgo.ConsumerGroup("resume"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
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
