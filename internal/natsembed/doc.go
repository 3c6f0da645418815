// Package natsembed runs a nats-server with JetStream inside the current
// process. `strata serve` uses it as the embedded default coordinator store and
// WAL, and tests use it (through internal/testenv) as a real NATS server.
//
// It owns the server's options and lifetime only. What lives in JetStream
// (KV buckets, WAL streams) belongs to coordinator and tiered/wal, and
// clustering policy for production belongs to whoever runs the external
// cluster.
//
// Invariants:
//   - JetStream always runs with file storage under Config.StoreDir and with
//     sync_interval "always" (Config has no way to turn it off); see Start.
//   - Messages may be up to MaxPayload (8 MiB): a WAL message carries whole
//     Kafka batches.
//   - HTTP monitoring (/varz, for the durability check) is off unless
//     Config.MonitorPort asks for it.
//   - Start returns only once the server accepts connections, and Shutdown
//     returns only once the server has stopped, so a store directory can be
//     reused by the next Start.
//   - The server's own log lines go to the injected *slog.Logger (nil
//     discards them); the server never installs signal handlers.
//
// Usage:
//
//	srv, err := natsembed.Start(natsembed.Config{StoreDir: dir})
//	if err != nil {
//		return err
//	}
//	defer srv.Shutdown()
//	nc, err := srv.Connect() // in-process: Port 0 opens no socket
//	if err != nil {
//		return err
//	}
//	defer nc.Close()
//	js, err := jetstream.New(nc)
package natsembed
