package io.github.stratalog.interop.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.StrataExtension;
import io.github.stratalog.interop.testing.TopicReader;
import io.github.stratalog.interop.testing.Wait;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Transactional producers: commit and abort as seen by read_committed and
 * read_uncommitted consumers, the last stable offset of an open
 * transaction, fencing of a zombie, and a consume-transform-produce loop
 * whose offsets are committed with sendOffsetsToTransaction.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class TransactionsTest {
    private static final Duration READ_TIMEOUT = Duration.ofSeconds(60);
    /** Orders partitions by topic, then number, so that maps print in order. */
    private static final Comparator<TopicPartition> BY_TOPIC_PARTITION =
            Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition);

    @RegisterExtension
    static final StrataExtension strata = new StrataExtension();

    /**
     * Three transactions (commit, abort, commit) of ten records on each of
     * three partitions, then a fourth left open: each transaction's marker
     * takes one offset, read_committed sees only the committed records and
     * stops at the open transaction, read_uncommitted sees everything.
     */
    @Test
    void commitAbortCommitAndOpenTransaction() throws Exception {
        String topic = "txn-commit-abort";
        int partitions = 3;
        int perPartition = 10;
        createTopics(partitions, topic);
        List<TopicPartition> tps = partitions(topic, partitions);

        try (KafkaProducer<String, String> p = KafkaClients.producer(strata.bootstrapServers(),
                Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "txn-commit-abort"))) {
            p.initTransactions();
            for (int txn = 1; txn <= 3; txn++) {
                p.beginTransaction();
                for (int i = 0; i < partitions * perPartition; i++) {
                    p.send(new ProducerRecord<>(topic, i % partitions, "k" + i, "t" + txn + "-" + i));
                }
                if (txn == 2) {
                    // Written first: the producer drops what it has not sent when it aborts.
                    p.flush();
                    p.abortTransaction();
                } else {
                    p.commitTransaction();
                }
            }

            // Per partition: t1 at 0-9, commit marker 10, t2 at 11-20, abort
            // marker 21, t3 at 22-31, commit marker 32.
            Map<TopicPartition, Long> want = tps.stream().collect(Collectors.toMap(tp -> tp, tp -> 33L));
            assertEquals(want, endOffsets(tps, IsolationLevel.READ_COMMITTED), "last stable offsets after three transactions");
            assertEquals(want, endOffsets(tps, IsolationLevel.READ_UNCOMMITTED), "high watermarks after three transactions");

            p.beginTransaction();
            for (int i = 0; i < partitions; i++) {
                p.send(new ProducerRecord<>(topic, i, "k" + i, "t4-" + i));
            }
            p.flush();
            // The open transaction's first offset (33) holds the LSO back.
            assertEquals(want, endOffsets(tps, IsolationLevel.READ_COMMITTED), "last stable offsets with t4 open");
            assertEquals(tps.stream().collect(Collectors.toMap(tp -> tp, tp -> 34L)),
                    endOffsets(tps, IsolationLevel.READ_UNCOMMITTED), "high watermarks with t4 open");

            List<ConsumerRecord<String, String>> committed = TopicReader.readAll(strata.bootstrapServers(), topic,
                    IsolationLevel.READ_COMMITTED, READ_TIMEOUT);
            Map<Integer, List<String>> committedValues = byPartition(committed, r -> r.offset() + "=" + r.value());
            for (int part = 0; part < partitions; part++) {
                List<String> expect = new ArrayList<>();
                for (int txn : new int[] {1, 3}) {
                    long base = txn == 1 ? 0 : 22;
                    for (int j = 0; j < perPartition; j++) {
                        expect.add((base + j) + "=t" + txn + "-" + (j * partitions + part));
                    }
                }
                assertEquals(expect, committedValues.get(part), "read_committed offsets and values of partition " + part);
            }

            List<ConsumerRecord<String, String>> all = TopicReader.readAll(strata.bootstrapServers(), topic,
                    IsolationLevel.READ_UNCOMMITTED, READ_TIMEOUT);
            Map<Integer, List<String>> allValues = byPartition(all, r -> r.offset() + "=" + r.value());
            for (int part = 0; part < partitions; part++) {
                List<String> expect = new ArrayList<>();
                for (int txn = 1; txn <= 3; txn++) {
                    long base = (txn - 1) * (perPartition + 1L);
                    for (int j = 0; j < perPartition; j++) {
                        expect.add((base + j) + "=t" + txn + "-" + (j * partitions + part));
                    }
                }
                expect.add("33=t4-" + part);
                assertEquals(expect, allValues.get(part), "read_uncommitted offsets and values of partition " + part);
            }

            p.abortTransaction();
            Map<TopicPartition, Long> afterAbort = tps.stream().collect(Collectors.toMap(tp -> tp, tp -> 35L));
            assertEquals(afterAbort, endOffsets(tps, IsolationLevel.READ_COMMITTED), "last stable offsets after aborting t4");
            assertEquals(afterAbort, endOffsets(tps, IsolationLevel.READ_UNCOMMITTED), "high watermarks after aborting t4");
        }
    }

    /**
     * A second producer with the same transactional id fences the first: the
     * first's open transaction is aborted and its commit fails with
     * ProducerFencedException.
     */
    @Test
    void newProducerWithSameTransactionalIdFencesTheOld() throws Exception {
        String topic = "txn-fencing";
        createTopics(1, topic);
        Map<String, Object> cfg = Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "txn-fencing");
        try (KafkaProducer<String, String> zombie = KafkaClients.producer(strata.bootstrapServers(), cfg)) {
            zombie.initTransactions();
            zombie.beginTransaction();
            zombie.send(new ProducerRecord<>(topic, "k", "zombie")).get(30, TimeUnit.SECONDS);

            try (KafkaProducer<String, String> successor = KafkaClients.producer(strata.bootstrapServers(), cfg)) {
                successor.initTransactions();
                successor.beginTransaction();
                successor.send(new ProducerRecord<>(topic, "k", "successor"));
                successor.commitTransaction();
            }
            assertThrows(ProducerFencedException.class, zombie::commitTransaction, "commit of the fenced producer");
        }
        List<String> values = TopicReader.readAll(strata.bootstrapServers(), topic, IsolationLevel.READ_COMMITTED, READ_TIMEOUT)
                .stream().map(ConsumerRecord::value).collect(Collectors.toList());
        assertEquals(List.of("successor"), values, "read_committed values");
        // zombie at 0, its abort marker at 1, successor at 2, commit marker at 3.
        TopicPartition tp = new TopicPartition(topic, 0);
        assertEquals(Map.of(tp, 4L), endOffsets(List.of(tp), IsolationLevel.READ_COMMITTED), "last stable offset");
    }

    /**
     * Consume-transform-produce: each polled batch is written to the output
     * and its offsets committed in one transaction. A first round is aborted,
     * which must commit no offsets; the group then resumes from what is
     * committed. In the end the group's committed offsets are the input's
     * end offsets, and read_committed sees every input record transformed
     * exactly once.
     */
    @ParameterizedTest(name = "group.protocol={0}")
    @ValueSource(strings = {"classic", "consumer"})
    void consumeTransformProduceCommitsOffsetsInTheTransaction(String protocol) throws Exception {
        String in = "ctp-in-" + protocol;
        String out = "ctp-out-" + protocol;
        String group = "ctp-" + protocol;
        int partitions = 3;
        int records = 300;
        createTopics(partitions, in, out);
        List<String> inputs = new ArrayList<>();
        try (KafkaProducer<String, String> p = KafkaClients.producer(strata.bootstrapServers(), Map.of())) {
            for (int i = 0; i < records; i++) {
                String v = String.format("k%02d:%04d", i % 30, i);
                inputs.add(v);
                p.send(new ProducerRecord<>(in, v.substring(0, 3), v));
            }
            p.flush();
        }

        Map<String, Object> consumerCfg = Map.of(
                ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
                ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 40);
        int aborted;
        int processed = 0;
        try (Admin admin = KafkaClients.admin(strata.bootstrapServers());
                KafkaConsumer<String, String> consumer = KafkaClients.consumer(strata.bootstrapServers(), group, consumerCfg);
                KafkaProducer<String, String> producer = KafkaClients.producer(strata.bootstrapServers(),
                        Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "ctp-producer-" + protocol))) {
            producer.initTransactions();
            consumer.subscribe(List.of(in));

            // Round one, aborted: its output is never visible, its offsets never committed.
            List<ConsumerRecords<String, String>> first = new ArrayList<>();
            Wait.until(Duration.ofSeconds(30), "a first batch from " + in, () -> {
                ConsumerRecords<String, String> rs = consumer.poll(Duration.ofMillis(200));
                first.add(rs);
                return !rs.isEmpty();
            });
            ConsumerRecords<String, String> batch = first.get(first.size() - 1);
            aborted = batch.count();
            producer.beginTransaction();
            transform(producer, out, batch);
            producer.sendOffsetsToTransaction(nextOffsets(batch), consumer.groupMetadata());
            producer.flush();
            producer.abortTransaction();
            assertEquals(Map.of(), committedOffsets(admin, group), "offsets committed by an aborted transaction");
            for (TopicPartition tp : consumer.assignment()) {
                OffsetAndMetadata c = consumer.committed(Set.of(tp)).get(tp);
                consumer.seek(tp, c == null ? 0 : c.offset());
            }

            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (processed < records) {
                assertTrue(System.nanoTime() < deadline, "processed only " + processed + " of " + records + " in 60s");
                ConsumerRecords<String, String> rs = consumer.poll(Duration.ofMillis(200));
                if (rs.isEmpty()) {
                    continue;
                }
                producer.beginTransaction();
                transform(producer, out, rs);
                producer.sendOffsetsToTransaction(nextOffsets(rs), consumer.groupMetadata());
                producer.commitTransaction();
                processed += rs.count();
            }
            assertEquals(records, processed, "records processed in committed transactions");

            Map<TopicPartition, Long> inputEnds = new TreeMap<>(BY_TOPIC_PARTITION);
            admin.listOffsets(partitions(in, partitions).stream().collect(Collectors.toMap(tp -> tp, tp -> OffsetSpec.latest())))
                    .all().get(30, TimeUnit.SECONDS).forEach((tp, info) -> inputEnds.put(tp, info.offset()));
            assertEquals(records, inputEnds.values().stream().mapToLong(Long::longValue).sum());
            assertEquals(inputEnds, committedOffsets(admin, group), "group offsets committed by the transactions");
        }

        List<ConsumerRecord<String, String>> committed = TopicReader.readAll(strata.bootstrapServers(), out,
                IsolationLevel.READ_COMMITTED, READ_TIMEOUT);
        List<String> got = committed.stream().map(ConsumerRecord::value).sorted().collect(Collectors.toList());
        List<String> want = inputs.stream().map(TransactionsTest::transformed).sorted().collect(Collectors.toList());
        assertEquals(want, got, "read_committed output: every input transformed exactly once");
        Map<String, List<String>> perKey = new HashMap<>();
        committed.forEach(r -> perKey.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(r.value()));
        perKey.forEach((k, vs) -> assertEquals(vs.stream().sorted().collect(Collectors.toList()), vs, "order of key " + k));

        List<ConsumerRecord<String, String>> all = TopicReader.readAll(strata.bootstrapServers(), out,
                IsolationLevel.READ_UNCOMMITTED, READ_TIMEOUT);
        assertEquals(records + aborted, all.size(), "read_uncommitted output: committed plus the aborted round");
    }

    private static void transform(KafkaProducer<String, String> producer, String topic, ConsumerRecords<String, String> rs) {
        for (ConsumerRecord<String, String> r : rs) {
            producer.send(new ProducerRecord<>(topic, r.key(), transformed(r.value())));
        }
    }

    private static String transformed(String v) {
        return v.toUpperCase(Locale.ROOT) + "!";
    }

    private static Map<TopicPartition, OffsetAndMetadata> nextOffsets(ConsumerRecords<String, String> rs) {
        Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
        for (TopicPartition tp : rs.partitions()) {
            List<ConsumerRecord<String, String>> prs = rs.records(tp);
            ConsumerRecord<String, String> last = prs.get(prs.size() - 1);
            next.put(tp, new OffsetAndMetadata(last.offset() + 1, last.leaderEpoch(), ""));
        }
        return next;
    }

    private static Map<TopicPartition, Long> committedOffsets(Admin admin, String group) throws Exception {
        Map<TopicPartition, Long> out = new TreeMap<>(BY_TOPIC_PARTITION);
        admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS)
                .forEach((tp, om) -> {
                    if (om != null) {
                        out.put(tp, om.offset());
                    }
                });
        return out;
    }

    private static void createTopics(int partitions, String... names) throws Exception {
        try (Admin admin = KafkaClients.admin(strata.bootstrapServers())) {
            admin.createTopics(Arrays.stream(names)
                    .map(n -> new NewTopic(n, Optional.of(partitions), Optional.empty()))
                    .collect(Collectors.toList())).all().get(30, TimeUnit.SECONDS);
        }
    }

    private static List<TopicPartition> partitions(String topic, int n) {
        return IntStream.range(0, n).mapToObj(i -> new TopicPartition(topic, i)).collect(Collectors.toList());
    }

    private static Map<TopicPartition, Long> endOffsets(List<TopicPartition> tps, IsolationLevel isolation) {
        Map<String, Object> cfg = Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation.name().toLowerCase(Locale.ROOT));
        try (KafkaConsumer<String, String> c = KafkaClients.consumer(strata.bootstrapServers(), null, cfg)) {
            return new HashMap<>(c.endOffsets(tps, Duration.ofSeconds(30)));
        }
    }

    private static <T> Map<Integer, List<T>> byPartition(List<ConsumerRecord<String, String>> rs,
            Function<ConsumerRecord<String, String>, T> f) {
        Map<Integer, List<T>> out = new TreeMap<>();
        for (ConsumerRecord<String, String> r : rs) {
            out.computeIfAbsent(r.partition(), k -> new ArrayList<>()).add(f.apply(r));
        }
        return out;
    }
}
