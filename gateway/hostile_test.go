package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/coordinator"
	"github.com/stratalog/strata/tiered"
	"github.com/stratalog/strata/tiered/batch"
	"github.com/stratalog/strata/tiered/index"
)

// rawConn is a client connection that sends hand-built frames.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	corr int32
}

func dial(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, conn: c}
}

// request sends req and decodes its response into resp.
func (c *rawConn) request(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	c.corr++
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("test"))
	if _, err := c.conn.Write(f.AppendRequest(nil, req, c.corr)); err != nil {
		c.t.Fatal(err)
	}
	body, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("read response to %s: %v", kmsg.NameForKey(req.Key()), err)
	}
	resp := req.ResponseKind()
	return c.decode(body, resp, resp.IsFlexible() && req.Key() != apiVersionsKey)
}

func (c *rawConn) decode(body []byte, resp kmsg.Response, tags bool) kmsg.Response {
	c.t.Helper()
	if got := int32(binary.BigEndian.Uint32(body)); got != c.corr {
		c.t.Fatalf("correlation id %d, want %d", got, c.corr)
	}
	body = body[4:]
	if tags {
		body = body[1:] // empty tagged fields of response header v1
	}
	if err := resp.ReadFrom(body); err != nil {
		c.t.Fatalf("decode %s: %v", kmsg.NameForKey(resp.Key()), err)
	}
	return resp
}

func (c *rawConn) readFrame() ([]byte, error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c.conn, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(c.conn, body)
	return body, err
}

// requireClosed asserts that the server closes the connection.
func (c *rawConn) requireClosed() {
	c.t.Helper()
	_, err := c.readFrame()
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		c.t.Fatalf("connection still open (read: %v)", err)
	}
}

// requireServing asserts that a new connection is answered.
func requireServing(t testing.TB, addr string) {
	t.Helper()
	resp := dial(t, addr).request(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(apis) {
		t.Fatalf("ApiVersions after bad input: error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

func TestBadFramesCloseOnlyTheirConnection(t *testing.T) {
	s := startServer(t, serverOpts{maxRequestBytes: 1 << 20})
	header := func(size int32, key, version int16) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(size))
		b = binary.BigEndian.AppendUint16(b, uint16(key))
		return binary.BigEndian.AppendUint16(b, uint16(version))
	}
	for _, tc := range []struct {
		name  string
		bytes []byte
	}{
		// The size alone decides: the server must not wait for (or
		// allocate) a body it will not take.
		{"produce over MaxRequestBytes", header(1<<20+1, produceKey, 9)},
		{"metadata over the control cap", header(maxControlRequestBytes+1, 3, 12)},
		{"negative size", header(-5, 3, 12)},
		{"size below a header", header(4, 3, 12)},
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"unknown api key", append(header(10, 9999, 0), 0, 0, 0, 1, 0xff, 0xff)},
		{"unsupported produce version", append(header(10, produceKey, 2), 0, 0, 0, 1, 0xff, 0xff)},
		{"undecodable body", append(header(12, 3, 1), 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, s.addr)
			if _, err := c.conn.Write(tc.bytes); err != nil {
				t.Fatal(err)
			}
			c.requireClosed()
			requireServing(t, s.addr)
		})
	}
}

// TestApiVersionsTooNew: KIP-511, a version above ours gets a v0 response with
// UNSUPPORTED_VERSION and our ApiVersions range.
func TestApiVersionsTooNew(t *testing.T) {
	s := startServer(t, serverOpts{})
	c := dial(t, s.addr)
	frame := binary.BigEndian.AppendUint16(nil, apiVersionsKey)
	frame = binary.BigEndian.AppendUint16(frame, 99)
	frame = binary.BigEndian.AppendUint32(frame, 7)      // correlation id
	frame = binary.BigEndian.AppendUint16(frame, 0xffff) // null client id
	frame = append(frame, 0x01, 0x02, 0x03)              // a body we cannot parse
	frame = append(binary.BigEndian.AppendUint32(nil, uint32(len(frame))), frame...)
	if _, err := c.conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	body, err := c.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	c.corr = 7
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	c.decode(body, resp, false)
	a, _ := apiByKey(apiVersionsKey)
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != 1 ||
		resp.ApiKeys[0].ApiKey != apiVersionsKey || resp.ApiKeys[0].MaxVersion != a.max {
		t.Fatalf("got error %d keys %+v", resp.ErrorCode, resp.ApiKeys)
	}
}

