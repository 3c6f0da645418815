package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/internal/testenv"
	"github.com/stratalog/strata/security/quota"
)

// withQuotas gives a test gateway the coordinator's quota store.
func withQuotas(c *Config) { c.Quotas = c.Topics.(*coordinator.Store) }

func sptr(s string) *string { return &s }

// entity builds a kadm entity from "type=name" pairs, "<default>" for the
// default.
func entity(pairs ...string) kadm.ClientQuotaEntity {
	var e kadm.ClientQuotaEntity
	for _, p := range pairs {
		typ, name, _ := strings.Cut(p, "=")
		c := kadm.ClientQuotaEntityComponent{Type: typ}
		if name != "<default>" {
			c.Name = sptr(name)
		}
		e = append(e, c)
	}
	return e
}

func setOp(key string, v float64) kadm.AlterClientQuotaOp {
	return kadm.AlterClientQuotaOp{Key: key, Value: v}
}

func removeOp(key string) kadm.AlterClientQuotaOp {
	return kadm.AlterClientQuotaOp{Key: key, Remove: true}
}

// rendered is described quotas as sorted "entity: key=value ..." lines.
func rendered(qs kadm.DescribedClientQuotas) []string {
	var out []string
	for _, q := range qs {
		var vals []string
		for _, v := range q.Values {
			vals = append(vals, fmt.Sprintf("%s=%g", v.Key, v.Value))
		}
		slices.Sort(vals)
		out = append(out, q.Entity.String()+": "+strings.Join(vals, " "))
	}
	slices.Sort(out)
	return out
}

func alterOK(t *testing.T, adm *kadm.Client, ctx context.Context, entries ...kadm.AlterClientQuotaEntry) {
	t.Helper()
	res, err := adm.AlterClientQuotas(ctx, entries)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("alter %v: %v: %s", r.Entity, r.Err, r.ErrMessage)
		}
	}
}

func describeQuotas(t *testing.T, adm *kadm.Client, ctx context.Context, strict bool, comps ...kadm.DescribeClientQuotaComponent) []string {
	t.Helper()
	qs, err := adm.DescribeClientQuotas(ctx, strict, comps)
	if err != nil {
		t.Fatalf("describe %+v: %v", comps, err)
	}
	return rendered(qs)
}

func exactC(typ, name string) kadm.DescribeClientQuotaComponent {
	return kadm.DescribeClientQuotaComponent{Type: typ, MatchName: sptr(name), MatchType: 0}
}
func defaultC(typ string) kadm.DescribeClientQuotaComponent {
	return kadm.DescribeClientQuotaComponent{Type: typ, MatchType: 1}
}
func anyC(typ string) kadm.DescribeClientQuotaComponent {
	return kadm.DescribeClientQuotaComponent{Type: typ, MatchType: 2}
}

