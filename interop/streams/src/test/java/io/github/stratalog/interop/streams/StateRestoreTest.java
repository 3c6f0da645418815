package io.github.stratalog.interop.streams;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.github.stratalog.interop.streams.Topics.Event;
import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.StrataExtension;
import io.github.stratalog.interop.testing.TopicReader;
import io.github.stratalog.interop.testing.Wait;

/**
 * State restore from a changelog on Strata: a running count per key (a
 * persistent RocksDB store, {@link CountingApp#topology}) counts a first
 * batch of input and stops; Streams has created the store's changelog
 * topic through the Admin API, compacted and with the input's partition
 * count, and Strata's key compaction then removes the superseded counts
 * from it. The application starts again with a new, empty state directory,
 * restores the store from the compacted changelog (offsets with gaps), and
 * counts a second batch: each key's counts in the output must run 1, 2, …,
 * n over both batches, continuing where the first instance stopped rather
 * than starting again at 1.
 */
class StateRestoreTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(90);
    private static final int PARTITIONS = 3;
    private static final int KEYS = 20;
    private static final int RECORDS_PER_RUN = 600;
    private static final String APP = "restore-counts";
    private static final String CHANGELOG = APP + "-counts-changelog";
    private static final int SEGMENT_MS = 100;

    // Key compaction looks for work every second rather than every 30.
    @RegisterExtension
    static final StrataExtension strata = new StrataExtension("--compaction-interval", "1s");

    @Test
    void aFreshStateDirectoryIsRestoredFromTheChangelog() throws Exception {
        String bootstrap = strata.bootstrapServers();
        Topics.create(bootstrap, "restore-in", PARTITIONS, Map.of());
        Topics.create(bootstrap, "restore-out", PARTITIONS, Map.of());
        Map<String, Integer> expected = new TreeMap<>();

        try (StreamsApp app = StreamsApp.start(CountingApp.topology("restore-in", "restore-out"), config(bootstrap), null);
                TopicTail tail = new TopicTail(bootstrap, "restore-out", IsolationLevel.READ_UNCOMMITTED)) {
            Topics.produce(bootstrap, "restore-in", events(0, expected));
            awaitCounts(app, tail, expected);
        }
        // Closed: its state directory is gone. One changelog record per
        // update, which Strata then compacts to about one per key.
        int compacted;
        try (Admin admin = KafkaClients.admin(bootstrap)) {
            assertChangelogCreatedByStreams(admin);
            assertEquals(RECORDS_PER_RUN, Topics.offsets(admin, CHANGELOG, OffsetSpec.latest()).values().stream()
                    .mapToLong(Long::longValue).sum(), "offsets in " + CHANGELOG);
            compacted = awaitCompaction(bootstrap);
        }

        Restores restores = new Restores();
        try (StreamsApp app = StreamsApp.start(CountingApp.topology("restore-in", "restore-out"), config(bootstrap), restores);
                TopicTail tail = new TopicTail(bootstrap, "restore-out", IsolationLevel.READ_UNCOMMITTED)) {
            Topics.produce(bootstrap, "restore-in", events(RECORDS_PER_RUN, expected));
            awaitCounts(app, tail, expected);

            Map<String, List<String>> sequences = new TreeMap<>();
            expected.forEach((key, n) -> sequences.put(key, IntStream.rangeClosed(1, n).mapToObj(Integer::toString).toList()));
            assertEquals(sequences, new TreeMap<>(TopicTail.valuesByKey(tail.records())));
        }
        assertEquals(PARTITIONS, restores.partitions.size(), "changelog partitions restored: " + restores.partitions);
        // What compaction left, at least each key's latest count (compaction
        // may have gone on after the changelog was read).
        assertTrue(restores.records.get() >= KEYS && restores.records.get() <= compacted,
                "records restored: " + restores.records.get() + ", in the compacted changelog: " + compacted);
        System.out.printf("restore: %d changelog offsets, %d records after compaction, %d restored into an empty state directory%n",
                RECORDS_PER_RUN, compacted, restores.records.get());
    }

    /**
     * A new empty state directory, and internal topics whose newest
     * segment may be compacted once its records are 100 ms old (Kafka's
     * segment.ms, which Streams passes on when it creates the changelog),
     * so that the changelog restored from has been compacted.
     */
    private static Properties config(String bootstrap) throws IOException {
        Properties config = StreamsConfigs.base(bootstrap, APP, StreamsApp.newStateDir());
        config.put(StreamsConfig.topicPrefix(TopicConfig.SEGMENT_MS_CONFIG), SEGMENT_MS);
        return config;
    }

    /** Waits until Strata has compacted the changelog, and returns how many records it holds then. */
    private static int awaitCompaction(String bootstrap) throws InterruptedException {
        int[] left = {RECORDS_PER_RUN};
        Wait.until(TIMEOUT, "Strata to compact " + CHANGELOG, () -> {
            left[0] = TopicReader.readAll(bootstrap, CHANGELOG, IsolationLevel.READ_UNCOMMITTED, TIMEOUT).size();
            return left[0] < RECORDS_PER_RUN;
        });
        return left[0];
    }

    /**
     * Streams made the changelog through the Admin API: a producer's
     * auto-creation would have given it one partition and the default
     * cleanup policy.
     */
    private static void assertChangelogCreatedByStreams(Admin admin) throws Exception {
        assertEquals(PARTITIONS, admin.describeTopics(List.of(CHANGELOG)).allTopicNames().get(60, TimeUnit.SECONDS)
                .get(CHANGELOG).partitions().size(), "partitions of " + CHANGELOG);
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, CHANGELOG);
        Config config = admin.describeConfigs(List.of(resource)).all().get(60, TimeUnit.SECONDS).get(resource);
        assertEquals(TopicConfig.CLEANUP_POLICY_COMPACT, config.get(TopicConfig.CLEANUP_POLICY_CONFIG).value(),
                "cleanup.policy of " + CHANGELOG);
        assertEquals(Integer.toString(SEGMENT_MS), config.get(TopicConfig.SEGMENT_MS_CONFIG).value(), "segment.ms of " + CHANGELOG);
    }

    private static void awaitCounts(StreamsApp app, TopicTail tail, Map<String, Integer> expected) throws InterruptedException {
        Map<String, String> counts = expected.entrySet().stream()
                .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().toString()));
        try {
            tail.awaitRecords(TIMEOUT, "counts " + counts, app::assertHealthy, r -> TopicTail.lastValues(r).equals(counts));
        } catch (AssertionError e) {
            assertEquals(new TreeMap<>(counts), new TreeMap<>(TopicTail.lastValues(tail.records())), e.getMessage());
            throw e;
        }
    }

    /** {@link #RECORDS_PER_RUN} records over {@link #KEYS} keys, numbered from {@code first}; counts them into {@code expected}. */
    private static List<Event> events(int first, Map<String, Integer> expected) {
        long time = System.currentTimeMillis();
        List<Event> events = new ArrayList<>();
        for (int i = first; i < first + RECORDS_PER_RUN; i++) {
            String key = "k" + i % KEYS;
            events.add(new Event(key, "v" + i, time + i));
            expected.merge(key, 1, Integer::sum);
        }
        return events;
    }

    /** What the restore listener saw: the changelog partitions restored and the records restored into the store. */
    private static final class Restores implements StateRestoreListener {
        final Set<TopicPartition> partitions = ConcurrentHashMap.newKeySet();
        final AtomicLong records = new AtomicLong();

        @Override
        public void onRestoreStart(TopicPartition partition, String storeName, long startingOffset, long endingOffset) {}

        @Override
        public void onBatchRestored(TopicPartition partition, String storeName, long batchEndOffset, long numRestored) {}

        @Override
        public void onRestoreEnd(TopicPartition partition, String storeName, long totalRestored) {
            if (storeName.equals("counts") && totalRestored > 0) {
                partitions.add(partition);
                records.addAndGet(totalRestored);
            }
        }
    }
}