// TestVersionTableSorted: apiByKey binary-searches the table.
func TestVersionTableSorted(t *testing.T) {
	for i := 1; i < len(apis); i++ {
		if apis[i-1].key >= apis[i].key {
			t.Fatalf("version table out of order at key %d after %d", apis[i].key, apis[i-1].key)
		}
	}
	for _, a := range apis {
		if got, ok := apiByKey(a.key); !ok || got.key != a.key {
			t.Fatalf("apiByKey(%d) = %v, %v", a.key, got.key, ok)
		}
	}
}

func TestApiVersionsListsTheTable(t *testing.T) {
	s := startServer(t, serverOpts{})
	resp := dial(t, s.addr).request(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse)
	if len(resp.ApiKeys) != len(apis) {
		t.Fatalf("%d keys, table has %d", len(resp.ApiKeys), len(apis))
	}
	for i, k := range resp.ApiKeys {
		if a := apis[i]; k.ApiKey != a.key || k.MinVersion != a.min || k.MaxVersion != a.max {
			t.Errorf("key %d: advertised %d-%d, table %d-%d", k.ApiKey, k.MinVersion, k.MaxVersion, a.min, a.max)
		}
	}
}

func encodeBatch(t testing.TB, b batch.Batch) []byte {
	t.Helper()
	out, err := batch.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func records(n int, size int) []batch.Record {
	rs := make([]batch.Record, n)
	for i := range rs {
		rs[i] = batch.Record{Key: []byte{byte(i)}, Value: bytes.Repeat([]byte{'v'}, size), Timestamp: 1700000000000 + int64(i)}
	}
	return rs
}

func produceRequest(topic string, partition int32, acks int16, recs []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, acks, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, recs
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func produceResult(t testing.TB, c *rawConn, req *kmsg.ProduceRequest) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	resp := c.request(req).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("malformed response %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

func createTestTopic(t testing.TB, s *testServer, name string, partitions int32, configs map[string]string) {
	t.Helper()
	if _, err := s.store.CreateTopic(context.Background(), coordinator.Topic{Name: name, Partitions: partitions, Configs: configs}); err != nil {
		t.Fatal(err)
	}
}

func TestProduceErrors(t *testing.T) {
	s := startServer(t, serverOpts{noAutoCreate: true})
	createTestTopic(t, s, "small", 1, map[string]string{"max.message.bytes": "200"})
	createTestTopic(t, s, "t", 1, nil)
	good := encodeBatch(t, batch.Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: records(3, 10)})
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-1] ^= 0xff
	v1 := bytes.Clone(good)
	v1[16] = 1

	for _, tc := range []struct {
		name  string
		req   *kmsg.ProduceRequest
		code  int16
		check func(kmsg.ProduceResponseTopicPartition) error
	}{
		{"bad crc", produceRequest("t", 0, -1, badCRC), kerr.CorruptMessage.Code, nil},
		{"unknown topic", produceRequest("nope", 0, -1, good), kerr.UnknownTopicOrPartition.Code, nil},
		{"unknown partition", produceRequest("t", 1, -1, good), kerr.UnknownTopicOrPartition.Code, nil},
		{"over max.message.bytes", produceRequest("small", 0, -1, encodeBatch(t, batch.Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: records(1, 1000)})), kerr.MessageTooLarge.Code, nil},
		{"two batches", produceRequest("t", 0, -1, append(bytes.Clone(good), good...)), kerr.InvalidRecord.Code, nil},
		{"acks=2", produceRequest("t", 0, 2, good), kerr.InvalidRequiredAcks.Code, nil},
		{"magic 1", produceRequest("t", 0, -1, v1), kerr.UnsupportedForMessageFormat.Code, nil},
		{"truncated", produceRequest("t", 0, -1, good[:40]), kerr.CorruptMessage.Code, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := produceResult(t, dial(t, s.addr), tc.req)
			if p.ErrorCode != tc.code {
				t.Fatalf("error %d (%v), want %d", p.ErrorCode, kerr.ErrorForCode(p.ErrorCode), tc.code)
			}
		})
	}
	// None of the refused batches is in the log.
	tp := index.TopicPartition{TopicID: mustTopic(t, s, "t").ID, Partition: 0}
	if o, err := s.log.Offsets(context.Background(), tp); err != nil || o.HighWatermark != 0 {
		t.Fatalf("high watermark %d (%v) after refused batches, want 0", o.HighWatermark, err)
	}
	requireServing(t, s.addr)
}