// TestQuotaAlterDescribe stores quotas on every kind of entity with kadm and
// describes them back with each match type, strict and not.
func TestQuotaAlterDescribe(t *testing.T) {
	s := startServer(t, serverOpts{configure: withQuotas})
	adm, ctx := adminClient(t, s)
	alterOK(t, adm, ctx,
		kadm.AlterClientQuotaEntry{Entity: entity("user=alice"), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", 1048576), setOp("consumer_byte_rate", 2097152)}},
		kadm.AlterClientQuotaEntry{Entity: entity("user=<default>"), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", 100)}},
		kadm.AlterClientQuotaEntry{Entity: entity("user=alice", "client-id=app"), Ops: []kadm.AlterClientQuotaOp{setOp("request_percentage", 50)}},
		kadm.AlterClientQuotaEntry{Entity: entity("client-id=<default>", "user=alice"), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", 10)}},
		kadm.AlterClientQuotaEntry{Entity: entity("client-id=app"), Ops: []kadm.AlterClientQuotaOp{setOp("consumer_byte_rate", 300), setOp("controller_mutation_rate", 2.5)}},
		kadm.AlterClientQuotaEntry{Entity: entity("client-id=<default>"), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", 400)}},
		kadm.AlterClientQuotaEntry{Entity: entity("ip=<default>"), Ops: []kadm.AlterClientQuotaOp{setOp("connection_creation_rate", 10)}},
	)
	const (
		alice        = "{user=alice}: consumer_byte_rate=2.097152e+06 producer_byte_rate=1.048576e+06"
		userDefault  = "{user=<default>}: producer_byte_rate=100"
		aliceApp     = "{user=alice, client-id=app}: request_percentage=50"
		aliceDefault = "{user=alice, client-id=<default>}: producer_byte_rate=10"
		app          = "{client-id=app}: consumer_byte_rate=300 controller_mutation_rate=2.5"
		appDefault   = "{client-id=<default>}: producer_byte_rate=400"
		ipDefault    = "{ip=<default>}: connection_creation_rate=10"
	)
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	for _, tc := range []struct {
		name   string
		strict bool
		comps  []kadm.DescribeClientQuotaComponent
		want   []string
	}{
		{"all", false, nil, sorted(alice, userDefault, aliceApp, aliceDefault, app, appDefault, ipDefault)},
		{"strict none", true, nil, nil},
		{"exact user", false, []kadm.DescribeClientQuotaComponent{exactC("user", "alice")}, sorted(alice, aliceApp, aliceDefault)},
		{"exact user strict", true, []kadm.DescribeClientQuotaComponent{exactC("user", "alice")}, sorted(alice)},
		{"default user", false, []kadm.DescribeClientQuotaComponent{defaultC("user")}, sorted(userDefault)},
		{"any user", false, []kadm.DescribeClientQuotaComponent{anyC("user")}, sorted(alice, userDefault, aliceApp, aliceDefault)},
		{"any user strict", true, []kadm.DescribeClientQuotaComponent{anyC("user")}, sorted(alice, userDefault)},
		{"user and any client", false, []kadm.DescribeClientQuotaComponent{exactC("user", "alice"), anyC("client-id")}, sorted(aliceApp, aliceDefault)},
		{"user and default client", true, []kadm.DescribeClientQuotaComponent{exactC("user", "alice"), defaultC("client-id")}, sorted(aliceDefault)},
		{"exact client", false, []kadm.DescribeClientQuotaComponent{exactC("client-id", "app")}, sorted(aliceApp, app)},
		{"default client strict", true, []kadm.DescribeClientQuotaComponent{defaultC("client-id")}, sorted(appDefault)},
		{"any ip", false, []kadm.DescribeClientQuotaComponent{anyC("ip")}, sorted(ipDefault)},
		{"nobody", false, []kadm.DescribeClientQuotaComponent{exactC("user", "carol")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := describeQuotas(t, adm, ctx, tc.strict, tc.comps...); !slices.Equal(got, tc.want) {
				t.Fatalf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tc.want, "\n\t"))
			}
		})
	}

	// Removing one key keeps the others; removing the last removes the
	// entity; removing a key it does not have is no error.
	alterOK(t, adm, ctx, kadm.AlterClientQuotaEntry{Entity: entity("user=alice"), Ops: []kadm.AlterClientQuotaOp{removeOp("consumer_byte_rate"), removeOp("request_percentage")}})
	if got := describeQuotas(t, adm, ctx, true, exactC("user", "alice")); !slices.Equal(got, []string{"{user=alice}: producer_byte_rate=1.048576e+06"}) {
		t.Fatalf("after removing one key: %v", got)
	}
	alterOK(t, adm, ctx, kadm.AlterClientQuotaEntry{Entity: entity("user=alice"), Ops: []kadm.AlterClientQuotaOp{removeOp("producer_byte_rate")}})
	if got := describeQuotas(t, adm, ctx, true, exactC("user", "alice")); len(got) != 0 {
		t.Fatalf("after removing the last key: %v", got)
	}

	// validate_only checks and writes nothing.
	res, err := adm.ValidateAlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: entity("user=bob"), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", 5)}},
		{Entity: entity("user=bob", "client-id=x"), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", -5)}},
	})
	if err != nil || len(res) != 2 || res[0].Err != nil || !errors.Is(res[1].Err, kerr.InvalidRequest) {
		t.Fatalf("validate only: %+v, %v", res, err)
	}
	if got := describeQuotas(t, adm, ctx, false, exactC("user", "bob")); len(got) != 0 {
		t.Fatalf("validate_only wrote %v", got)
	}
}

// TestQuotaAlterValidation checks Kafka's refusals, each INVALID_REQUEST
// with Kafka's message, and that a refused entry does not stop the others.
func TestQuotaAlterValidation(t *testing.T) {
	s := startServer(t, serverOpts{configure: withQuotas})
	adm, ctx := adminClient(t, s)
	cases := []struct {
		entry kadm.AlterClientQuotaEntry
		msg   string // "" when accepted
	}{
		{kadm.AlterClientQuotaEntry{Entity: entity("user=ok"), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", 1)}}, ""},
		{kadm.AlterClientQuotaEntry{Entity: entity("user=a"), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rat", 1)}}, "Invalid configuration key producer_byte_rat"},
		{kadm.AlterClientQuotaEntry{Entity: entity("user=b"), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", 0)}}, "Quota producer_byte_rate must be greater than 0"},
		{kadm.AlterClientQuotaEntry{Entity: entity("user=c"), Ops: []kadm.AlterClientQuotaOp{setOp("request_percentage", -1)}}, "Quota request_percentage must be greater than 0"},
		{kadm.AlterClientQuotaEntry{Entity: entity("user=d"), Ops: []kadm.AlterClientQuotaOp{setOp("consumer_byte_rate", 1.5)}}, "must be a Long value"},
		{kadm.AlterClientQuotaEntry{Entity: entity("user=e"), Ops: []kadm.AlterClientQuotaOp{setOp("connection_creation_rate", 1)}}, "Invalid configuration key connection_creation_rate"},
		{kadm.AlterClientQuotaEntry{Entity: entity("ip=10.0.0.1"), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", 1)}}, "Invalid configuration key producer_byte_rate"},
		{kadm.AlterClientQuotaEntry{Entity: entity("ip=10.0.0.1", "user=f"), Ops: []kadm.AlterClientQuotaOp{setOp("connection_creation_rate", 1)}}, "IP entity should not be combined"},
		{kadm.AlterClientQuotaEntry{Entity: entity("ip=not-an-ip"), Ops: []kadm.AlterClientQuotaOp{setOp("connection_creation_rate", 1)}}, "not-an-ip is not a valid IP"},
		{kadm.AlterClientQuotaEntry{Entity: entity("group=g"), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", 1)}}, "Unhandled client quota entity type: group"},
		{kadm.AlterClientQuotaEntry{Entity: entity("client-id="), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", 1)}}, "Empty client-id not supported"},
		{kadm.AlterClientQuotaEntry{Entity: entity("user=g", "user=h"), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", 1)}}, "duplicate entity entry user"},
		{kadm.AlterClientQuotaEntry{Entity: nil, Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", 1)}}, "Invalid empty client quota entity"},
		{kadm.AlterClientQuotaEntry{Entity: entity("user=i"), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", 1), setOp("producer_byte_rate", 2)}}, "Duplicate quota key producer_byte_rate"},
		{kadm.AlterClientQuotaEntry{Entity: entity("user=ok"), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", 9)}}, "Ignoring duplicate entity user=ok"},
		{kadm.AlterClientQuotaEntry{Entity: entity("ip=::1"), Ops: []kadm.AlterClientQuotaOp{setOp("connection_creation_rate", 3)}}, ""},
	}
	var entries []kadm.AlterClientQuotaEntry
	for _, c := range cases {
		entries = append(entries, c.entry)
	}
	res, err := adm.AlterClientQuotas(ctx, entries)
	if err != nil || len(res) != len(cases) {
		t.Fatalf("alter: %d results, %v", len(res), err)
	}
	for i, c := range cases {
		r := res[i]
		switch {
		case c.msg == "" && r.Err != nil:
			t.Errorf("%v: refused: %v: %s", c.entry.Entity, r.Err, r.ErrMessage)
		case c.msg != "" && (!errors.Is(r.Err, kerr.InvalidRequest) || !strings.Contains(r.ErrMessage, c.msg)):
			t.Errorf("%v: %v: %q; want INVALID_REQUEST with %q", c.entry.Entity, r.Err, r.ErrMessage, c.msg)
		}
	}
	// Only the accepted entries are stored, the first of a duplicate.
	want := []string{"{ip=::1}: connection_creation_rate=3", "{user=ok}: producer_byte_rate=1"}
	if got := describeQuotas(t, adm, ctx, false); !slices.Equal(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
}

// TestQuotaDescribeErrors checks the top-level errors of a bad filter.
func TestQuotaDescribeErrors(t *testing.T) {
	s := startServer(t, serverOpts{configure: withQuotas})
	adm, ctx := adminClient(t, s)
	for _, tc := range []struct {
		comps []kadm.DescribeClientQuotaComponent
		code  error
		msg   string
	}{
		{[]kadm.DescribeClientQuotaComponent{anyC("group")}, kerr.UnsupportedVersion, "Unsupported entity type group"},
		{[]kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 0}}, kerr.InvalidRequest, "MATCH_TYPE_EXACT"},
		{[]kadm.DescribeClientQuotaComponent{anyC("user"), defaultC("user")}, kerr.InvalidRequest, "cannot appear more than once"},
		{[]kadm.DescribeClientQuotaComponent{anyC("ip"), anyC("user")}, kerr.InvalidRequest, "IP filter component"},
	} {
		_, err := adm.DescribeClientQuotas(ctx, false, tc.comps)
		var em *kadm.ErrAndMessage
		if !errors.Is(err, tc.code) || !errors.As(err, &em) || !strings.Contains(em.ErrMessage, tc.msg) {
			t.Errorf("describe %+v: %v; want %v with %q", tc.comps, err, tc.code, tc.msg)
		}
	}
}

// TestQuotaNoStore checks a gateway without a quota store: both APIs answer
// UNSUPPORTED_VERSION, and nothing crashes.
func TestQuotaNoStore(t *testing.T) {
	s := startServer(t, serverOpts{})
	adm, ctx := adminClient(t, s)
	if _, err := adm.DescribeClientQuotas(ctx, false, nil); !errors.Is(err, kerr.UnsupportedVersion) {
		t.Fatalf("describe: %v, want UNSUPPORTED_VERSION", err)
	}
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: entity("user=a"), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", 1)}}})
	if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.UnsupportedVersion) {
		t.Fatalf("alter: %+v, %v; want UNSUPPORTED_VERSION", res, err)
	}
	if n := s.logs.panics(); n != 0 {
		t.Fatalf("%d panics", n)
	}
}

// TestQuotaSecondGateway checks that quotas altered through one gateway are
// seen by another on the same backend within a second: in its describe, and
// in the quota table its enforcement keeps from the watch.
func TestQuotaSecondGateway(t *testing.T) {
	b := newBackend(t, 0)
	g1 := b.gateway(t, serverOpts{configure: withQuotas}, 0, "", false)
	g2 := b.gateway(t, serverOpts{configure: withQuotas}, 1, "", false)
	adm1, ctx := adminClient(t, g1)
	adm2, _ := adminClient(t, g2)

	// The second gateway's enforcement, run as Server.Run runs it.
	q := newQuotaEnforcer(&Config{Quotas: b.store, Logger: slog.New(slog.DiscardHandler)})
	qctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); q.run(qctx) }()
	t.Cleanup(func() { cancel(); <-done })

	appliesWithin := func(want float64, ok bool) {
		t.Helper()
		testenv.CheckFor(t, time.Second, 10*time.Millisecond, func() error {
			got, _, has := q.limits.Resolve(quota.Produce, "alice", "app")
			if has != ok || got != want {
				return fmt.Errorf("enforced quota %v (%v), want %v (%v)", got, has, want, ok)
			}
			return nil
		})
	}
	alterOK(t, adm1, ctx, kadm.AlterClientQuotaEntry{Entity: entity("user=alice"), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", 4096)}})
	testenv.CheckFor(t, time.Second, 10*time.Millisecond, func() error {
		if got := describeQuotas(t, adm2, ctx, false); !slices.Equal(got, []string{"{user=alice}: producer_byte_rate=4096"}) {
			return fmt.Errorf("second gateway describes %v", got)
		}
		return nil
	})
	appliesWithin(4096, true)

	alterOK(t, adm1, ctx, kadm.AlterClientQuotaEntry{Entity: entity("user=alice", "client-id=app"), Ops: []kadm.AlterClientQuotaOp{setOp("producer_byte_rate", 512)}})
	appliesWithin(512, true)
	alterOK(t, adm2, ctx,
		kadm.AlterClientQuotaEntry{Entity: entity("user=alice", "client-id=app"), Ops: []kadm.AlterClientQuotaOp{removeOp("producer_byte_rate")}},
		kadm.AlterClientQuotaEntry{Entity: entity("user=alice"), Ops: []kadm.AlterClientQuotaOp{removeOp("producer_byte_rate")}})
	appliesWithin(0, false)
}

// quotaTestServer is a Server with just what the enforcement functions use,
// for driving them directly.
func quotaTestServer(t *testing.T, quotas map[quota.Entity]quota.Values) *Server {
	t.Helper()
	cfg := Config{Quotas: &coordinator.Store{}, Logger: slog.New(slog.DiscardHandler)}
	q := newQuotaEnforcer(&cfg)
	q.limits.Replace(quotas)
	return &Server{cfg: cfg, quotas: q, now: time.Now}
}

func quotaTestConn(s *Server, principal, clientID string) *conn {
	c := &conn{s: s, clientID: clientID, remote: "test"}
	c.setPrincipal(principal)
	return c
}

// stubAPI answers every request with resp.
func stubAPI(key int16, resp kmsg.Response) api {
	return api{key: key, handle: func(*Server, context.Context, *conn, kmsg.Request) (reply, error) { return respond(resp), nil }}
}

// mutedFor is how much longer mute holds the connection.
func mutedFor(mute *throttleUntil) time.Duration {
	return time.Until(time.Unix(0, mute.unixNano.Load()))
}

func TestQuotaClient(t *testing.T) {
	s := quotaTestServer(t, nil)
	for _, tc := range []struct{ principal, user string }{
		{"User:alice", "alice"},
		{AnonymousPrincipal, "ANONYMOUS"},
		{"User:CN=a,O=b", "CN=a,O=b"},
	} {
		if got := quotaTestConn(s, tc.principal, "app").quotaClient(); got != (quotaClient{user: tc.user, clientID: "app"}) {
			t.Errorf("%s: %+v, want user %q", tc.principal, got, tc.user)
		}
	}
}

// TestQuotaProduceThrottle drives a produce over its quota through
// startQuota: the response carries KIP-219's throttle and the connection is
// muted for it, while another client id is left alone.
func TestQuotaProduceThrottle(t *testing.T) {
	s := quotaTestServer(t, map[quota.Entity]quota.Values{{ClientID: quota.Named("app")}: {quota.ProducerByteRate: 1000}})
	ctx := t.Context()
	for _, tc := range []struct {
		clientID string
		acks0    bool
		want     time.Duration
	}{
		// 20000 bytes over the 10 s span is 2000 B/s against 1000:
		// (2000-1000)/1000 × 10 s.
		{"app", false, 10 * time.Second},
		{"other", false, 0},
		// acks=0: no response, but the connection is muted all the
		// same; the rate is now 4000 B/s, 30 s capped at 11.
		{"app", true, 11 * time.Second},
	} {
		c := quotaTestConn(s, "User:alice", tc.clientID)
		var mute throttleUntil
		var resp kmsg.Response = &kmsg.ProduceResponse{Version: 9}
		if tc.acks0 {
			resp = nil
		}
		rep, err := c.startQuota(ctx, stubAPI(produceKey, resp), &kmsg.ProduceRequest{Version: 9}, 20000, s.now(), &mute)
		if err != nil {
			t.Fatal(err)
		}
		got := rep(ctx)
		if tc.acks0 {
			if got != nil {
				t.Fatalf("acks=0 answered %v", got)
			}
		} else if ms := got.(*kmsg.ProduceResponse).ThrottleMillis; ms != throttleMillis(tc.want) {
			t.Fatalf("%s: throttle_time_ms %d, want %d", tc.clientID, ms, tc.want.Milliseconds())
		}
		if m := mutedFor(&mute); m > tc.want || (tc.want > 0 && m < tc.want-time.Second) {
			t.Fatalf("%s: muted for %v, want about %v", tc.clientID, m, tc.want)
		}
	}
}

// TestQuotaFetchThrottle checks Kafka's fetch throttling: a response that
// takes the client over its quota is replaced by an empty one carrying the
// throttle, its bytes are not counted, and max_bytes is capped to one quota
// window.
func TestQuotaFetchThrottle(t *testing.T) {
	s := quotaTestServer(t, map[quota.Entity]quota.Values{{User: quota.Default()}: {quota.ConsumerByteRate: 1000}})
	ctx := t.Context()
	c := quotaTestConn(s, "User:bob", "consumer")
	fetched := func(n int) *kmsg.FetchResponse {
		resp := &kmsg.FetchResponse{Version: 12}
		p := kmsg.NewFetchResponseTopicPartition()
		p.RecordBatches = make([]byte, n)
		resp.Topics = []kmsg.FetchResponseTopic{{Topic: "t", Partitions: []kmsg.FetchResponseTopicPartition{p}}}
		return resp
	}
	fetch := func(n int) (*kmsg.FetchResponse, *kmsg.FetchRequest, *throttleUntil) {
		var mute throttleUntil
		req := &kmsg.FetchRequest{Version: 12, MaxBytes: 50 << 20}
		rep, err := c.startQuota(ctx, stubAPI(1, fetched(n)), req, 100, s.now(), &mute)
		if err != nil {
			t.Fatal(err)
		}
		return rep(ctx).(*kmsg.FetchResponse), req, &mute
	}

	resp, req, mute := fetch(20000)
	if req.MaxBytes != 10000 {
		t.Fatalf("max_bytes capped to %d, want 10000 (1000 B/s × 10 windows)", req.MaxBytes)
	}
	if len(resp.Topics) != 0 || resp.ThrottleMillis != 10000 {
		t.Fatalf("over quota: %d topics, throttle %d ms; want an empty response throttled 10000 ms", len(resp.Topics), resp.ThrottleMillis)
	}
	if m := mutedFor(mute); m < 9*time.Second {
		t.Fatalf("muted for %v after a throttled fetch", m)
	}
	// The refused bytes were taken back: a fetch within the quota passes.
	resp, _, _ = fetch(5000)
	if len(resp.Topics) != 1 || resp.ThrottleMillis != 0 {
		t.Fatalf("within quota: %d topics, throttle %d ms", len(resp.Topics), resp.ThrottleMillis)
	}
}

// TestQuotaRequestTime checks request_percentage: time spent serving a
// request counts against it, throttles are capped at one window, and
// ApiVersions is exempt.
func TestQuotaRequestTime(t *testing.T) {
	s := quotaTestServer(t, map[quota.Entity]quota.Values{{User: quota.Named("alice")}: {quota.RequestPercentage: 1}})
	ctx := t.Context()
	c := quotaTestConn(s, "User:alice", "app")
	for _, tc := range []struct {
		key  int16
		resp kmsg.Response
		want int32
	}{
		{18, &kmsg.ApiVersionsResponse{Version: 3}, 0},
		// 500 ms of a 10 s span is 5% of a thread against 1%: 40 s,
		// capped at the one-second window.
		{3, &kmsg.MetadataResponse{Version: 12}, 1000},
	} {
		var mute throttleUntil
		rep, err := c.startQuota(ctx, stubAPI(tc.key, tc.resp), kmsg.RequestForKey(tc.key), 100, s.now().Add(-500*time.Millisecond), &mute)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := rep(ctx).(kmsg.ThrottleResponse).Throttle()
		if got != tc.want {
			t.Errorf("%s: throttle %d ms, want %d", kmsg.NameForKey(tc.key), got, tc.want)
		}
	}
}

// TestQuotaNoEnforcer checks that without quotas startQuota is start.
func TestQuotaNoEnforcer(t *testing.T) {
	s := &Server{cfg: Config{Logger: slog.New(slog.DiscardHandler)}, now: time.Now}
	c := quotaTestConn(s, AnonymousPrincipal, "app")
	var mute throttleUntil
	rep, err := c.startQuota(t.Context(), stubAPI(produceKey, &kmsg.ProduceResponse{Version: 9}), &kmsg.ProduceRequest{Version: 9}, 1<<30, s.now(), &mute)
	if err != nil {
		t.Fatal(err)
	}
	if ms := rep(t.Context()).(*kmsg.ProduceResponse).ThrottleMillis; ms != 0 || mute.unixNano.Load() != 0 {
		t.Fatalf("throttled %d ms without quotas", ms)
	}
}

// TestThrottleUntilWait checks the read loop's wait: it lasts until the
// mute's end, and a cancelled context ends it early.
func TestQuotaThrottleUntilWait(t *testing.T) {
	var mute throttleUntil
	if err := mute.wait(t.Context()); err != nil {
		t.Fatalf("wait without a mute: %v", err)
	}
	mute.extend(time.Now().Add(50 * time.Millisecond))
	mute.extend(time.Now()) // an earlier end does not shorten it
	start := time.Now()
	if err := mute.wait(t.Context()); err != nil || time.Since(start) < 45*time.Millisecond {
		t.Fatalf("wait returned after %v: %v", time.Since(start), err)
	}
	mute.extend(time.Now().Add(time.Hour))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := mute.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a cancelled context: %v", err)
	}
}
