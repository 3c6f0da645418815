package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	xscram "github.com/xdg-go/scram"
	"golang.org/x/sync/errgroup"

	"github.com/stratalog/strata/internal/testenv"
)

// The security workload (see BenchmarkSecurity).
const (
	// Throughput: secRounds rounds, each producing secBytes of recordBytes
	// records to a new partitions-partition topic on each gateway and
	// reading them back; the PLAINTEXT gateway goes first in odd rounds,
	// the secured one in even rounds, so drift on the machine falls on
	// both alike. One run swings by 2x on a shared machine: hence four.
	secBytes  = 256 << 20
	secRounds = 4
	// The producer: Kafka's defaults (acks=all and idempotence, linger.ms
	// 5 since Kafka 4.0, compression.type none), but batches of up to
	// max.request.size, 1 MiB, rather than batch.size's 16 KiB.
	secLinger     = 5 * time.Millisecond
	secBatchBytes = 1 << 20
	// Logins: loginRounds rounds of (PLAINTEXT connections, SASL_PLAINTEXT
	// logins, SASL_SSL logins), loginCount of each from loginWorkers
	// goroutines, after loginWarmup of each.
	loginCount   = 500
	loginWorkers = 8
	loginWarmup  = 20
	loginRounds  = 2
	// Flood: floodConns connections each send a frame header claiming
	// floodFrameBytes, while floodConns more send nothing and stay open,
	// dialled floodDialers at a time.
	floodConns      = 2000
	floodFrameBytes = 64 << 20
	floodDialers    = 32
	// preAuthFrameCap is the gateway's cap on a frame before a login
	// (gateway's maxPreAuthFrameBytes, unexported there).
	preAuthFrameCap = 64 << 10
	// The secured gateway's users and the group the bench user may read.
	adminUser, adminPassword = "admin", "admin-secret"
	benchUser, benchPassword = "bench", "bench-secret"
	secGroup                 = "bench-group"
	// secOpTimeout bounds one connection of the logins phase, and how long
	// a flooding connection waits for the gateway to close it.
	secOpTimeout = 2 * time.Minute
)

// secThroughputRun is one produce-then-consume run on one gateway.
type secThroughputRun struct {
	round      int
	secured    bool
	produce    latencies // per-record acknowledgement latency, and MB/s
	consumeMBs float64
	// produceCPU and consumeCPU are the gateway's, the bench process's and
	// the host's CPU over each half.
	produceCPU, consumeCPU cpuSpan
}

// loginRun is one round of one kind of connection.
type loginRun struct {
	round int
	kind  string
	run   rateRun
}

// floodResult is what the unauthenticated flood did to the gateway.
type floodResult struct {
	// rssBefore is the gateway's VmRSS before the flood; rssHeld while the
	// idle connections were held, after every oversized one was closed;
	// hwm its VmHWM (peak RSS since it started) then. Bytes.
	rssBefore, rssHeld, hwm int64
	// closed counts the oversized connections the gateway closed.
	closed int
	// badRequests and refused are the deltas of the gateway's
	// strata_gateway_bad_requests_total and _connections_refused_total;
	// held is strata_gateway_connections while the idle ones were held,
	// less its value before.
	badRequests, refused, held float64
	// stillOpen counts the idle connections still open when released.
	stillOpen int
}

// securityResults collects BenchmarkSecurity's figures, under resultsMu.
var securityResults struct {
	ran bool
	// tlsVersion is the TLS version the SASL_SSL listener negotiated.
	tlsVersion string
	throughput []secThroughputRun
	logins     []loginRun
	flood      floodResult
}

// secEnv is the two gateways BenchmarkSecurity compares.
type secEnv struct {
	// plain has one PLAINTEXT listener and no authorizer; secured a
	// SASL_SSL listener (its addr) and a SASL_PLAINTEXT one, SCRAM-SHA-512
	// only, and --authorizer acl with adminUser as super user.
	plain, secured               *strataProc
	plainMetrics, securedMetrics string
	saslPlaintext                string
	// tls trusts the secured gateway's certificate.
	tls *tls.Config
}

