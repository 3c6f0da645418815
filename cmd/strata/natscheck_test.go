package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/natscheck"
	"github.com/stratalog/strata/internal/testenv"
)

// TestNATSDurabilityCheckAtStart: against external NATS, strata starts only
// when it has verified the servers' durability, or when told
// --allow-unsafe-nats, which it then says loudly.
func TestNATSDurabilityCheckAtStart(t *testing.T) {
	ns := testenv.NATS(t)
	// serveUntilReady runs serve with args and returns its log once it
	// serves (stopping it then), or its error if it exits first.
	serveUntilReady := func(args ...string) (string, error) {
		t.Helper()
		s := serveInProcess(t, append([]string{"--listeners", "PLAINTEXT://127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--schema-registry-listen", "",
			"--data-dir", t.TempDir(), "--nats-url", ns.URL}, args...)...)
		select {
		case <-s.exited:
			return s.log.String(), s.err
		case <-s.serving:
		case <-time.After(60 * time.Second):
			t.Fatal("serve neither started nor failed within 60s")
		}
		if err := s.stop(); err != nil {
			t.Fatalf("serve stopped with %v", err)
		}
		return s.log.String(), nil
	}

	_, err := serveUntilReady()
	if !errors.Is(err, natscheck.ErrUnsafe) || !strings.Contains(err.Error(), "--allow-unsafe-nats") {
		t.Fatalf("start without monitoring URLs: %v; want a refusal naming --allow-unsafe-nats", err)
	}
	log, err := serveUntilReady("--allow-unsafe-nats")
	if err != nil || !strings.Contains(log, "UNSAFE NATS") {
		t.Fatalf("start with --allow-unsafe-nats: %v; the log must warn:\n%s", err, log)
	}
	log, err = serveUntilReady("--nats-monitor-url", ns.MonitorURL)
	if err != nil || !strings.Contains(log, "nats durability verified") || strings.Contains(log, "UNSAFE") {
		t.Fatalf("start with the monitoring URL: %v\n%s", err, log)
	}
}
