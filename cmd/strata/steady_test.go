package main

import (
	"bufio"
	"context"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/internal/testenv"
)

// TestLifecycleSteadyState produces at a steady rate to a topic whose
// retention is 30 seconds, with the lifecycle running every 200ms, for two
// retention periods, sampling the bucket and the index every second: over
// the second period (split in halves), the objects stored and the index
// entries per partition must level off instead of growing with the data
// written, and the bytes stored must stay within 1.2 times the bytes
// retained.
func TestLifecycleSteadyState(t *testing.T) {
	const (
		topic      = "steady"
		partitions = 4
		retention  = 30 * time.Second
		run        = 2 * retention
		rate       = 1000 // records per second, 1 KiB each
	)
	nats := testenv.NATS(t)
	dir := t.TempDir()
	kafka, httpAddr := startServeAddrs(t, "--data-dir", dir, "--nats-url", nats.URL, "--nats-monitor-url", nats.MonitorURL,
		"--compaction-interval", "200ms", "--gc-grace", "1s", "--flush-interval", "50ms")
	ctx, cancel := context.WithTimeout(context.Background(), run+2*time.Minute)
	defer cancel()
	// segment.ms bounds the time a merged segment spans, and so how much
	// expires at once, as it does for Kafka's segments.
	createTopicWith(t, kafka, topic, partitions, map[string]string{"retention.ms": strconv.Itoa(int(retention.Milliseconds())), "segment.ms": "3000"})
	store, err := coordinator.Open(ctx, nats.JetStream(t), coordinator.Config{})
	if err != nil {
		t.Fatal(err)
	}

	producer := newClient(t, kafka, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(10*time.Millisecond))
	value := []byte(strings.Repeat("v", 1024))
	stop := make(chan struct{})
	produced := make(chan int)
	go func() {
		n := 0
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				produced <- n
				return
			case <-tick.C:
			}
			for range rate / 100 {
				producer.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(n)), Value: value}, func(_ *kgo.Record, err error) {
					if err != nil && ctx.Err() == nil {
						t.Errorf("produce: %v", err)
					}
				})
				n++
			}
		}
	}()

	type sample struct {
		objects                 int
		stored, retained        int64
		maxEntries              int
		commits, commitsSeconds float64
	}
	var samples []sample
	start := time.Now()
	for time.Since(start) < run {
		time.Sleep(time.Second) // the sampling period
		var s sample
		s.objects, s.stored = dirUsage(t, filepath.Join(dir, "objects", "segments"))
		// Every head is rewritten all the time here: a listing must still
		// hold them all (the collector marks from it).
		tps, err := store.Partitions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(tps) != partitions {
			t.Fatalf("the partition listing holds %d heads, want %d", len(tps), partitions)
		}
		for _, tp := range tps {
			st, _, err := store.LoadPartition(ctx, tp)
			if err != nil {
				t.Fatal(err)
			}
			s.maxEntries = max(s.maxEntries, len(st.Entries))
			for _, e := range st.Entries {
				if e.LastOffset >= st.LogStartOffset {
					s.retained += e.Length
				}
			}
		}
		s.commits, s.commitsSeconds = histogram(t, httpAddr, "strata_tiered_index_commit_duration_seconds")
		samples = append(samples, s)
	}
	close(stop)
	n := <-produced
	producer.Flush(ctx)

	// The halves of the second retention period.
	half := len(samples) / 4
	var middle, last sample
	var ratios float64
	for i, s := range samples {
		into := &middle
		switch {
		case i < 2*half:
			continue
		case i >= 3*half:
			into = &last
		}
		ratios += float64(s.stored) / float64(max(s.retained, 1))
		into.objects = max(into.objects, s.objects)
		into.maxEntries = max(into.maxEntries, s.maxEntries)
	}
	for i, s := range samples {
		var commitMs float64
		if i > 0 && s.commits > samples[i-1].commits {
			commitMs = 1000 * (s.commitsSeconds - samples[i-1].commitsSeconds) / (s.commits - samples[i-1].commits)
		}
		t.Logf("t=%2ds objects %4d stored %6.2f MiB retained %6.2f MiB (%.2fx) max entries/partition %3d, mean index commit %.1f ms",
			i+1, s.objects, float64(s.stored)/(1<<20), float64(s.retained)/(1<<20), float64(s.stored)/float64(max(s.retained, 1)), s.maxEntries, commitMs)
	}
	t.Logf("%d records produced over %s", n, run)
	if last.objects > middle.objects*5/4+2 {
		t.Errorf("objects grew from at most %d in the third quarter to %d in the fourth", middle.objects, last.objects)
	}
	if last.maxEntries > middle.maxEntries+16 || last.maxEntries > 128 {
		t.Errorf("index entries per partition grew from at most %d to %d", middle.maxEntries, last.maxEntries)
	}
	if mean := ratios / float64(len(samples)-2*half); mean > 1.2 {
		t.Errorf("over the second retention period, bytes stored were %.2f times the bytes retained on average, want at most 1.2", mean)
	} else {
		t.Logf("over the second retention period, bytes stored were %.2f times the bytes retained on average", mean)
	}
}

// dirUsage counts the files under dir and their bytes.
func dirUsage(t *testing.T, dir string) (files int, bytes int64) {
	t.Helper()
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // deleted while walking
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // deleted while walking
		}
		files++
		bytes += info.Size()
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return files, bytes
}

// histogram returns a histogram's count and sum from the gateway's /metrics.
func histogram(t *testing.T, addr, name string) (count, sum float64) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+"_count "); ok {
			count, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(line, name+"_sum "); ok {
			sum, _ = strconv.ParseFloat(v, 64)
		}
	}
	return count, sum
}

// startServeAddrs runs `strata serve` in-process with args added to loopback
// defaults, and returns the Kafka and HTTP addresses. Cleanup stops it and
// requires a clean exit.
func startServeAddrs(t *testing.T, args ...string) (kafka, httpAddr string) {
	t.Helper()
	return startServeWith(t, nil, args...)
}

// startServeWith is startServeAddrs with the parsed config handed to
// configure (if not nil) before serve starts, for the hooks tests set.
func startServeWith(t *testing.T, configure func(*serveConfig), args ...string) (kafka, httpAddr string) {
	t.Helper()
	base := []string{"--listeners", "PLAINTEXT://127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--schema-registry-listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "warn"}
	cfg, err := parseServeFlags(append(base, args...), os.LookupEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if configure != nil {
		configure(&cfg)
	}
	addrs := make(chan [2]net.Addr, 1)
	cfg.onServing = func(k, h net.Addr) { addrs <- [2]net.Addr{k, h} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, testWriter{t}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("serve did not stop within 60s")
		}
	})
	select {
	case a := <-addrs:
		return a[0].String(), a[1].String()
	case err := <-done:
		t.Fatalf("serve exited during start: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not start within 60s")
	}
	return "", ""
}