func mustTopic(t testing.TB, s *testServer, name string) coordinator.Topic {
	t.Helper()
	top, ok := s.store.Topic(name)
	if !ok {
		t.Fatalf("topic %s not found", name)
	}
	return top
}

// TestIdempotentProduceOverTheWire checks Kafka's sequence rules as a client sees
// them: a retried batch gets its original offset, a gap and an old epoch are
// refused with the codes clients act on.
func TestIdempotentProduceOverTheWire(t *testing.T) {
	s := startServer(t, serverOpts{})
	createTestTopic(t, s, "idem", 1, nil)
	c := dial(t, s.addr)
	b := func(epoch int16, seq int32, n int) []byte {
		return encodeBatch(t, batch.Batch{ProducerID: 4242, ProducerEpoch: epoch, BaseSequence: seq, Records: records(n, 5)})
	}
	send := func(recs []byte) kmsg.ProduceResponseTopicPartition {
		return produceResult(t, c, produceRequest("idem", 0, -1, recs))
	}
	first := send(b(0, 0, 3))
	second := send(b(0, 3, 2))
	if first.ErrorCode != 0 || second.ErrorCode != 0 || first.BaseOffset != 0 || second.BaseOffset != 3 {
		t.Fatalf("first %+v second %+v", first, second)
	}
	if dup := send(b(0, 0, 3)); dup.ErrorCode != 0 || dup.BaseOffset != 0 {
		t.Fatalf("duplicate of first: error %d offset %d, want 0 at 0", dup.ErrorCode, dup.BaseOffset)
	}
	if gap := send(b(0, 9, 1)); gap.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap: error %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", gap.ErrorCode)
	}
	if bumped := send(b(1, 0, 1)); bumped.ErrorCode != 0 || bumped.BaseOffset != 5 {
		t.Fatalf("new epoch: %+v", bumped)
	}
	if old := send(b(0, 5, 1)); old.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("old epoch: error %d, want INVALID_PRODUCER_EPOCH", old.ErrorCode)
	}
	tp := index.TopicPartition{TopicID: mustTopic(t, s, "idem").ID, Partition: 0}
	if o, _ := s.log.Offsets(context.Background(), tp); o.HighWatermark != 6 {
		t.Fatalf("high watermark %d, want 6 (3+2+1 records, no duplicates)", o.HighWatermark)
	}
}

func TestMetadataAutoCreate(t *testing.T) {
	req := func(names ...string) *kmsg.MetadataRequest {
		r := kmsg.NewPtrMetadataRequest()
		r.Version, r.AllowAutoTopicCreation = 12, true
		for _, n := range names {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = &n
			r.Topics = append(r.Topics, rt)
		}
		return r
	}
	on := startServer(t, serverOpts{})
	resp := dial(t, on.addr).request(req("fresh", "bad/name")).(*kmsg.MetadataResponse)
	if resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != DefaultNumPartitions {
		t.Fatalf("auto-created topic: error %d, %d partitions", resp.Topics[0].ErrorCode, len(resp.Topics[0].Partitions))
	}
	if resp.Topics[1].ErrorCode != kerr.InvalidTopicException.Code {
		t.Fatalf("invalid name: error %d, want INVALID_TOPIC_EXCEPTION", resp.Topics[1].ErrorCode)
	}
	// By id, with the empty name the Java client sends beside it (franz-go
	// sends null): the id decides.
	byID := kmsg.NewPtrMetadataRequest()
	byID.Version = 12
	empty := ""
	byID.Topics = []kmsg.MetadataRequestTopic{{Topic: &empty, TopicID: resp.Topics[0].TopicID}}
	got := dial(t, on.addr).request(byID).(*kmsg.MetadataResponse)
	if got.Topics[0].ErrorCode != 0 || deref(got.Topics[0].Topic) != "fresh" || got.Topics[0].TopicID != resp.Topics[0].TopicID {
		t.Fatalf("metadata by id with an empty name: error %d, topic %q", got.Topics[0].ErrorCode, deref(got.Topics[0].Topic))
	}
	off := startServer(t, serverOpts{noAutoCreate: true})
	resp = dial(t, off.addr).request(req("fresh")).(*kmsg.MetadataResponse)
	if resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("auto-create off: error %d, want UNKNOWN_TOPIC_OR_PARTITION", resp.Topics[0].ErrorCode)
	}
}

