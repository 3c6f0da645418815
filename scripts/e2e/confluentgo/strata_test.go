package confluentgo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
)

// Bounds on every wait, so a broken Strata fails a test instead of hanging it.
const (
	// startTimeout covers the embedded NATS, the object store and the
	// registry's cache load.
	startTimeout = 30 * time.Second
	// stopTimeout is how long a SIGTERM may take: Strata flushes what is
	// queued before it exits.
	stopTimeout = 30 * time.Second
	// ioTimeout bounds one produce, consume or admin round (a consumer
	// group's first join included).
	ioTimeout = 60 * time.Second
)

var (
	kafkaLine    = regexp.MustCompile(`msg="serving kafka" listen=(\S+)`)
	registryLine = regexp.MustCompile(`msg="serving schema registry" listen=(\S+)`)
)

// strata is one `strata serve` process on loopback with its own data dir.
type strata struct {
	broker   string // Kafka listener, host:port
	registry string // schema registry base URL, http://host:port
}

// startStrata runs the binary named by $STRATA_BIN on free loopback ports
// (:0, the addresses read from its log) and waits until both the Kafka
// listener and the schema registry serve. The process gets SIGTERM at
// cleanup and must exit 0; its log goes to the test log if the test failed.
func startStrata(t *testing.T) *strata {
	t.Helper()
	bin := os.Getenv("STRATA_BIN")
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("STRATA_BIN is not set; run scripts/e2e-confluent-go.sh path/to/strata")
		}
		t.Skip("STRATA_BIN is not set; run scripts/e2e-confluent-go.sh path/to/strata")
	}
	cmd := exec.Command(bin, "serve", "--listeners", "PLAINTEXT://127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--schema-registry-listen", "127.0.0.1:0", "--embedded-nats-listen", "", "--data-dir", t.TempDir(), "--log-level", "info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	log := &processLog{}
	addrs := make(chan [2]string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		log.scan(stderr, addrs)
	}()
	exited := make(chan error, 1)
	go func() {
		<-scanned // Wait must not close the pipe before the log is read.
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		stopStrata(t, cmd, exited)
		if t.Failed() {
			t.Logf("strata log:\n%s", log.String())
		}
	})

	var s strata
	select {
	case a := <-addrs:
		s = strata{broker: a[0], registry: "http://" + a[1]}
	case err := <-exited:
		exited <- err // for the cleanup
		t.Fatalf("strata exited during start: %v", err)
	case <-time.After(startTimeout):
		t.Fatalf("strata did not log both listen addresses within %v", startTimeout)
	}
	// The registry listens before its cache has loaded; /healthz says when.
	checkFor(t, startTimeout, 50*time.Millisecond, func() error {
		resp, err := http.Get(s.registry + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("registry /healthz: %s", resp.Status)
		}
		return nil
	})
	return &s
}

// stopStrata sends SIGTERM and requires exit status 0 within stopTimeout.
func stopStrata(t *testing.T, cmd *exec.Cmd, exited chan error) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("SIGTERM strata: %v", err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("strata after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(stopTimeout):
		cmd.Process.Kill()
		<-exited
		t.Errorf("strata did not exit within %v of SIGTERM", stopTimeout)
	}
}

// processLog keeps a process's stderr for the test log.
type processLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

// scan reads r to its end and sends the Kafka and registry addresses on
// addrs once both have been logged.
func (l *processLog) scan(r io.Reader, addrs chan<- [2]string) {
	var kafkaAddr, registryAddr string
	sent := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		l.mu.Lock()
		l.buf.WriteString(line + "\n")
		l.mu.Unlock()
		if m := kafkaLine.FindStringSubmatch(line); m != nil && kafkaAddr == "" {
			kafkaAddr = m[1]
		}
		if m := registryLine.FindStringSubmatch(line); m != nil && registryAddr == "" {
			registryAddr = m[1]
		}
		if !sent && kafkaAddr != "" && registryAddr != "" {
			addrs <- [2]string{kafkaAddr, registryAddr}
			sent = true
		}
	}
	// Drain the pipe's remainder if a line was too long for the scanner.
	io.Copy(io.Discard, r)
}

func (l *processLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// checkFor calls f every interval until it returns nil, for at most total,
// then fails the test with f's last error: a bounded poll, never a bare sleep.
func checkFor(t *testing.T, total, interval time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if !time.Now().Before(deadline) {
			t.Fatalf("still failing after %v: %v", total, err)
		}
		time.Sleep(min(interval, time.Until(deadline))) // the poll interval
	}
}

