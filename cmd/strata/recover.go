package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/internal/jsready"
	"github.com/stratalog/strata/recovery"
)

// recoverConfig is everything `strata recover` is told.
type recoverConfig struct {
	storeConfig
	NATSURL      string
	NATSReplicas int

	FromBucket  bool
	Force       bool
	DryRun      bool
	Snapshot    string
	NoSnapshot  bool
	Concurrency int
	LogLevel    slog.Level
}

func parseRecoverFlags(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (recoverConfig, error) {
	var c recoverConfig
	c.NATSReplicas, c.Concurrency = 1, recovery.DefaultConcurrency
	defs := append(storeFlags(&c.storeConfig),
		flagDef{"nats-url", "the coordinator's NATS servers (comma-separated); empty: the embedded NATS under --data-dir, started for the recovery (no gateway may run on it)", (*stringValue)(&c.NATSURL)},
		flagDef{"nats-replicas", "JetStream replicas of the coordinator's KV buckets: 3 on a NATS cluster, 1 embedded", (*intValue)(&c.NATSReplicas)},
		flagDef{"log-level", "debug, info, warn or error", (*levelValue)(&c.LogLevel)},
	)
	locals := []flagDef{
		{"from-bucket", "rebuild the coordinator's metadata from the object store: the newest metadata snapshot plus the segment objects' footers (required)", (*boolValue)(&c.FromBucket)},
		{"force", "run even though the NATS already holds Strata metadata (what exists is kept; only what is missing is written)", (*boolValue)(&c.Force)},
		{"dry-run", "print what would be recovered from the bucket, without touching NATS", (*boolValue)(&c.DryRun)},
		{"snapshot", "the snapshot object to start from (default: the newest readable one under " + recovery.SnapshotPrefix + ")", (*stringValue)(&c.Snapshot)},
		{"no-snapshot", "ignore every snapshot: topics from footers alone, under generated names", (*boolValue)(&c.NoSnapshot)},
		{"concurrency", "segment footers read at once", (*intValue)(&c.Concurrency)},
	}
	if _, err := parseFlags("strata recover", defs, locals, args, lookupEnv, stderr); err != nil {
		return c, err
	}
	if err := c.storeConfig.check(); err != nil {
		return c, err
	}
	switch {
	case !c.FromBucket:
		return c, errors.New("--from-bucket is required (the only recovery there is)")
	case c.Snapshot != "" && c.NoSnapshot:
		return c, errors.New("--snapshot and --no-snapshot exclude each other")
	case c.Concurrency < 1 || c.Concurrency > 1024:
		return c, fmt.Errorf("--concurrency %d out of range 1..1024", c.Concurrency)
	case c.NATSReplicas < 1 || c.NATSReplicas > 5:
		return c, fmt.Errorf("--nats-replicas %d out of range 1..5", c.NATSReplicas)
	case c.NATSURL == "" && c.NATSReplicas != 1:
		return c, errors.New("--nats-replicas above 1 needs --nats-url: the embedded NATS is one node")
	}
	return c, nil
}

// runRecover is `strata recover --from-bucket`: it opens the coordinator on
// the NATS given (or the embedded one under the data dir), refuses one that
// already holds metadata unless --force, and rebuilds it from the bucket.
func runRecover(ctx context.Context, cfg recoverConfig, stdout, stderr io.Writer) error {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	natsLogger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: max(cfg.LogLevel, slog.LevelWarn)}))
	bucket, err := openBucket(ctx, cfg.storeConfig)
	if err != nil {
		return err
	}
	var store *coordinator.Store
	if !cfg.DryRun { // a dry run reads the bucket only, beside a running gateway if need be
		nc, closeNATS, _, err := connectNATS(serveConfig{storeConfig: cfg.storeConfig, NATSURL: cfg.NATSURL}, natsLogger)
		if err != nil {
			return err
		}
		defer closeNATS()
		js, err := jetstream.New(nc)
		if err != nil {
			return fmt.Errorf("jetstream: %w", err)
		}
		store, err = jsready.Open(ctx, logger, "coordinator", func(ctx context.Context) (*coordinator.Store, error) {
			return coordinator.Open(ctx, js, coordinator.Config{Replicas: cfg.NATSReplicas, Logger: logger})
		})
		if err != nil {
			return fmt.Errorf("open coordinator: %w", err)
		}
		holds, err := store.HoldsMetadata(ctx)
		if err != nil {
			return err
		}
		if holds && !cfg.Force {
			return errors.New("the NATS already holds Strata metadata (topics, partition state, offsets or transactional ids): " +
				"recovery is for an empty one; pass --force to add only what is missing")
		}
	}
	sum, err := recovery.Rebuild(ctx, recovery.Config{
		Bucket:      bucket,
		Store:       store,
		SnapshotKey: cfg.Snapshot,
		NoSnapshot:  cfg.NoSnapshot,
		Concurrency: cfg.Concurrency,
		DryRun:      cfg.DryRun,
		Logger:      logger,
	})
	if sum != nil {
		if werr := sum.Write(stdout); werr != nil && err == nil {
			err = werr
		}
		if sum.Snapshot == "" {
			logger.Warn("NO METADATA SNAPSHOT FOUND: topic names, configs, committed offsets and transactional ids are lost; topics get generated names")
		}
	}
	if err != nil {
		return err
	}
	if cfg.DryRun {
		fmt.Fprintln(stdout, "dry run: nothing written")
	}
	return nil
}
