package main

import (
	"context"
	"crypto/tls"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/testenv"
)

// TestTLSCluster: two gateways serve Kafka over mutual TLS. A franz-go
// client with a certificate from the cluster's CA produces in transactions
// over partitions both gateways lead, so the transaction coordinator sends
// markers to the other gateway, over TLS with its own certificate; a
// read_committed consumer reads exactly the committed records. A client
// without a certificate, one with a certificate from another CA, and a
// plaintext client are all refused.
func TestTLSCluster(t *testing.T) {
	const topic, partitions = "secure", 6
	dir := t.TempDir()
	ca := testenv.NewCA(t, "strata-test-ca")
	certFile, keyFile := ca.IssueFiles(t, dir, "gateway", 2)
	caFile := ca.PEMFile(t, dir)

	nats := testenv.StartNATSCluster(t, 3)
	store := sharedObjectStore(t)
	addrs := []string{freeLoopbackAddr(t), freeLoopbackAddr(t)}
	for i, addr := range addrs {
		startProcess(t, dir, addr, append([]string{"--nats-url", nats.URLs(), "--nats-monitor-url", nats.MonitorURLs(), "--nats-replicas", "3",
			"--node-id", strconv.Itoa(i + 1), "--gateway-lease", "2s", "--flush-interval", "20ms",
			"--listeners", "SSL://" + addr, "--ssl-cert-file", certFile, "--ssl-key-file", keyFile, "--ssl-client-ca-file", caFile, "--ssl-client-auth", "required"}, store...)...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	client := func(cfg *tls.Config, opts ...kgo.Opt) *kgo.Client {
		base := []kgo.Opt{kgo.SeedBrokers(addrs...)}
		if cfg != nil {
			base = append(base, kgo.DialTLSConfig(cfg))
		}
		cl, err := kgo.NewClient(append(base, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	for name, cfg := range map[string]*tls.Config{
		"no client certificate":         ca.ClientConfig(t, ""),
		"a certificate from another CA": clientWithCertFrom(t, ca, testenv.NewCA(t, "other")),
		"plaintext":                     nil,
	} {
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		err := client(cfg).Ping(pctx)
		pcancel()
		if err == nil {
			t.Errorf("a client with %s connected", name)
		}
	}

	trusted := ca.ClientConfig(t, "app")
	admin := kadm.NewClient(client(trusted))
	testenv.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		_, err := admin.CreateTopic(ctx, partitions, 1, nil, topic)
		return err
	})
	var leaders = map[int32]bool{}
	testenv.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		md, err := admin.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		for _, p := range md.Topics[topic].Partitions {
			leaders[p.Leader] = true
		}
		if len(leaders) < 2 {
			clear(leaders)
			return errFewLeaders
		}
		return nil
	})

	producer := client(trusted, kgo.TransactionalID("secure-txn"), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceTxn := func(from, n int, commit bool) {
		if err := producer.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := from; i < from+n; i++ {
			producer.Produce(ctx, &kgo.Record{Partition: int32(i % partitions), Key: []byte(strconv.Itoa(i)), Value: []byte("v" + strconv.Itoa(i))},
				func(r *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce %s: %v", r.Key, err)
					}
				})
		}
		// franz-go ends a transaction only with what has been flushed.
		if err := producer.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := producer.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end transaction (commit %v): %v", commit, err)
		}
	}
	produceTxn(0, 300, true)
	produceTxn(300, 300, false)
	produceTxn(600, 300, true)

	consumer := client(trusted, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for len(seen) < 600 {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 600 committed records", len(seen))
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if i, _ := strconv.Atoi(string(r.Key)); i >= 300 && i < 600 {
				t.Fatalf("read record %d of the aborted transaction", i)
			}
			if string(r.Value) != "v"+string(r.Key) {
				t.Fatalf("record %s holds %q", r.Key, r.Value)
			}
			if seen[string(r.Key)] {
				t.Fatalf("record %s read twice", r.Key)
			}
			seen[string(r.Key)] = true
		})
	}
}

var errFewLeaders = errors.New("the topic's partitions are not yet led by both gateways")

// clientWithCertFrom is ca's client configuration presenting a certificate
// that other issued.
func clientWithCertFrom(t *testing.T, ca, other *testenv.CA) *tls.Config {
	cfg := ca.ClientConfig(t, "")
	cfg.Certificates = other.ClientConfig(t, "intruder").Certificates
	return cfg
}