// BenchmarkSecurity measures what authentication, TLS and ACLs cost, on two
// `strata serve` processes on their embedded NATS: one with a PLAINTEXT
// listener and no authorizer, the baseline, and one with SASL_SSL and
// SASL_PLAINTEXT listeners (SCRAM-SHA-512, an ECDSA P-256 certificate) and
// --authorizer acl, where a super user grants the bench user WRITE and READ
// on its topics and READ on its group:
//
//  1. flood: on the secured gateway, fresh, 2,000 connections to the
//     SASL_PLAINTEXT listener each send a frame header claiming a 64 MiB
//     Produce request, while 2,000 more send nothing and stay open; it
//     reads the gateway's VmRSS before and after and reports the growth
//     per connection against the 64 KiB pre-login frame cap. It checks
//     that the gateway closed every oversized connection, and counted
//     each on strata_gateway_bad_requests_total;
//  2. logins: 500 connections of each kind from 8 goroutines, each opened,
//     used and closed: on the PLAINTEXT gateway, connect and ApiVersions,
//     the baseline; on the secured one, connect (and a full TLS handshake
//     over SASL_SSL), ApiVersions, SaslHandshake and a SCRAM-SHA-512 login
//     in two SaslAuthenticate requests, the server's signature checked.
//     The client (xdg-go/scram, which the gateway uses too) derives the
//     salted password once and caches it, as the server stores it, so it
//     does no PBKDF2 per login: franz-go's mechanism derives it on every
//     login, 4,096 rounds of HMAC-SHA-512, about 2.4 ms of CPU on the
//     development machine, ten times the gateway's whole login, on the
//     same two cores. The gateway's CPU per login is the server's cost.
//     Two rounds, alternating;
//  3. throughput: 256 MiB of 1 KiB records (BenchmarkProduceConsume's) to
//     a 6-partition topic with Kafka's producer defaults (acks=all,
//     idempotent, 5 ms linger, no compression) but batches of up to 1 MiB,
//     then read back from the start by direct assignment, on each gateway,
//     the secured one as the bench user over SASL_SSL. Four rounds, the
//     order swapped in every other; the figure is SASL_SSL+ACL / PLAINTEXT
//     MB/s, pooled over the rounds. It then checks the ACLs by their
//     outcomes: the bench user commits offsets for its group, but not for
//     another, and may not create a topic.
//
// It also reports the CPU of the gateway, the bench process and the host
// over each run.
func BenchmarkSecurity(b *testing.B) {
	e := newSecEnv(b)
	flood := e.flood(b)
	logins := e.logins(b)
	e.createTopics(b)
	var runs []secThroughputRun
	for round := 1; round <= secRounds; round++ {
		order := []bool{false, true}
		if round%2 == 0 {
			order = []bool{true, false}
		}
		for _, secured := range order {
			runs = append(runs, e.throughputRun(b, round, secured))
		}
	}
	e.checkACLs(b)
	tlsVersion := e.tlsVersion(b)

	plainProduce, securedProduce, plainConsume, securedConsume := pooledSecMBs(runs)
	b.ReportMetric(securedProduce/plainProduce, "produce-secured/plain")
	b.ReportMetric(securedConsume/plainConsume, "consume-secured/plain")
	b.ReportMetric(pooled(loginRuns(logins, loginKinds[1])), "sasl-plaintext-logins/s")
	b.ReportMetric(pooled(loginRuns(logins, loginKinds[2])), "sasl-ssl-logins/s")
	b.ReportMetric(float64(flood.rssHeld-flood.rssBefore)/(2*floodConns)/(1<<10), "flood-KiB/conn")

	resultsMu.Lock()
	defer resultsMu.Unlock()
	r := &securityResults
	r.ran, r.throughput, r.logins, r.flood, r.tlsVersion = true, runs, logins, flood, tlsVersion
}

