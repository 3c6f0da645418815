// Package confluentgo runs Confluent's Go client, confluent-kafka-go (which
// wraps librdkafka, through cgo), against a `strata serve` process: the
// producer and consumer with the schema registry serdes (avrov2, protobuf,
// jsonschema), schema evolution under FORWARD and BACKWARD as Confluent
// documents it, a refused incompatible change, and transactions: commit and
// abort seen by read_committed and read_uncommitted consumers, a
// consume-transform-produce round with SendOffsetsToTransaction, and a
// fenced zombie producer.
//
// It is a module of its own so the main module needs neither cgo nor
// librdkafka. The package holds tests only; each starts the binary named
// by $STRATA_BIN on free loopback ports with its own data dir and stops it
// with SIGTERM. Without $STRATA_BIN the tests skip, or fail when CI=true.
//
//	go build -o bin/strata ./cmd/strata
//	scripts/e2e-confluent-go.sh bin/strata
package confluentgo
