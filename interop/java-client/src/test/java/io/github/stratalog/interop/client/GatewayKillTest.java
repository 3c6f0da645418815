package io.github.stratalog.interop.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.StrataCluster;
import io.github.stratalog.interop.testing.TopicReader;
import io.github.stratalog.interop.testing.Wait;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.errors.RetriableException;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Three gateways, one killed (SIGKILL) and restarted under load: an
 * idempotent acks=all producer and a group consumer keep going. Afterwards
 * every acknowledged record is in the log exactly once at its acknowledged
 * offset (the producer's retries across the kill wrote no duplicates), in
 * order per key; the group read every one of them, each key's records in
 * order; and its committed offsets reached the end of the log.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class GatewayKillTest {
    private static final Duration LEASE = Duration.ofSeconds(2);
    private static final int PARTITIONS = 6;
    private static final int KEYS = 24;
    /** Acknowledgements to wait for before the kill, while the gateway is down, and after it is back. */
    private static final int STEP = 1500;
    private static final Duration WAIT = Duration.ofSeconds(90);

    @ParameterizedTest(name = "group.protocol={0}")
    @ValueSource(strings = {"classic", "consumer"})
    void producerAndGroupCarryOnAcrossAGatewayKill(String protocol) throws Exception {
        String topic = "kill-" + protocol;
        String group = "kill-" + protocol;
        try (StrataCluster cluster = StrataCluster.start(LEASE, PARTITIONS);
                Admin admin = KafkaClients.admin(cluster.bootstrapServers())) {
            for (int id : cluster.nodeIds()) {
                try (Admin one = KafkaClients.admin(cluster.address(id))) {
                    Wait.until(Duration.ofSeconds(30), "gateway " + id + " listing three brokers",
                            () -> one.describeCluster().nodes().get(5, TimeUnit.SECONDS).size() == 3);
                }
            }
            admin.createTopics(List.of(new NewTopic(topic, Optional.of(PARTITIONS), Optional.empty())))
                    .all().get(30, TimeUnit.SECONDS);

            try (Load load = new Load(cluster.bootstrapServers(), topic);
                    Reader reader = new Reader(cluster.bootstrapServers(), protocol, group, topic)) {
                Wait.until(WAIT, "the reader assigned all partitions", () -> reader.assignment().size() == PARTITIONS);
                Wait.until(WAIT, STEP + " acknowledgements", () -> load.acked() >= STEP);

                // The victim: the group's coordinator, which also leads partitions.
                int victim = admin.describeConsumerGroups(List.of(group)).describedGroups().get(group)
                        .get(10, TimeUnit.SECONDS).coordinator().id();
                TopicDescription before = admin.describeTopics(List.of(topic)).allTopicNames().get(10, TimeUnit.SECONDS).get(topic);
                List<Integer> led = before.partitions().stream().filter(p -> p.leader() != null && p.leader().id() == victim)
                        .map(TopicPartitionInfo::partition).collect(Collectors.toList());
                System.out.printf("killing gateway %d (group coordinator, leader of partitions %s) at %d acknowledgements%n",
                        victim, led, load.acked());
                int atKill = load.acked();
                cluster.kill(victim);
                Wait.until(WAIT, STEP + " acknowledgements with gateway " + victim + " down", () -> load.acked() >= atKill + STEP);
                String afterKill = load.lastAckedValue();
                Wait.until(WAIT, "the group reading what was acknowledged with gateway " + victim + " down",
                        () -> reader.seen(afterKill));

                cluster.restart(victim);
                int atRestart = load.acked();
                Wait.until(WAIT, STEP + " acknowledgements after gateway " + victim + " restarted",
                        () -> load.acked() >= atRestart + STEP);
                load.stop();
                assertEquals(List.of(), load.failures(), "sends that failed");
                System.out.printf("%d records acknowledged, %d failed; restarted gateway %d led partitions %s%n",
                        load.acked(), load.failures().size(), victim, leaders(admin, topic, victim));

                Map<String, Load.Ack> acked = load.ackedRecords();
                Wait.until(WAIT, "the group reading all " + acked.size() + " acknowledged records",
                        () -> reader.distinctValues() >= acked.size());
                reader.stop();
                Set<String> unacked = new HashSet<>(reader.values());
                unacked.removeAll(acked.keySet());
                assertEquals(Set.of(), unacked, "records the group read that were never acknowledged");
                assertOrderPerKey(reader.values(), "the group's reads");
                System.out.printf("the group read %d records, %d of them again after a rebalance or takeover; %d commits failed%n",
                        reader.values().size(), reader.values().size() - acked.size(), reader.failedCommits());

                // The log: each acknowledged record once, at its offset, in order per key.
                List<ConsumerRecord<String, String>> log = TopicReader.readAll(cluster.bootstrapServers(), topic,
                        IsolationLevel.READ_UNCOMMITTED, WAIT);
                Map<String, Integer> copies = new HashMap<>();
                for (ConsumerRecord<String, String> r : log) {
                    copies.merge(r.value(), 1, Integer::sum);
                    Load.Ack a = acked.get(r.value());
                    assertTrue(a != null, "log holds " + r.value() + " at " + r.partition() + "@" + r.offset() + ", never acknowledged");
                    assertEquals(a.partition() + "@" + a.offset(), r.partition() + "@" + r.offset(), "position of " + r.value());
                }
                List<String> dups = copies.entrySet().stream().filter(e -> e.getValue() > 1).map(Map.Entry::getKey)
                        .sorted().collect(Collectors.toList());
                assertEquals(List.of(), dups, "records written more than once");
                assertEquals(acked.keySet(), copies.keySet(), "acknowledged records in the log");
                assertOrderPerKey(log.stream().map(ConsumerRecord::value).collect(Collectors.toList()), "the log");

                Map<TopicPartition, Long> ends = new HashMap<>();
                Set<TopicPartition> tps = IntStream.range(0, PARTITIONS).mapToObj(i -> new TopicPartition(topic, i))
                        .collect(Collectors.toSet());
                admin.listOffsets(tps.stream().collect(Collectors.toMap(tp -> tp, tp -> OffsetSpec.latest())))
                        .all().get(30, TimeUnit.SECONDS).forEach((tp, info) -> ends.put(tp, info.offset()));
                Map<TopicPartition, Long> committed = new HashMap<>();
                admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS)
                        .forEach((tp, om) -> committed.put(tp, om == null ? null : om.offset()));
                assertEquals(ends, committed, "the group's committed offsets");
            }
        }
    }

    private static List<Integer> leaders(Admin admin, String topic, int node) throws Exception {
        TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get(10, TimeUnit.SECONDS).get(topic);
        return d.partitions().stream().filter(p -> p.leader() != null && p.leader().id() == node)
                .map(TopicPartitionInfo::partition).collect(Collectors.toList());
    }

    /**
     * Values are "key-KK/SEQ" with SEQ increasing per key in send order; the
     * first time each value appears, its SEQ must be above every earlier
     * one of its key (repeats, from a group re-reading, are skipped).
     */
    private static void assertOrderPerKey(List<String> values, String what) {
        Map<String, Integer> last = new HashMap<>();
        Set<String> seen = new HashSet<>();
        for (String v : values) {
            if (!seen.add(v)) {
                continue;
            }
            String key = v.substring(0, v.indexOf('/'));
            int seq = Integer.parseInt(v.substring(v.indexOf('/') + 1));
            Integer prev = last.put(key, seq);
            assertTrue(prev == null || prev < seq, "in " + what + ", " + v + " comes after " + key + "/" + prev);
        }
    }

    /**
     * An idempotent acks=all producer on its own thread, sending keyed
     * records at a steady pace until stopped, and recording where each was
     * acknowledged. Retries are unbounded within a two-minute delivery timeout.
     */
    private static final class Load implements AutoCloseable {
        record Ack(int partition, long offset) {}

        private final KafkaProducer<String, String> producer;
        private final String topic;
        private final Map<String, Ack> acked = new ConcurrentHashMap<>();
        private final List<String> failures = Collections.synchronizedList(new ArrayList<>());
        private final Thread thread;
        private volatile String lastAcked;
        private volatile boolean stop;
        private volatile Throwable error;

        Load(String bootstrap, String topic) {
            this.topic = topic;
            this.producer = KafkaClients.producer(bootstrap, Map.of(
                    ProducerConfig.CLIENT_ID_CONFIG, "kill-load",
                    ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 120_000,
                    ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000,
                    ProducerConfig.LINGER_MS_CONFIG, 5,
                    ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 5));
            this.thread = new Thread(this::run, "kill-load");
            this.thread.start();
        }

        private void run() {
            try {
                int[] next = new int[KEYS];
                for (int i = 0; !stop; i++) {
                    int k = i % KEYS;
                    String key = String.format("key-%02d", k);
                    String value = String.format("%s/%06d", key, next[k]++);
                    producer.send(new ProducerRecord<>(topic, key, value), (md, e) -> {
                        if (e != null) {
                            failures.add(value + ": " + e);
                        } else {
                            acked.put(value, new Ack(md.partition(), md.offset()));
                            lastAcked = value;
                        }
                    });
                    // A steady pace (about 1,000 records a second), not synchronisation.
                    Thread.sleep(1);
                }
                producer.flush();
            } catch (Throwable t) {
                error = t;
            }
        }

        int acked() {
            if (error != null) {
                throw new AssertionError("producer failed", error);
            }
            return acked.size();
        }

        String lastAckedValue() {
            return lastAcked;
        }

        Map<String, Ack> ackedRecords() {
            return new HashMap<>(acked);
        }

        List<String> failures() {
            synchronized (failures) {
                return new ArrayList<>(failures);
            }
        }

        /** Stops sending and waits until every record sent is acknowledged or failed. */
        void stop() throws InterruptedException {
            stop = true;
            thread.join(Duration.ofMinutes(3).toMillis());
            if (thread.isAlive()) {
                throw new AssertionError("producer did not flush within 3 minutes");
            }
            if (error != null) {
                throw new AssertionError("producer failed", error);
            }
        }

        @Override
        public void close() {
            stop = true;
            producer.close(Duration.ofSeconds(30));
        }
    }

    /**
     * A group member on its own thread that commits after every non-empty
     * poll. The group delivers at least once: after a coordinator moves or
     * the group rebalances, records since the last commit may come again, so
     * a commit that fails that way is counted, not fatal.
     */
    private static final class Reader implements AutoCloseable {
        private final List<String> values = Collections.synchronizedList(new ArrayList<>());
        private final Set<String> distinct = ConcurrentHashMap.newKeySet();
        private final Thread thread;
        private volatile Set<TopicPartition> assignment = Set.of();
        private volatile int failedCommits;
        private volatile boolean stop;
        private volatile Throwable error;

        Reader(String bootstrap, String protocol, String group, String topic) {
            Map<String, Object> cfg = new HashMap<>();
            cfg.put(ConsumerConfig.CLIENT_ID_CONFIG, "kill-reader");
            cfg.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
            if (protocol.equals("classic")) {
                cfg.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10_000);
                cfg.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 1_000);
            }
            this.thread = new Thread(() -> run(bootstrap, cfg, group, topic), "kill-reader");
            this.thread.start();
        }

        private void run(String bootstrap, Map<String, Object> cfg, String group, String topic) {
            try (KafkaConsumer<String, String> c = KafkaClients.consumer(bootstrap, group, cfg)) {
                c.subscribe(List.of(topic));
                while (!stop) {
                    ConsumerRecords<String, String> rs = c.poll(Duration.ofMillis(100));
                    for (ConsumerRecord<String, String> r : rs) {
                        values.add(r.value());
                        distinct.add(r.value());
                    }
                    assignment = Set.copyOf(c.assignment());
                    if (!rs.isEmpty()) {
                        commit(c);
                    }
                }
                // A last commit, so that the committed offsets are what was read.
                c.commitSync(Duration.ofSeconds(30));
            } catch (Throwable t) {
                error = t;
            }
        }

        private void commit(KafkaConsumer<String, String> c) {
            try {
                c.commitSync(Duration.ofSeconds(30));
            } catch (CommitFailedException | RebalanceInProgressException | RetriableException e) {
                failedCommits++;
                System.out.println("commit failed, records since the last commit may be read again: " + e);
            }
        }

        private void check() {
            if (error != null) {
                throw new AssertionError("group consumer failed", error);
            }
        }

        Set<TopicPartition> assignment() {
            check();
            return assignment;
        }

        boolean seen(String value) {
            check();
            return value != null && distinct.contains(value);
        }

        int distinctValues() {
            check();
            return distinct.size();
        }

        List<String> values() {
            synchronized (values) {
                return new ArrayList<>(values);
            }
        }

        int failedCommits() {
            return failedCommits;
        }

        void stop() throws InterruptedException {
            stop = true;
            thread.join(Duration.ofSeconds(60).toMillis());
            if (thread.isAlive()) {
                throw new AssertionError("group consumer did not stop within 60s");
            }
            check();
        }

        @Override
        public void close() {
            stop = true;
            try {
                thread.join(Duration.ofSeconds(60).toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
