package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"golang.org/x/sync/errgroup"

	"github.com/stratalog/strata/internal/testenv"
)

// The schema registry workload (see BenchmarkSchemaRegistry).
const (
	// Lookups: lookupClients goroutines share one sr client (one
	// keep-alive connection each) and look up lookupSchemas ids round-robin,
	// lookupsPerRound per round or for lookupRoundMax, whichever ends first;
	// lookupRounds rounds per target, alternating raw HTTP and registry.
	lookupSchemas   = 100
	lookupClients   = 8
	lookupsPerRound = 100_000
	lookupRounds    = 2
	lookupRoundMax  = 20 * time.Second
	lookupWarmup    = 1000
	// Registrations: registrations distinct Avro schemas, each under its
	// own subject, by one client and then by registerClients at once.
	registrations   = 500
	registerClients = 4
	// Produce: validationRounds rounds of (unvalidated, validated), each
	// run validationBytes of recordBytes records to a partitions-partition
	// topic. A run takes well under a second here, so one stall moves it
	// by a lot: hence the rounds.
	validationBytes  = 128 << 20
	validationRounds = 4
	plainTopic       = "sr-plain"
	checkedTopic     = "sr-checked"
	// srTimeout bounds one registry request; a registration waits for
	// several fsynced KV writes.
	srTimeout = 30 * time.Second
)

// rateRun is n operations over a wall time, with each one's latency.
type rateRun struct {
	n        int
	elapsed  time.Duration
	p50, p99 time.Duration
	cpu      cpuSpan
}

func (r rateRun) perSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.n) / r.elapsed.Seconds()
}

func rateOf(lat []time.Duration, elapsed time.Duration) rateRun {
	l := summarize(lat, 0, elapsed)
	return rateRun{n: l.n, elapsed: elapsed, p50: l.p50, p99: l.p99}
}

// pooled is every run's operations over their summed wall time.
func pooled(runs []rateRun) float64 {
	var n int
	var elapsed time.Duration
	for _, r := range runs {
		n, elapsed = n+r.n, elapsed+r.elapsed
	}
	return rateRun{n: n, elapsed: elapsed}.perSec()
}

// cpuSpan is CPU use over a run: in cores, and as CPU time.
type cpuSpan struct {
	cores            cpuUse
	gateway, process time.Duration // the gateway's and the bench process's
}

func spanOf(before, after cpuSample) cpuSpan {
	return cpuSpan{cores: before.until(after), gateway: after.gateway - before.gateway, process: after.bench - before.bench}
}

// produceRound is one produce run to the unvalidated or the validated topic.
type produceRound struct {
	validated bool
	lat       latencies
	cpu       cpuSpan
}

// registryResults collects BenchmarkSchemaRegistry's figures, under
// resultsMu.
var registryResults struct {
	ran bool
	// lookupRaw and lookupRegistry are the rounds of each target, in the
	// order run (alternating, raw first).
	lookupRaw, lookupRegistry []rateRun
	lookupBody                int // mean response body bytes
	// registerSeq is one client; registerPar registerClients at once.
	registerSeq, registerPar rateRun
	produce                  []produceRound
}

// registryEnv is one `strata serve` with its schema registry, by the
// addresses the bench uses.
type registryEnv struct {
	strata   *strataProc
	registry string // base URL
	metrics  string
}

