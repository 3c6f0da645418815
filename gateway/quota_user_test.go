package gateway

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/security/quota"
)

// TestQuotaPerUser: two SASL users with the same client id produce for 8 s;
// alice is under producer_byte_rate=1 MiB/s on her user entity, bob under
// nothing. alice's acknowledged rate, after the first burst, is within 20%
// of her quota and her responses carried throttle_time_ms; bob is never
// throttled and goes faster.
func TestQuotaPerUser(t *testing.T) {
	const (
		rate     = 1 << 20
		run      = 8 * time.Second
		measured = 2 * time.Second
	)
	b := newBackend(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alice := coordinator.QuotaEntity{{Type: quota.TypeUser, Name: sptr("alice")}}
	if _, err := b.store.AlterClientQuota(ctx, alice, func(v map[string]float64) error {
		v[quota.ProducerByteRate] = rate
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	g := startSASLGateway(t, b, saslOpts{configure: func(c *Config) {
		withQuotas(c)
		c.QuotaWindow = 100 * time.Millisecond // see TestQuotaProduceEnforced
	}})
	adm := g.admin(t)
	upsertUsers(t, adm,
		kadm.UpsertSCRAM{User: "alice", Mechanism: kadm.ScramSha512, Password: "alice-pw"},
		kadm.UpsertSCRAM{User: "bob", Mechanism: kadm.ScramSha512, Password: "bob-pw"})
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "by-alice", "by-bob"); err != nil {
		t.Fatal(err)
	}

	type producer struct {
		user, topic string
		hook        throttleHook
		acked       atomic.Int64
	}
	producers := []*producer{{user: "alice", topic: "by-alice"}, {user: "bob", topic: "by-bob"}}
	start := time.Now()
	runCtx, stop := context.WithTimeout(ctx, run)
	defer stop()
	var wg sync.WaitGroup
	for _, p := range producers {
		cl := g.saslClient(t, scram.Auth{User: p.user, Pass: p.user + "-pw"}.AsSha512Mechanism(),
			kgo.ClientID("app"), kgo.WithHooks(&p.hook), kgo.ProducerBatchCompression(kgo.NoCompression()),
			kgo.ProducerBatchMaxBytes(128<<10), kgo.MaxBufferedBytes(1<<20))
		wg.Go(func() {
			value := make([]byte, 16<<10)
			for runCtx.Err() == nil {
				cl.Produce(runCtx, &kgo.Record{Topic: p.topic, Value: value}, func(r *kgo.Record, err error) {
					if el := time.Since(start); err == nil && el >= measured && el < run {
						p.acked.Add(int64(len(r.Value)))
					}
				})
			}
		})
	}
	wg.Wait()

	span := (run - measured).Seconds()
	gotA, gotB := float64(producers[0].acked.Load())/span, float64(producers[1].acked.Load())/span
	t.Logf("alice: %.0f B/s, %d throttles; bob: %.0f B/s, %d throttles", gotA, producers[0].hook.count.Load(), gotB, producers[1].hook.count.Load())
	if gotA < 0.8*rate || gotA > 1.2*rate {
		t.Errorf("alice produced %.0f B/s, want within 20%% of %d", gotA, rate)
	}
	if producers[0].hook.count.Load() == 0 {
		t.Error("alice was never told of a throttle")
	}
	if n := producers[1].hook.count.Load(); n != 0 {
		t.Errorf("bob, without a quota, was throttled %d times", n)
	}
	if gotB < 1.5*rate {
		t.Errorf("bob produced %.0f B/s, want well over alice's quota", gotB)
	}
}
