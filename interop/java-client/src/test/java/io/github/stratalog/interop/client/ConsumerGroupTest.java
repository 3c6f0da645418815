package io.github.stratalog.interop.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.StrataExtension;
import io.github.stratalog.interop.testing.Wait;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Consumer groups with the classic protocol and with KIP-848's
 * ({@code group.protocol=consumer}): two members share six partitions and
 * read every record exactly once, committing as they go; then one member
 * stops fetching, records pile up on its partitions, it leaves, and the
 * other takes its partitions over from the committed offsets (neither
 * re-reading what was read nor skipping what was not).
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ConsumerGroupTest {
    private static final int PARTITIONS = 6;
    private static final int BATCH = 600;
    private static final Duration WAIT = Duration.ofSeconds(60);

    @RegisterExtension
    static final StrataExtension strata = new StrataExtension();

    @ParameterizedTest(name = "group.protocol={0}")
    @ValueSource(strings = {"classic", "consumer"})
    void twoMembersShareSixPartitionsThenOneTakesOverFromCommittedOffsets(String protocol) throws Exception {
        String topic = "group-" + protocol;
        String group = "group-" + protocol;
        GroupType type = GroupType.parse(protocol);
        Set<TopicPartition> all = IntStream.range(0, PARTITIONS).mapToObj(i -> new TopicPartition(topic, i))
                .collect(Collectors.toSet());
        try (Admin admin = KafkaClients.admin(strata.bootstrapServers())) {
            admin.createTopics(List.of(new NewTopic(topic, Optional.of(PARTITIONS), Optional.empty())))
                    .all().get(30, TimeUnit.SECONDS);

            Member m1 = new Member("m1-" + protocol, protocol, group, topic);
            Member m2 = new Member("m2-" + protocol, protocol, group, topic);
            try (m1; m2) {
                Wait.until(WAIT, "two members sharing " + PARTITIONS + " partitions", () -> {
                    Set<TopicPartition> a1 = m1.assignment(), a2 = m2.assignment();
                    return !a1.isEmpty() && !a2.isEmpty() && Collections.disjoint(a1, a2) && a1.size() + a2.size() == PARTITIONS;
                });
                Set<TopicPartition> m1Parts = m1.assignment(), m2Parts = m2.assignment();
                Wait.until(WAIT, "the group described with both members' assignments",
                        () -> assignments(describe(admin, group)).equals(Map.of(m1.name, m1Parts, m2.name, m2Parts)));
                ConsumerGroupDescription d = describe(admin, group);
                assertEquals(type, d.type(), "group type");
                assertEquals(GroupState.STABLE, d.groupState(), "group state");

                // Phase 1: both read, each only its own partitions.
                Map<String, TopicPartition> phase1 = produce(topic, "one", BATCH);
                Wait.until(WAIT, BATCH + " records consumed", () -> m1.count() + m2.count() >= BATCH);
                assertExactlyOnce(phase1, m1, m2);
                assertTrue(m1.count() > 0 && m2.count() > 0, "both members read records: " + m1.count() + ", " + m2.count());
                for (Member m : List.of(m1, m2)) {
                    Set<TopicPartition> mine = m == m1 ? m1Parts : m2Parts;
                    for (ConsumerRecord<String, String> r : m.records()) {
                        assertTrue(mine.contains(new TopicPartition(r.topic(), r.partition())),
                                m.name + " read " + r.topic() + "-" + r.partition() + ", not among its partitions " + mine);
                    }
                }
                Wait.until(WAIT, "committed offsets at the end offsets",
                        () -> committed(admin, group).equals(endOffsets(admin, all)));

                // Phase 2: m2 stops fetching, so its partitions' records wait for m1.
                m2.pause();
                Wait.until(WAIT, m2.name + " paused", m2::paused);
                int m2Read = m2.count();
                Map<String, TopicPartition> phase2 = produce(topic, "two", BATCH);
                long forM1 = phase2.values().stream().filter(m1Parts::contains).count();
                Wait.until(WAIT, forM1 + " phase-two records read by " + m1.name,
                        () -> m1.values().stream().filter(phase2::containsKey).count() >= forM1);
                assertEquals(m2Read, m2.count(), m2.name + " read while paused");

                m2.close();
                Wait.until(WAIT, m1.name + " assigned all partitions", () -> m1.assignment().equals(all));
                Map<String, TopicPartition> both = new HashMap<>(phase1);
                both.putAll(phase2);
                Wait.until(WAIT, 2 * BATCH + " records consumed", () -> m1.count() + m2.count() >= 2 * BATCH);
                assertExactlyOnce(both, m1, m2);
                long takenOver = m1.values().stream().filter(v -> phase2.containsKey(v) && m2Parts.contains(phase2.get(v))).count();
                assertEquals(BATCH - forM1, takenOver, "phase-two records of " + m2.name + "'s partitions read by " + m1.name);

                Wait.until(WAIT, "committed offsets at the end offsets",
                        () -> committed(admin, group).equals(endOffsets(admin, all)));
                Wait.until(WAIT, "the group described with one member",
                        () -> assignments(describe(admin, group)).equals(Map.of(m1.name, all)));
            }
        }
    }

    /** Every produced value was read once, by one member or the other. */
    private static void assertExactlyOnce(Map<String, TopicPartition> produced, Member... members) {
        Map<String, Integer> seen = new HashMap<>();
        for (Member m : members) {
            for (String v : m.values()) {
                seen.merge(v, 1, Integer::sum);
            }
        }
        List<String> dups = seen.entrySet().stream().filter(e -> e.getValue() > 1).map(Map.Entry::getKey).sorted()
                .collect(Collectors.toList());
        assertEquals(List.of(), dups, "records read more than once");
        assertEquals(produced.keySet(), seen.keySet(), "records read");
    }

    /** Produces {@code n} keyed records and returns each value's partition. */
    private static Map<String, TopicPartition> produce(String topic, String phase, int n) throws Exception {
        Map<String, Future<RecordMetadata>> acks = new HashMap<>();
        try (KafkaProducer<String, String> p = KafkaClients.producer(strata.bootstrapServers(), Map.of())) {
            for (int i = 0; i < n; i++) {
                String key = "key-" + (i % 40);
                String value = String.format("%s/%s/%04d", phase, key, i);
                acks.put(value, p.send(new ProducerRecord<>(topic, key, value)));
            }
            p.flush();
        }
        Map<String, TopicPartition> out = new HashMap<>();
        for (Map.Entry<String, Future<RecordMetadata>> e : acks.entrySet()) {
            RecordMetadata md = e.getValue().get(10, TimeUnit.SECONDS);
            out.put(e.getKey(), new TopicPartition(md.topic(), md.partition()));
        }
        return out;
    }

    private static ConsumerGroupDescription describe(Admin admin, String group) throws Exception {
        return admin.describeConsumerGroups(List.of(group)).describedGroups().get(group).get(10, TimeUnit.SECONDS);
    }

    private static Map<String, Set<TopicPartition>> assignments(ConsumerGroupDescription d) {
        Map<String, Set<TopicPartition>> out = new HashMap<>();
        for (MemberDescription m : d.members()) {
            out.put(m.clientId(), new HashSet<>(m.assignment().topicPartitions()));
        }
        return out;
    }

    private static Map<TopicPartition, Long> committed(Admin admin, String group) throws Exception {
        Map<TopicPartition, Long> out = new HashMap<>();
        admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS)
                .forEach((tp, om) -> {
                    if (om != null) {
                        out.put(tp, om.offset());
                    }
                });
        return out;
    }

    private static Map<TopicPartition, Long> endOffsets(Admin admin, Set<TopicPartition> tps) throws Exception {
        Map<TopicPartition, Long> out = new HashMap<>();
        admin.listOffsets(tps.stream().collect(Collectors.toMap(tp -> tp, tp -> OffsetSpec.latest())))
                .all().get(10, TimeUnit.SECONDS).forEach((tp, info) -> out.put(tp, info.offset()));
        return out;
    }

    /**
     * A group member on its own thread (a KafkaConsumer is used by one
     * thread): it polls, keeps what it reads, and commits synchronously after
     * every non-empty poll, so that what it has read is what it has committed
     * whenever it is between polls. Closing it leaves the group.
     */
    private static final class Member implements AutoCloseable {
        final String name;
        private final List<ConsumerRecord<String, String>> records = Collections.synchronizedList(new ArrayList<>());
        private final Thread thread;
        private volatile Set<TopicPartition> assignment = Set.of();
        private volatile boolean stop;
        private volatile boolean pauseRequested;
        private volatile boolean paused;
        private volatile Throwable error;

        Member(String name, String protocol, String group, String topic) {
            this.name = name;
            Map<String, Object> cfg = new HashMap<>();
            cfg.put(ConsumerConfig.CLIENT_ID_CONFIG, name);
            cfg.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol.toLowerCase(Locale.ROOT));
            if (protocol.equals("classic")) {
                cfg.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 500);
            }
            this.thread = new Thread(() -> run(cfg, group, topic), name);
            this.thread.start();
        }

        private void run(Map<String, Object> cfg, String group, String topic) {
            try (KafkaConsumer<String, String> c = KafkaClients.consumer(strata.bootstrapServers(), group, cfg)) {
                c.subscribe(List.of(topic));
                while (!stop) {
                    if (pauseRequested && !paused) {
                        c.pause(c.assignment());
                        paused = true;
                    }
                    ConsumerRecords<String, String> rs = c.poll(Duration.ofMillis(100));
                    rs.forEach(records::add);
                    if (!rs.isEmpty()) {
                        c.commitSync(Duration.ofSeconds(30));
                    }
                    assignment = Set.copyOf(c.assignment());
                }
            } catch (Throwable t) {
                error = t;
            }
        }

        Set<TopicPartition> assignment() {
            failIfBroken();
            return assignment;
        }

        void pause() {
            pauseRequested = true;
        }

        boolean paused() {
            failIfBroken();
            return paused;
        }

        int count() {
            failIfBroken();
            return records.size();
        }

        List<ConsumerRecord<String, String>> records() {
            synchronized (records) {
                return new ArrayList<>(records);
            }
        }

        List<String> values() {
            return records().stream().map(ConsumerRecord::value).collect(Collectors.toList());
        }

        private void failIfBroken() {
            if (error != null) {
                throw new AssertionError(name + " failed", error);
            }
        }

        /** Stops polling and closes the consumer, which leaves the group. */
        @Override
        public void close() {
            stop = true;
            try {
                thread.join(Duration.ofSeconds(60).toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted while closing " + name, e);
            }
            if (thread.isAlive()) {
                throw new AssertionError(name + " did not close within 60s");
            }
            failIfBroken();
        }
    }
}