// BenchmarkSchemaRegistry measures the schema registry of one `strata
// serve` on its embedded NATS, against baselines taken in the same run:
//
//  1. lookups: it registers 100 Avro schemas and looks them up by id
//     (GET /schemas/ids/{id}, answered from the gateway's cache) with
//     franz-go's sr client from 8 goroutines over keep-alive connections,
//     100,000 lookups a round; the baseline is the same client against a
//     net/http handler in the bench process that answers the registry's own
//     bodies from a map, so the ratio is the registry's cost over raw HTTP.
//     Two rounds of each, alternating, raw first;
//  2. registrations: 500 distinct Avro schemas, each under a new subject,
//     by one client, then 500 more by 4 clients at once. The embedded NATS
//     opens no client port, so there is no raw JetStream KV baseline on the
//     same server: it reports registrations/s with p50 and p99 latency;
//  3. produce with validation: the same 1 KiB records, each value in the
//     wire format with the id of the schema registered under
//     "sr-checked-value", 128 MiB a run to a 6-partition topic with
//     confluent.value.schema.validation=true and to one without, alternating
//     unvalidated, validated, four times, with BenchmarkProduceConsume's
//     producer settings; the figure is validated / unvalidated MB/s.
//
// It checks every lookup's schema, that every registration got an id of
// its own, that the validating topic refuses a value without a schema id,
// and that each topic holds every record produced. It also reports the CPU
// of the gateway, the bench process and the host over each run.
func BenchmarkSchemaRegistry(b *testing.B) {
	httpAddr := freeAddr(b)
	// A later --http-listen overrides startStrata's, so /metrics is at a
	// known address.
	p := startStrata(b, nil, b.TempDir(), "--http-listen", httpAddr)
	e := &registryEnv{strata: p, registry: p.registryURL(), metrics: "http://" + httpAddr + "/metrics"}

	raw, reg, body := e.lookups(b)
	b.ReportMetric(pooled(raw), "raw-lookups/s")
	b.ReportMetric(pooled(reg), "lookups/s")

	seq, par := e.registrations(b)
	b.ReportMetric(seq.perSec(), "registrations/s")
	b.ReportMetric(par.perSec(), "registrations/s-parallel")

	prod := e.produce(b)
	var plain, checked []latencies
	for _, r := range prod {
		if r.validated {
			checked = append(checked, r.lat)
		} else {
			plain = append(plain, r.lat)
		}
	}
	b.ReportMetric(pooledMBs(checked)/pooledMBs(plain), "validated/unvalidated")

	resultsMu.Lock()
	defer resultsMu.Unlock()
	r := &registryResults
	r.ran, r.lookupRaw, r.lookupRegistry, r.lookupBody = true, raw, reg, body
	r.registerSeq, r.registerPar, r.produce = seq, par, prod
}

// registryURL waits for the schema registry's address in the log and then
// for its cache to load (/healthz answers 200), and returns its base URL.
// Call it once per start.
func (p *strataProc) registryURL() string {
	p.b.Helper()
	var addr string
	select {
	case addr = <-p.registry:
	case <-time.After(time.Minute):
		p.b.Fatal("strata logged no schema registry address within a minute")
	}
	url := "http://" + addr
	hc := &http.Client{Timeout: 5 * time.Second}
	testenv.CheckFor(p.b, time.Minute, 20*time.Millisecond, func() error {
		resp, err := hc.Get(url + "/healthz")
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if err := resp.Body.Close(); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("schema registry /healthz: %s", resp.Status)
		}
		return nil
	})
	return url
}

// srClient is an sr client with its own transport, keeping up to conns
// connections alive.
func srClient(b *testing.B, url string, conns int) *sr.Client {
	b.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conns
	b.Cleanup(tr.CloseIdleConnections)
	cl, err := sr.NewClient(sr.URLs(url), sr.HTTPClient(&http.Client{Transport: tr, Timeout: srTimeout}))
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

// avroSchema is the i-th distinct Avro record schema of a kind: its name
// and one field's name differ.
func avroSchema(kind string, i int) sr.Schema {
	return sr.Schema{Type: sr.TypeAvro, Schema: fmt.Sprintf(`{"type":"record","name":"%s%d","namespace":"bench.strata",`+
		`"fields":[{"name":"id","type":"long"},{"name":"created","type":{"type":"long","logicalType":"timestamp-millis"}},`+
		`{"name":"customer","type":"string"},{"name":"amount","type":"double"},`+
		`{"name":"note%d","type":["null","string"],"default":null}]}`, kind, i, i)}
}

// lookups registers lookupSchemas schemas, serves the registry's answer for
// each from a raw net/http handler, and runs lookupRounds rounds against
// each, alternating, raw first. It returns the rounds and the mean body size.
func (e *registryEnv) lookups(b *testing.B) (raw, reg []rateRun, meanBody int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	cl := srClient(b, e.registry, 1)
	ids := make([]int, lookupSchemas)
	for i := range ids {
		id, err := cl.RegisterSchema(ctx, fmt.Sprintf("lookup-%03d-value", i), avroSchema("Lookup", i), -1, -1)
		if err != nil {
			b.Fatalf("register lookup schema %d: %v", i, err)
		}
		ids[i] = id
	}
	bodies, want, contentType := e.schemaBodies(ctx, b, ids)
	for _, body := range bodies {
		meanBody += len(body)
	}
	meanBody /= len(bodies)
	rawURL := rawSchemaServer(b, bodies, contentType)

	rawCl, regCl := srClient(b, rawURL, lookupClients), srClient(b, e.registry, lookupClients)
	for _, c := range []*sr.Client{rawCl, regCl} {
		for i := range lookupWarmup {
			if _, err := c.SchemaByID(ctx, ids[i%len(ids)]); err != nil {
				b.Fatalf("warm-up lookup: %v", err)
			}
		}
	}
	for range lookupRounds {
		raw = append(raw, e.lookupRound(ctx, b, rawCl, ids, want))
		reg = append(reg, e.lookupRound(ctx, b, regCl, ids, want))
	}
	return raw, reg, meanBody
}

// schemaBodies fetches each id's GET /schemas/ids/{id} body and content
// type as the registry sends them, and its schema text as sr decodes it.
func (e *registryEnv) schemaBodies(ctx context.Context, b *testing.B, ids []int) (bodies map[int][]byte, want map[int]string, contentType string) {
	b.Helper()
	bodies, want = make(map[int][]byte, len(ids)), make(map[int]string, len(ids))
	cl := srClient(b, e.registry, 1)
	for _, id := range ids {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.registry+"/schemas/ids/"+strconv.Itoa(id), nil)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if cerr := resp.Body.Close(); err == nil {
			err = cerr
		}
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("schema %d: %s %q %v", id, resp.Status, body, err)
		}
		s, err := cl.SchemaByID(ctx, id)
		if err != nil {
			b.Fatalf("schema %d: %v", id, err)
		}
		bodies[id], want[id], contentType = body, s.Schema, resp.Header.Get("Content-Type")
	}
	return bodies, want, contentType
}

