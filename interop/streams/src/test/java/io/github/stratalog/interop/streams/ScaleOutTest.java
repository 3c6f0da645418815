package io.github.stratalog.interop.streams;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.github.stratalog.interop.streams.Topics.Event;
import io.github.stratalog.interop.testing.StrataExtension;
import io.github.stratalog.interop.testing.TopicReader;
import io.github.stratalog.interop.testing.Wait;

/**
 * Scaling a Streams application out and in on Strata: a second instance
 * joins a running one (the classic group rebalances with Streams' task
 * assignor, and tasks move to the new instance, which restores their stores
 * from the changelogs), then the first leaves and the second takes over
 * every task, all while input keeps arriving.
 *
 * <p>With exactly_once_v2, a read_committed consumer of the output must see
 * every key's counts exactly 1, 2, …, n: no count lost or repeated as tasks
 * and their state moved between instances.
 */
class ScaleOutTest {
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final int PARTITIONS = 6;
    private static final int KEYS = 30;
    private static final int RECORDS = 3000;
    /** Committed counts to see before each step. */
    private static final int STEP = 300;
    private static final String APP = "scale-out";

    @RegisterExtension
    static final StrataExtension strata = new StrataExtension();

    @Test
    void tasksAndStateMoveBetweenInstances() throws Exception {
        String bootstrap = strata.bootstrapServers();
        Topics.create(bootstrap, "scale-in", PARTITIONS, Map.of());
        Topics.create(bootstrap, "scale-out", PARTITIONS, Map.of());
        Map<String, Integer> expected = new TreeMap<>();
        List<Event> events = events(expected);

        try (TopicTail committed = new TopicTail(bootstrap, "scale-out", IsolationLevel.READ_COMMITTED);
                InputFeeder feeder = new InputFeeder(bootstrap, "scale-in", events);
                StreamsApp second = startSecondAfterFirst(bootstrap, committed, feeder)) {
            feeder.awaitDone(WAIT);
            Map<String, String> finalCounts = expected.entrySet().stream()
                    .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().toString()));
            try {
                committed.awaitRecords(WAIT, "the final counts " + finalCounts, second::assertHealthy,
                        r -> TopicTail.lastValues(r).equals(finalCounts));
            } catch (AssertionError e) {
                assertEquals(new TreeMap<>(finalCounts), new TreeMap<>(TopicTail.lastValues(committed.records())), e.getMessage());
                throw e;
            }
        }

        List<ConsumerRecord<String, String>> out = TopicReader.readAll(bootstrap, "scale-out", IsolationLevel.READ_COMMITTED, WAIT);
        Map<String, List<String>> sequences = new TreeMap<>();
        expected.forEach((key, n) -> sequences.put(key, IntStream.rangeClosed(1, n).mapToObj(Integer::toString).toList()));
        assertEquals(sequences, new TreeMap<>(TopicTail.valuesByKey(out)));
    }

    /**
     * Runs the first instance alone, then both (each with some of the
     * tasks), then closes the first and returns the second once it runs
     * every task; the input flows throughout.
     */
    private static StreamsApp startSecondAfterFirst(String bootstrap, TopicTail committed, InputFeeder feeder) throws Exception {
        StreamsApp second = null;
        try (StreamsApp first = StreamsApp.start(CountingApp.topology("scale-in", "scale-out"), config(bootstrap), null)) {
            feeder.start();
            committed.awaitRecords(WAIT, STEP + " committed counts from the first instance", first::assertHealthy,
                    r -> r.size() >= STEP);

            second = StreamsApp.start(CountingApp.topology("scale-in", "scale-out"), config(bootstrap), null);
            StreamsApp both = second;
            Wait.until(WAIT, "the tasks spread over both instances", () -> {
                first.assertHealthy();
                both.assertHealthy();
                return first.activeTasks() > 0 && both.activeTasks() > 0 && first.activeTasks() + both.activeTasks() == PARTITIONS;
            });
            System.out.printf("scale out: %d tasks on the first instance, %d on the second%n", first.activeTasks(), both.activeTasks());
            int atScaleOut = committed.records().size();
            committed.awaitRecords(WAIT, STEP + " more committed counts from both instances", both::assertHealthy,
                    r -> r.size() >= atScaleOut + STEP);
        } catch (Exception | Error e) {
            if (second != null) {
                second.close();
            }
            throw e;
        }
        // The first has left the group: the second runs everything.
        StreamsApp last = second;
        Wait.until(WAIT, "every task on the second instance", () -> {
            last.assertHealthy();
            return last.activeTasks() == PARTITIONS;
        });
        return second;
    }

    /** Exactly-once, in a new state directory. */
    private static Properties config(String bootstrap) throws Exception {
        Properties config = StreamsConfigs.base(bootstrap, APP, StreamsApp.newStateDir());
        config.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        return config;
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