func newSecEnv(b *testing.B) *secEnv {
	b.Helper()
	dir := b.TempDir()
	ca := testenv.NewCA(b, "strata-bench-ca")
	certFile, keyFile := ca.IssueFiles(b, dir, "gateway", 2)
	e := &secEnv{tls: ca.ClientConfig(b, "")}
	e.tls.ServerName = "127.0.0.1"
	plainHTTP, securedHTTP, saslSSL := freeAddr(b), freeAddr(b), freeAddr(b)
	e.saslPlaintext = freeAddr(b)
	e.plainMetrics, e.securedMetrics = "http://"+plainHTTP+"/metrics", "http://"+securedHTTP+"/metrics"
	// Later flags override startStrata's: its PLAINTEXT listener and
	// --http-listen, so /metrics is at a known address.
	e.plain = startStrata(b, nil, b.TempDir(), "--http-listen", plainHTTP)
	e.secured = startStrata(b, nil, b.TempDir(), "--http-listen", securedHTTP,
		"--listeners", "SASL_SSL://"+saslSSL+",INTERNAL://"+e.saslPlaintext,
		"--listener-security-protocol-map", "SASL_SSL:SASL_SSL,INTERNAL:SASL_PLAINTEXT",
		"--ssl-cert-file", certFile, "--ssl-key-file", keyFile,
		"--sasl-enabled-mechanisms", "SCRAM-SHA-512",
		"--add-scram", fmt.Sprintf("SCRAM-SHA-512=[name=%s,password=%s];SCRAM-SHA-512=[name=%s,password=%s]",
			adminUser, adminPassword, benchUser, benchPassword),
		"--authorizer", "acl", "--super-users", "User:"+adminUser)
	return e
}

// tlsVersion is the TLS version the secured gateway's SASL_SSL listener
// negotiates with the bench's TLS configuration.
func (e *secEnv) tlsVersion(b *testing.B) string {
	b.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Minute}, "tcp", e.secured.addr, e.tls)
	if err != nil {
		b.Fatal(err)
	}
	v := tls.VersionName(c.ConnectionState().Version)
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
	return v
}

// clientOpts connects to the plain gateway, or to the secured one's
// SASL_SSL listener as user.
func (e *secEnv) clientOpts(secured bool, user, password string) []kgo.Opt {
	if !secured {
		return []kgo.Opt{kgo.SeedBrokers(e.plain.addr)}
	}
	return []kgo.Opt{kgo.SeedBrokers(e.secured.addr), kgo.DialTLSConfig(e.tls),
		kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism())}
}

func (e *secEnv) metrics(secured bool) string {
	if secured {
		return e.securedMetrics
	}
	return e.plainMetrics
}

func newClient(b *testing.B, opts ...kgo.Opt) *kgo.Client {
	b.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

func secTopic(round int) string { return fmt.Sprintf("sec-%d", round) }

// createTopics creates every round's topic on both gateways, grants the
// bench user its ACLs on the secured one as the super user, and waits
// until the bench user sees the topics there.
func (e *secEnv) createTopics(b *testing.B) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	topics := make([]string, secRounds)
	for i := range topics {
		topics[i] = secTopic(i + 1)
	}
	for _, secured := range []bool{false, true} {
		cl := newClient(b, e.clientOpts(secured, adminUser, adminPassword)...)
		defer cl.Close()
		adm := kadm.NewClient(cl)
		resp, err := adm.CreateTopics(ctx, partitions, 1, nil, topics...)
		if err != nil || resp.Error() != nil {
			b.Fatalf("create topics %v: %v %v", topics, err, resp.Error())
		}
		if !secured {
			continue
		}
		for _, acl := range []*kadm.ACLBuilder{
			kadm.NewACLs().Allow("User:"+benchUser).Topics(topics...).Operations(kadm.OpRead, kadm.OpWrite),
			kadm.NewACLs().Allow("User:" + benchUser).Groups(secGroup).Operations(kadm.OpRead),
		} {
			res, err := adm.CreateACLs(ctx, acl)
			if err != nil {
				b.Fatalf("create ACLs: %v", err)
			}
			for _, r := range res {
				if r.Err != nil {
					b.Fatalf("create ACL %+v: %v", r, r.Err)
				}
			}
		}
	}
	// Gateways apply new ACLs within milliseconds, not at once.
	bench := newClient(b, e.clientOpts(true, benchUser, benchPassword)...)
	defer bench.Close()
	testenv.CheckFor(b, time.Minute, 50*time.Millisecond, func() error {
		md, err := kadm.NewClient(bench).Metadata(ctx, topics...)
		if err != nil {
			return err
		}
		return md.Topics.Error()
	})
}