// rawSchemaServer serves GET /schemas/ids/{id} from bodies in memory, on
// loopback in the bench process: about the least an HTTP server can do for a
// lookup, the lookups' baseline. It returns the base URL.
func rawSchemaServer(b *testing.B, bodies map[int][]byte, contentType string) string {
	b.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /schemas/ids/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.Atoi(r.PathValue("id"))
		body, ok := bodies[id]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	// Shutdown order: 1. close the listener and every connection; 2. wait
	// for Serve to return.
	b.Cleanup(func() {
		if err := srv.Close(); err != nil {
			b.Error(err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			b.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

// lookupRound looks ids up round-robin from lookupClients goroutines sharing
// cl until lookupsPerRound are answered or lookupRoundMax has passed, and
// checks every answer's schema against want.
func (e *registryEnv) lookupRound(ctx context.Context, b *testing.B, cl *sr.Client, ids []int, want map[int]string) rateRun {
	b.Helper()
	var next atomic.Int64
	lats := make([][]time.Duration, lookupClients)
	g, ctx := errgroup.WithContext(ctx)
	before := sampleCPU(e.scrape(b))
	start := time.Now()
	deadline := start.Add(lookupRoundMax)
	for c := range lookupClients {
		g.Go(func() error {
			lat := make([]time.Duration, 0, lookupsPerRound/lookupClients+1)
			defer func() { lats[c] = lat }()
			for {
				i := next.Add(1) - 1
				if i >= lookupsPerRound || time.Now().After(deadline) {
					return nil
				}
				id := ids[int(i)%len(ids)]
				sent := time.Now()
				s, err := cl.SchemaByID(ctx, id)
				if err != nil {
					return fmt.Errorf("schema %d: %w", id, err)
				}
				lat = append(lat, time.Since(sent))
				if s.Schema != want[id] {
					return fmt.Errorf("schema %d: %q, want %q", id, s.Schema, want[id])
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	r := rateOf(slices.Concat(lats...), time.Since(start))
	r.cpu = spanOf(before, sampleCPU(e.scrape(b)))
	return r
}

// registrations registers registrations distinct schemas under as many new
// subjects with one client, then as many again with registerClients at
// once, and checks that every one got an id of its own.
func (e *registryEnv) registrations(b *testing.B) (seq, par rateRun) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	ids := map[int]string{}
	seq = e.registerAll(ctx, b, "Seq", 1, ids)
	par = e.registerAll(ctx, b, "Par", registerClients, ids)
	return seq, par
}

// registerAll registers registrations schemas of a kind from clients
// goroutines, each with its own sr client, adding their ids to ids.
func (e *registryEnv) registerAll(ctx context.Context, b *testing.B, kind string, clients int, ids map[int]string) rateRun {
	b.Helper()
	got := make([]int, registrations)
	lat := make([]time.Duration, registrations)
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	before := sampleCPU(e.scrape(b))
	start := time.Now()
	for range clients {
		cl := srClient(b, e.registry, 1)
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= registrations {
					return nil
				}
				subject := fmt.Sprintf("register-%s-%03d-value", kind, i)
				sent := time.Now()
				id, err := cl.RegisterSchema(ctx, subject, avroSchema(kind, i), -1, -1)
				if err != nil {
					return fmt.Errorf("register %s: %w", subject, err)
				}
				lat[i], got[i] = time.Since(sent), id
			}
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	r := rateOf(lat, time.Since(start))
	r.cpu = spanOf(before, sampleCPU(e.scrape(b)))
	for i, id := range got {
		subject := fmt.Sprintf("register-%s-%03d-value", kind, i)
		if prev, dup := ids[id]; dup {
			b.Fatalf("%s and %s, distinct schemas, both got id %d", prev, subject, id)
		}
		ids[id] = subject
	}
	return r
}

// produce creates an unvalidated and a validated topic and produces the
// same records to each in turn, validationRounds times, then checks that
// every record was appended. Each value is in the wire format with the id
// of the schema registered under the validated topic's value subject.
func (e *registryEnv) produce(b *testing.B) []produceRound {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), phaseTimeout)
	defer cancel()
	id, err := srClient(b, e.registry, 1).RegisterSchema(ctx, checkedTopic+"-value", avroSchema("Checked", 0), -1, -1)
	if err != nil {
		b.Fatal(err)
	}
	value := bytes.Repeat([]byte("v"), recordBytes)
	value[0] = 0 // magic byte
	binary.BigEndian.PutUint32(value[1:5], uint32(id))

	cl, err := kgo.NewClient(kgo.SeedBrokers(e.strata.addr))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for topic, configs := range map[string]map[string]*string{
		plainTopic:   nil,
		checkedTopic: {"confluent.value.schema.validation": kadm.StringPtr("true")},
	} {
		resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
		if err != nil || resp.Err != nil {
			b.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
		}
	}
	e.checkValidating(ctx, b)

	var runs []produceRound
	for range validationRounds {
		for _, validated := range []bool{false, true} {
			topic := plainTopic
			if validated {
				topic = checkedTopic
			}
			before := sampleCPU(e.scrape(b))
			lat := produceValues(ctx, b, e.strata.addr, topic, value)
			runs = append(runs, produceRound{validated: validated, lat: lat, cpu: spanOf(before, sampleCPU(e.scrape(b)))})
		}
	}

	ends, err := adm.ListEndOffsets(ctx, plainTopic, checkedTopic)
	if err != nil {
		b.Fatal(err)
	}
	want := int64(validationRounds * validationBytes / recordBytes)
	for _, topic := range []string{plainTopic, checkedTopic} {
		var n int64
		ends.Each(func(o kadm.ListedOffset) {
			if o.Topic == topic {
				n += o.Offset
			}
		})
		if n != want {
			b.Fatalf("topic %s holds %d records, produced %d", topic, n, want)
		}
	}
	return runs
}

// checkValidating makes sure the validated topic refuses a value without a
// schema id, so that the produce runs compare what they claim to.
func (e *registryEnv) checkValidating(ctx context.Context, b *testing.B) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.strata.addr), kgo.DefaultProduceTopic(checkedTopic), kgo.RecordRetries(0))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no schema id")}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		b.Fatalf("topic %s took a value without a schema id: %v, want INVALID_RECORD", checkedTopic, err)
	}
}

// produceValues produces validationBytes of records with value to topic
// with a new client with the defaults of BenchmarkProduceConsume (acks=all,
// idempotent, snappy), keyed as there, and returns per-record latency and
// MiB/s.
func produceValues(ctx context.Context, b *testing.B, addr, topic string, value []byte) latencies {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	n := validationBytes / recordBytes
	lat, elapsed := produceAll(ctx, b, cl, n, func(i int) *kgo.Record {
		return &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%1024), Value: value}
	}, nil)
	return summarize(lat, validationBytes, elapsed)
}

// pooledMBs is MiB/s over every run: their bytes over their summed time
// (each run carries validationBytes).
func pooledMBs(runs []latencies) float64 {
	var secs float64
	for _, r := range runs {
		if r.mbs > 0 {
			secs += float64(validationBytes) / (1 << 20) / r.mbs
		}
	}
	if secs == 0 {
		return 0
	}
	return float64(len(runs)*validationBytes) / (1 << 20) / secs
}

func (e *registryEnv) scrape(b *testing.B) metricSet {
	b.Helper()
	return mustScrape(b, e.metrics)
}
