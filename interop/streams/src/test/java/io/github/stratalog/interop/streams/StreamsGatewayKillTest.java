package io.github.stratalog.interop.streams;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;

import io.github.stratalog.interop.streams.Topics.Event;
import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.StrataCluster;
import io.github.stratalog.interop.testing.TopicReader;
import io.github.stratalog.interop.testing.Wait;

/**
 * An exactly-once Streams application on a three-gateway Strata cluster
 * while the gateway coordinating its group is killed (SIGKILL) and later
 * restarted: the group, its transactions and the partitions that gateway
 * led move to the others, and the application carries on without a
 * restart of its own.
 *
 * <p>The application ({@link CountingApp#topology}, exactly_once_v2) counts
 * records per key while input keeps arriving. It must make progress while
 * the gateway is down, and a read_committed consumer of the output must
 * see every key's counts exactly 1, 2, …, n.
 */
class StreamsGatewayKillTest {
    private static final Duration LEASE = Duration.ofSeconds(2);
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final int PARTITIONS = 3;
    private static final int KEYS = 20;
    private static final int RECORDS = 3000;
    /** Committed counts to see before the kill, and again while the gateway is down. */
    private static final int STEP = 500;
    private static final String APP = "gateway-kill";

    @Test
    void exactlyOnceCountsCarryOnAcrossAGatewayKill() throws Exception {
        try (StrataCluster cluster = StrataCluster.start(LEASE, PARTITIONS)) {
            String bootstrap = cluster.bootstrapServers();
            for (int id : cluster.nodeIds()) {
                try (Admin one = KafkaClients.admin(cluster.address(id))) {
                    Wait.until(Duration.ofSeconds(30), "gateway " + id + " listing three brokers",
                            () -> one.describeCluster().nodes().get(5, TimeUnit.SECONDS).size() == 3);
                }
            }
            Topics.create(bootstrap, "kill-in", PARTITIONS, Map.of());
            Topics.create(bootstrap, "kill-out", PARTITIONS, Map.of());
            Map<String, Integer> expected = new TreeMap<>();
            List<Event> events = events(expected);

            Properties config = StreamsConfigs.base(bootstrap, APP, StreamsApp.newStateDir());
            config.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
            try (StreamsApp app = StreamsApp.start(CountingApp.topology("kill-in", "kill-out"), config, null);
                    TopicTail committed = new TopicTail(bootstrap, "kill-out", IsolationLevel.READ_COMMITTED);
                    InputFeeder feeder = new InputFeeder(bootstrap, "kill-in", events);
                    Admin admin = KafkaClients.admin(bootstrap)) {
                feeder.start();
                committed.awaitRecords(WAIT, STEP + " committed counts", app::assertHealthy, r -> r.size() >= STEP);

                int victim = admin.describeConsumerGroups(List.of(APP)).describedGroups().get(APP)
                        .get(30, TimeUnit.SECONDS).coordinator().id();
                cluster.kill(victim);
                int atKill = committed.records().size();
                committed.awaitRecords(WAIT, STEP + " more committed counts with gateway " + victim + " down", app::assertHealthy,
                        r -> r.size() >= atKill + STEP);
                cluster.restart(victim);
                feeder.awaitDone(WAIT);

                Map<String, String> finalCounts = expected.entrySet().stream()
                        .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().toString()));
                try {
                    committed.awaitRecords(WAIT, "the final counts " + finalCounts, app::assertHealthy,
                            r -> TopicTail.lastValues(r).equals(finalCounts));
                } catch (AssertionError e) {
                    assertEquals(new TreeMap<>(finalCounts), new TreeMap<>(TopicTail.lastValues(committed.records())), e.getMessage());
                    throw e;
                }
                System.out.printf("gateway kill: killed gateway %d (the group's coordinator) after %d committed counts%n",
                        victim, atKill);
            }

            List<ConsumerRecord<String, String>> out = TopicReader.readAll(bootstrap, "kill-out", IsolationLevel.READ_COMMITTED, WAIT);
            Map<String, List<String>> sequences = new TreeMap<>();
            expected.forEach((key, n) -> sequences.put(key, IntStream.rangeClosed(1, n).mapToObj(Integer::toString).toList()));
            assertEquals(sequences, new TreeMap<>(TopicTail.valuesByKey(out)));
        }
    }

    /** {@link #RECORDS} records over {@link #KEYS} keys; counts them into {@code expected}. */
    private static List<Event> events(Map<String, Integer> expected) {
        long time = System.currentTimeMillis();
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < RECORDS; i++) {
            String key = "k" + i % KEYS;
            events.add(new Event(key, "v" + i, time + i));
            expected.merge(key, 1, Integer::sum);
        }
        return events;
    }
}