// throughputRun produces secBytes to round's topic on one gateway and
// reads them back.
func (e *secEnv) throughputRun(b *testing.B, round int, secured bool) secThroughputRun {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	topic, metrics := secTopic(round), e.metrics(secured)
	opts := e.clientOpts(secured, benchUser, benchPassword)
	producer := newClient(b, append(opts, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(secLinger),
		kgo.ProducerBatchMaxBytes(secBatchBytes), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.DefaultProduceTopic(topic))...)
	defer producer.Close()

	n := secBytes / recordBytes
	value := bytes.Repeat([]byte("v"), recordBytes)
	before := sampleCPU(mustScrape(b, metrics))
	lat, elapsed := produceAll(ctx, b, producer, n, func(i int) *kgo.Record {
		return &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%1024), Value: value}
	}, nil)
	mid := sampleCPU(mustScrape(b, metrics))
	consumeMBs := consumeTopic(ctx, b, topic, n, opts...)
	after := sampleCPU(mustScrape(b, metrics))
	return secThroughputRun{round: round, secured: secured, produce: summarize(lat, secBytes, elapsed), consumeMBs: consumeMBs,
		produceCPU: spanOf(before, mid), consumeCPU: spanOf(mid, after)}
}

// consumeTopic reads the n records of recordBytes in topic from the start
// by direct assignment, fails b unless there are exactly n, and returns
// MB/s of record values.
func consumeTopic(ctx context.Context, b *testing.B, topic string, n int, opts ...kgo.Opt) float64 {
	b.Helper()
	offsets := make(map[int32]kgo.Offset, partitions)
	for p := range int32(partitions) {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	consumer := newClient(b, append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxBytes(64<<20))...)
	defer consumer.Close()
	start := time.Now()
	got := 0
	for got < n {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			b.Fatalf("consumed %d of %d from %s", got, n, topic)
		}
		fs.EachError(func(t string, p int32, err error) { b.Fatalf("fetch %s/%d: %v", t, p, err) })
		got += fs.NumRecords()
	}
	elapsed := time.Since(start)
	if got != n {
		b.Fatalf("consumed %d records from %s, produced %d", got, topic, n)
	}
	return float64(n*recordBytes) / (1 << 20) / elapsed.Seconds()
}

// checkACLs checks the secured gateway's ACLs by their outcomes: the bench
// user commits offsets for secGroup, but not for another group, and may
// not create a topic.
func (e *secEnv) checkACLs(b *testing.B) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := newClient(b, append(e.clientOpts(true, benchUser, benchPassword), kgo.RetryTimeout(5*time.Second))...)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var offsets kadm.Offsets
	offsets.Add(kadm.Offset{Topic: secTopic(1), Partition: 0, At: 1, LeaderEpoch: -1})
	committed, err := adm.CommitOffsets(ctx, secGroup, offsets)
	if err != nil || committed.Error() != nil {
		b.Fatalf("the bench user commits for %s: %v %v", secGroup, err, committed.Error())
	}
	committed, err = adm.CommitOffsets(ctx, "other-group", offsets)
	if !errors.Is(err, kerr.GroupAuthorizationFailed) && !errors.Is(committed.Error(), kerr.GroupAuthorizationFailed) {
		b.Fatalf("the bench user commits for other-group: %v %v, want GROUP_AUTHORIZATION_FAILED", err, committed.Error())
	}
	resp, err := adm.CreateTopic(ctx, 1, 1, nil, "sec-denied")
	if err == nil {
		err = resp.Err
	}
	if !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		b.Fatalf("the bench user creates a topic: %v, want an authorization error", err)
	}
}