// registryClient returns Confluent's schema registry client for s.
func (s *strata) registryClient(t *testing.T) schemaregistry.Client {
	t.Helper()
	cl, err := schemaregistry.NewClient(schemaregistry.NewConfig(s.registry))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// createTopic creates a one-partition topic whose values the broker checks
// against the registry (confluent.value.schema.validation), with
// librdkafka's admin client.
func (s *strata) createTopic(t *testing.T, topic string) {
	t.Helper()
	adm, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": s.broker})
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	res, err := adm.CreateTopics(ctx, []kafka.TopicSpecification{{
		Topic: topic, NumPartitions: 1, ReplicationFactor: 1,
		Config: map[string]string{"confluent.value.schema.validation": "true"},
	}})
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if len(res) != 1 || res[0].Error.Code() != kafka.ErrNoError {
		t.Fatalf("create topic %s: %v", topic, res)
	}
}

// newProducer returns an idempotent producer with acks=all, closed at
// cleanup.
func (s *strata) newProducer(t *testing.T) *kafka.Producer {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":  s.broker,
		"acks":               "all",
		"enable.idempotence": true,
		"linger.ms":          5,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// produce sends values to partition 0 of topic in order and waits for every
// delivery report. It returns each report's error, nil for a record
// appended, and fails the test if the reports do not all arrive in time.
func produce(t *testing.T, p *kafka.Producer, topic string, values ...[]byte) []error {
	t.Helper()
	reports := make(chan kafka.Event, len(values))
	for i, v := range values {
		msg := &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: 0},
			Key:            fmt.Appendf(nil, "key-%d", i),
			Value:          v,
		}
		if err := p.Produce(msg, reports); err != nil {
			t.Fatalf("produce record %d to %s: %v", i, topic, err)
		}
	}
	errs := make([]error, 0, len(values))
	timeout := time.After(ioTimeout)
	for range values {
		select {
		case e := <-reports:
			m, ok := e.(*kafka.Message)
			if !ok {
				t.Fatalf("delivery report of unexpected type %T: %v", e, e)
			}
			errs = append(errs, m.TopicPartition.Error)
		case <-timeout:
			t.Fatalf("%d of %d delivery reports within %v", len(errs), len(values), ioTimeout)
		}
	}
	return errs
}

// produceOK is produce for records that must all be appended.
func produceOK(t *testing.T, p *kafka.Producer, topic string, values ...[]byte) {
	t.Helper()
	for i, err := range produce(t, p, topic, values...) {
		if err != nil {
			t.Fatalf("record %d to %s: %v", i, topic, err)
		}
	}
}

// consumeGroup joins group, reads n records of topic from the earliest
// offset, commits the last one and checks that the group's committed offset
// is n. It returns the values in the order read.
func (s *strata) consumeGroup(t *testing.T, group, topic string, n int) [][]byte {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":  s.broker,
		"group.id":           group,
		"auto.offset.reset":  "earliest",
		"enable.auto.commit": false,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SubscribeTopics([]string{topic}, nil); err != nil {
		t.Fatal(err)
	}
	var values [][]byte
	var last *kafka.Message
	deadline := time.Now().Add(ioTimeout)
	for len(values) < n {
		if !time.Now().Before(deadline) {
			t.Fatalf("group %s read %d of %d records of %s within %v", group, len(values), n, topic, ioTimeout)
		}
		m, err := c.ReadMessage(time.Until(deadline))
		var kerr kafka.Error
		if errors.As(err, &kerr) && kerr.IsTimeout() {
			continue
		}
		if err != nil {
			t.Fatalf("group %s read %s: %v", group, topic, err)
		}
		if int(m.TopicPartition.Offset) != len(values) {
			t.Fatalf("group %s read offset %d, want %d", group, m.TopicPartition.Offset, len(values))
		}
		values = append(values, m.Value)
		last = m
	}
	if _, err := c.CommitMessage(last); err != nil {
		t.Fatalf("group %s commit: %v", group, err)
	}
	committed, err := c.Committed([]kafka.TopicPartition{{Topic: &topic, Partition: 0}}, int(ioTimeout.Milliseconds()))
	if err != nil {
		t.Fatalf("group %s committed offsets: %v", group, err)
	}
	if len(committed) != 1 || int(committed[0].Offset) != n {
		t.Fatalf("group %s committed %v, want offset %d", group, committed, n)
	}
	return values
}

// schemaID returns the registry id a Confluent wire-format value carries
// (magic byte 0, then the id as 4 bytes big-endian).
func schemaID(t *testing.T, value []byte) int {
	t.Helper()
	if len(value) < 5 || value[0] != 0 {
		t.Fatalf("value %x is not in Confluent's wire format", value)
	}
	return int(value[1])<<24 | int(value[2])<<16 | int(value[3])<<8 | int(value[4])
}

// highWatermark returns the end offset of partition 0 of topic.
func (s *strata) highWatermark(t *testing.T, topic string) int64 {
	t.Helper()
	c, err := kafka.NewConsumer(&kafka.ConfigMap{"bootstrap.servers": s.broker, "group.id": "watermarks"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, high, err := c.QueryWatermarkOffsets(topic, 0, int(ioTimeout.Milliseconds()))
	if err != nil {
		t.Fatalf("watermarks of %s: %v", topic, err)
	}
	return high
}