// panickyLogs panics on appends to partition 7, to prove that a handler panic
// closes only its own connection. A fake, because no real input makes a
// correct handler panic.
type panickyLogs struct{ Logs }

func (p panickyLogs) Append(ctx context.Context, tp index.TopicPartition, b []byte) (*tiered.Appended, error) {
	if tp.Partition == 7 {
		panic("injected")
	}
	return p.Logs.Append(ctx, tp, b)
}

func TestHandlerPanicClosesOnlyItsConnection(t *testing.T) {
	s := startServer(t, serverOpts{wrapLogs: func(l Logs) Logs { return panickyLogs{l} }})
	createTestTopic(t, s, "p", 8, nil)
	bystander := dial(t, s.addr)
	victim := dial(t, s.addr)
	recs := encodeBatch(t, batch.Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: records(1, 1)})
	victim.corr++
	f := kmsg.NewRequestFormatter()
	if _, err := victim.conn.Write(f.AppendRequest(nil, produceRequest("p", 7, -1, recs), victim.corr)); err != nil {
		t.Fatal(err)
	}
	victim.requireClosed()
	if n := s.logs.panics(); n != 1 {
		t.Fatalf("%d panics logged, want 1", n)
	}
	if p := produceResult(t, bystander, produceRequest("p", 0, -1, recs)); p.ErrorCode != 0 {
		t.Fatalf("bystander produce: error %d", p.ErrorCode)
	}
}

// TestFetchLongPoll: a fetch waiting at the high watermark is answered when data
// arrives, and one with nothing to read gets an empty, non-null record set.
func TestFetchLongPoll(t *testing.T) {
	s := startServer(t, serverOpts{})
	createTestTopic(t, s, "poll", 1, nil)
	fetch := func(wait int32) *kmsg.FetchRequest {
		r := kmsg.NewPtrFetchRequest()
		r.Version, r.MaxWaitMillis, r.MinBytes, r.MaxBytes, r.SessionEpoch = 11, wait, 1, 1<<20, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "poll"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
		return r
	}
	empty := dial(t, s.addr).request(fetch(10)).(*kmsg.FetchResponse)
	if p := empty.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.RecordBatches == nil || len(p.RecordBatches) != 0 || p.HighWatermark != 0 {
		t.Fatalf("empty fetch: %+v", p)
	}

	got := make(chan *kmsg.FetchResponse, 1)
	poller := dial(t, s.addr)
	go func() { got <- poller.request(fetch(60_000)).(*kmsg.FetchResponse) }()
	recs := encodeBatch(t, batch.Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: records(2, 3)})
	if p := produceResult(t, dial(t, s.addr), produceRequest("poll", 0, -1, recs)); p.ErrorCode != 0 {
		t.Fatalf("produce: %d", p.ErrorCode)
	}
	select {
	case resp := <-got:
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.HighWatermark != 2 || len(p.RecordBatches) == 0 {
			t.Fatalf("woken fetch: error %d hw %d %d bytes", p.ErrorCode, p.HighWatermark, len(p.RecordBatches))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("long poll not woken by new data within 30s (its MaxWait is 60s)")
	}
}

// TestInFlightBudgetIsReleased: with a budget of one frame, a connection's
// fifty produce requests in a row all complete, so every request gives its
// bytes back, whether it succeeded or was refused.
func TestInFlightBudgetIsReleased(t *testing.T) {
	s := startServer(t, serverOpts{maxRequestBytes: 1 << 20, maxInFlight: 1 << 20})
	createTestTopic(t, s, "budget", 1, map[string]string{"max.message.bytes": "50000"})
	c := dial(t, s.addr)
	big := encodeBatch(t, batch.Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: records(1, 100_000)})
	small := encodeBatch(t, batch.Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: records(1, 10)})
	for i := range 50 {
		recs, want := small, int16(0)
		if i%2 == 1 {
			recs, want = big, kerr.MessageTooLarge.Code
		}
		if p := produceResult(t, c, produceRequest("budget", 0, -1, recs)); p.ErrorCode != want {
			t.Fatalf("request %d: error %d, want %d", i, p.ErrorCode, want)
		}
	}
	requireServing(t, s.addr)
}