// pooledSecMBs is MB/s over every run of each gateway: bytes over summed
// time.
func pooledSecMBs(runs []secThroughputRun) (plainProduce, securedProduce, plainConsume, securedConsume float64) {
	var t [2][2]float64 // [secured][produce, consume] seconds
	var n [2]float64
	for _, r := range runs {
		i := 0
		if r.secured {
			i = 1
		}
		mib := float64(secBytes) / (1 << 20)
		t[i][0] += mib / r.produce.mbs
		t[i][1] += mib / r.consumeMBs
		n[i] += mib
	}
	return n[0] / t[0][0], n[1] / t[1][0], n[0] / t[0][1], n[1] / t[1][1]
}

// loginKinds names the connections of the logins phase, baseline first.
var loginKinds = []string{"PLAINTEXT: connect, ApiVersions", "SASL_PLAINTEXT: connect, ApiVersions, SCRAM-SHA-512 login", "SASL_SSL: connect, TLS handshake, ApiVersions, SCRAM-SHA-512 login"}

// loginTarget is one kind of connection: where to and how.
type loginTarget struct {
	kind, addr, metrics string
	tls                 *tls.Config    // nil: no TLS
	scram               *xscram.Client // nil: ApiVersions only
}

// logins runs the logins phase.
func (e *secEnv) logins(b *testing.B) []loginRun {
	b.Helper()
	client, err := xscram.SHA512.NewClient(benchUser, benchPassword, "")
	if err != nil {
		b.Fatal(err)
	}
	targets := []loginTarget{
		{kind: loginKinds[0], addr: e.plain.addr, metrics: e.plainMetrics},
		{kind: loginKinds[1], addr: e.saslPlaintext, metrics: e.securedMetrics, scram: client},
		{kind: loginKinds[2], addr: e.secured.addr, metrics: e.securedMetrics, tls: e.tls, scram: client},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, t := range targets {
		for range loginWarmup {
			if err := connectOnce(ctx, t); err != nil {
				b.Fatalf("%s: %v", t.kind, err)
			}
		}
	}
	var runs []loginRun
	for round := 1; round <= loginRounds; round++ {
		for _, t := range targets {
			runs = append(runs, loginRun{round: round, kind: t.kind, run: loginRound(ctx, b, t)})
		}
	}
	return runs
}

// loginRound opens, uses and closes loginCount connections of t from
// loginWorkers goroutines.
func loginRound(ctx context.Context, b *testing.B, t loginTarget) rateRun {
	b.Helper()
	lat := make([]time.Duration, loginCount)
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	before := sampleCPU(mustScrape(b, t.metrics))
	start := time.Now()
	for range loginWorkers {
		g.Go(func() error {
			for i := int(next.Add(1)) - 1; i < loginCount; i = int(next.Add(1)) - 1 {
				began := time.Now()
				if err := connectOnce(gctx, t); err != nil {
					return fmt.Errorf("%s, connection %d: %w", t.kind, i, err)
				}
				lat[i] = time.Since(began)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	r := rateOf(lat, elapsed)
	r.cpu = spanOf(before, sampleCPU(mustScrape(b, t.metrics)))
	return r
}

// connectOnce opens a connection to t, sends ApiVersions, logs in if t
// says so, and closes it.
func connectOnce(ctx context.Context, t loginTarget) (err error) {
	ctx, cancel := context.WithTimeout(ctx, secOpTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := nc.Close(); err == nil {
			err = cerr
		}
	}()
	if dl, ok := ctx.Deadline(); ok {
		if err := nc.SetDeadline(dl); err != nil {
			return err
		}
	}
	if t.tls != nil {
		tc := tls.Client(nc, t.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls handshake: %w", err)
		}
		nc = tc
	}
	rc := &rawConn{nc: nc, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("strata-bench"))}
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version, av.ClientSoftwareName, av.ClientSoftwareVersion = 3, "strata-bench", "1.0"
	resp, err := rc.roundTrip(av)
	if err != nil {
		return fmt.Errorf("ApiVersions: %w", err)
	}
	if err := kerr.ErrorForCode(resp.(*kmsg.ApiVersionsResponse).ErrorCode); err != nil {
		return fmt.Errorf("ApiVersions: %w", err)
	}
	if t.scram == nil {
		return nil
	}
	return rc.scramLogin(t.scram)
}

// scramLogin logs in with a SaslHandshake v1 and SaslAuthenticate v2
// requests, and checks the server's signature.
func (rc *rawConn) scramLogin(client *xscram.Client) error {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "SCRAM-SHA-512"
	resp, err := rc.roundTrip(hs)
	if err != nil {
		return fmt.Errorf("SaslHandshake: %w", err)
	}
	if err := kerr.ErrorForCode(resp.(*kmsg.SASLHandshakeResponse).ErrorCode); err != nil {
		return fmt.Errorf("SaslHandshake: %w", err)
	}
	conv := client.NewConversation()
	msg, err := conv.Step("")
	for err == nil && !conv.Done() {
		auth := kmsg.NewPtrSASLAuthenticateRequest()
		auth.Version, auth.SASLAuthBytes = 2, []byte(msg)
		var resp kmsg.Response
		if resp, err = rc.roundTrip(auth); err != nil {
			return fmt.Errorf("SaslAuthenticate: %w", err)
		}
		ar := resp.(*kmsg.SASLAuthenticateResponse)
		if err := kerr.ErrorForCode(ar.ErrorCode); err != nil {
			return fmt.Errorf("SaslAuthenticate: %w (%v)", err, ar.ErrorMessage)
		}
		msg, err = conv.Step(string(ar.SASLAuthBytes))
	}
	if err != nil {
		return fmt.Errorf("scram: %w", err)
	}
	if !conv.Valid() {
		return errors.New("scram: the server's signature does not match")
	}
	return nil
}

// rawConn sends Kafka requests on a connection one at a time.
type rawConn struct {
	nc   net.Conn
	f    *kmsg.RequestFormatter
	corr int32
}

// roundTrip writes req and reads its response.
func (rc *rawConn) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	rc.corr++
	frame := rc.f.AppendRequest(nil, req, rc.corr)
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	if _, err := rc.nc.Write(frame); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(rc.nc, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 1<<20 {
		return nil, fmt.Errorf("response frame of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rc.nc, body); err != nil {
		return nil, err
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != rc.corr {
		return nil, fmt.Errorf("correlation id %d, want %d", corr, rc.corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	// A flexible response's header has tags, but ApiVersions' response
	// header is always v0 (KIP-511).
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		r := kbin.Reader{Src: body}
		kmsg.SkipTags(&r)
		if !r.Ok() {
			return nil, errors.New("truncated response header")
		}
		body = r.Src
	}
	return resp, resp.ReadFrom(body)
}

// loginRuns are the runs of kind, in order.
func loginRuns(runs []loginRun, kind string) []rateRun {
	var out []rateRun
	for _, r := range runs {
		if r.kind == kind {
			out = append(out, r.run)
		}
	}
	return out
}

// flood runs the unauthenticated flood on the secured gateway's
// SASL_PLAINTEXT listener.
func (e *secEnv) flood(b *testing.B) floodResult {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pid := e.secured.cmd.Process.Pid
	m0 := mustScrape(b, e.securedMetrics)
	r := floodResult{rssBefore: procStatusBytes(b, pid, "VmRSS")}

	idle := dialAll(ctx, b, e.saslPlaintext, floodConns, nil)
	defer func() {
		for _, c := range idle {
			_ = c.Close() // they may have been closed by the gateway
		}
	}()
	// Accepting 2,000 connections takes the gateway a moment.
	connsAt := func(want float64) func() error {
		return func() error {
			m, err := scrapeMetrics(ctx, e.securedMetrics)
			if err != nil {
				return err
			}
			if got := m.get("strata_gateway_connections"); got != want {
				return fmt.Errorf("%v connections open, want %v", got, want)
			}
			return nil
		}
	}
	testenv.CheckFor(b, 2*time.Minute, 100*time.Millisecond, connsAt(m0.get("strata_gateway_connections")+floodConns))

	// Each oversized connection sends its header and waits until the
	// gateway closes it; all are open at once as far as the gateway lets
	// them be.
	var header [12]byte
	binary.BigEndian.PutUint32(header[0:], floodFrameBytes)
	binary.BigEndian.PutUint16(header[4:], uint16(kmsg.Produce.Int16()))
	binary.BigEndian.PutUint16(header[6:], 9)
	binary.BigEndian.PutUint32(header[8:], 1)
	var waiters errgroup.Group
	var closed atomic.Int64
	oversized := dialAll(ctx, b, e.saslPlaintext, floodConns, func(i int, c net.Conn) error {
		if _, err := c.Write(header[:]); err != nil && !peerClosed(err) {
			return fmt.Errorf("oversized connection %d: write: %w", i, err)
		}
		waiters.Go(func() error {
			if err := c.SetReadDeadline(time.Now().Add(secOpTimeout)); err != nil {
				return err
			}
			var one [1]byte
			n, err := c.Read(one[:])
			switch {
			case n > 0:
				return fmt.Errorf("oversized connection %d: the gateway answered", i)
			case peerClosed(err):
				closed.Add(1)
				return nil
			default:
				return fmt.Errorf("oversized connection %d: not closed by the gateway: %w", i, err)
			}
		})
		return nil
	})
	if err := waiters.Wait(); err != nil {
		b.Fatal(err)
	}
	for _, c := range oversized {
		_ = c.Close() // closed by the gateway already
	}
	r.closed = int(closed.Load())
	if r.closed != floodConns {
		b.Fatalf("the gateway closed %d of %d oversized connections", r.closed, floodConns)
	}
	testenv.CheckFor(b, 2*time.Minute, 100*time.Millisecond, connsAt(m0.get("strata_gateway_connections")+floodConns))
	r.rssHeld, r.hwm = procStatusBytes(b, pid, "VmRSS"), procStatusBytes(b, pid, "VmHWM")
	m1 := mustScrape(b, e.securedMetrics)
	r.badRequests = m1.get("strata_gateway_bad_requests_total") - m0.get("strata_gateway_bad_requests_total")
	r.refused = m1.sum("strata_gateway_connections_refused_total") - m0.sum("strata_gateway_connections_refused_total")
	r.held = m1.get("strata_gateway_connections") - m0.get("strata_gateway_connections")
	if r.badRequests != floodConns {
		b.Fatalf("strata_gateway_bad_requests_total rose by %v over the flood, want %d", r.badRequests, floodConns)
	}
	for _, c := range idle {
		if peerOpen(c) {
			r.stillOpen++
		}
	}
	return r
}

// dialAll opens n connections to addr, floodDialers at a time, and calls
// then, if set, on each.
func dialAll(ctx context.Context, b *testing.B, addr string, n int, then func(i int, c net.Conn) error) []net.Conn {
	b.Helper()
	conns := make([]net.Conn, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(floodDialers)
	var d net.Dialer
	for i := range n {
		g.Go(func() error {
			c, err := d.DialContext(gctx, "tcp", addr)
			if err != nil {
				return fmt.Errorf("dial %d: %w", i, err)
			}
			conns[i] = c
			if then != nil {
				return then(i, c)
			}
			return nil
		})
	}
	err := g.Wait()
	if err != nil {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
		b.Fatal(err)
	}
	return conns
}

// peerClosed reports whether err is the peer closing a connection.
func peerClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// peerOpen reports whether the peer has not closed c: a read finds nothing to
// read before a short deadline.
func peerOpen(c net.Conn) bool {
	if err := c.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		return false
	}
	var one [1]byte
	_, err := c.Read(one[:])
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// procStatusBytes reads a "kB" field of /proc/<pid>/status, in bytes.
func procStatusBytes(b *testing.B, pid int, field string) int64 {
	b.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatalf("read the gateway's %s: %v", field, err)
	}
	for line := range strings.Lines(string(status)) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			b.Fatalf("%s of the gateway: %q: %v", field, rest, err)
		}
		return kb << 10
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// sum adds up every series of a metric, whatever its labels.
func (m metricSet) sum(name string) float64 {
	var total float64
	for series, v := range m {
		if series == name || strings.HasPrefix(series, name+"{") {
			total += v
		}
	}
	return total
}
