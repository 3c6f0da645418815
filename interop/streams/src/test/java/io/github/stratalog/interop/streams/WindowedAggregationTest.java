package io.github.stratalog.interop.streams;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.WindowStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.github.stratalog.interop.streams.Topics.Event;
import io.github.stratalog.interop.testing.StrataExtension;

/**
 * Windowed aggregations on event time run on Strata with the results Kafka
 * Streams' window semantics define: tumbling windows (counts), hopping
 * windows (sums) and session windows (counts, with sessions merging as
 * records fill the gaps between them).
 *
 * <p>The input is produced out of order with explicit timestamps spread over
 * several windows, on three partitions; the grace period is long enough that
 * no record is late, so the final result does not depend on the order
 * Streams processes partitions in. Each test computes every window's final
 * value itself and compares it with each output key's last value (sessions
 * that were merged away end in a tombstone).
 */
class WindowedAggregationTest {
    private static final Duration RESULT_TIMEOUT = Duration.ofSeconds(90);
    private static final Duration NO_LATE_RECORDS = Duration.ofHours(1);
    private static final int PARTITIONS = 3;
    private static final int RECORDS = 600;
    private static final int KEYS = 6;
    private static final long SPAN_MS = 90_000;

    @RegisterExtension
    static final StrataExtension strata = new StrataExtension("--num-partitions", Integer.toString(PARTITIONS));

    @Test
    void tumblingWindowCounts() throws Exception {
        long size = 10_000;
        List<Event> events = randomEvents(1);
        Map<String, String> expected = new TreeMap<>();
        for (Event e : events) {
            long start = e.timestamp() - e.timestamp() % size;
            expected.merge(windowKey(e.key(), start, start + size), "1", WindowedAggregationTest::add);
        }

        StreamsBuilder b = new StreamsBuilder();
        KTable<Windowed<String>, Long> counts = b.<String, String>stream("tumbling-in").groupByKey()
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(size), NO_LATE_RECORDS))
                .count(Materialized.as("tumbling-counts"));
        toOutput(counts, "tumbling-out");

        assertFinalWindows("tumbling", b.build(), events, expected);
    }

    @Test
    void hoppingWindowSums() throws Exception {
        long size = 20_000;
        long advance = 5_000;
        List<Event> events = randomEvents(2);
        Map<String, String> expected = new TreeMap<>();
        for (Event e : events) {
            long t = e.timestamp();
            // Kafka's TimeWindows.windowsFor: every window [s, s+size) with s
            // a multiple of advance that holds t.
            for (long s = t - t % advance; s > t - size && s >= 0; s -= advance) {
                expected.merge(windowKey(e.key(), s, s + size), e.value(), WindowedAggregationTest::add);
            }
        }

        StreamsBuilder b = new StreamsBuilder();
        KTable<Windowed<String>, Long> sums = b.<String, String>stream("hopping-in")
                .mapValues((String v) -> Long.parseLong(v))
                .groupByKey(Grouped.with(Serdes.String(), Serdes.Long()))
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(size), NO_LATE_RECORDS).advanceBy(Duration.ofMillis(advance)))
                .reduce(Long::sum, Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("hopping-sums")
                        .withKeySerde(Serdes.String()).withValueSerde(Serdes.Long()));
        toOutput(sums, "hopping-out");

        assertFinalWindows("hopping", b.build(), events, expected);
    }

    @Test
    void sessionWindowCounts() throws Exception {
        long gap = 5_000;
        List<Event> events = burstyEvents(3);
        Map<String, String> expected = new TreeMap<>();
        // A session is a maximal run of a key's records, in time order, in
        // which each is at most the inactivity gap after the one before
        // (KStreamSessionWindowAggregate merges sessions whose ends are
        // within the gap, inclusive), from the first timestamp to the last.
        Map<String, List<Long>> times = new TreeMap<>();
        events.forEach(e -> times.computeIfAbsent(e.key(), k -> new ArrayList<>()).add(e.timestamp()));
        times.forEach((key, ts) -> {
            ts.sort(null);
            int first = 0;
            for (int i = 1; i <= ts.size(); i++) {
                if (i == ts.size() || ts.get(i) - ts.get(i - 1) > gap) {
                    expected.put(windowKey(key, ts.get(first), ts.get(i - 1)), Integer.toString(i - first));
                    first = i;
                }
            }
        });
        assertTrue(expected.size() > KEYS, "the input should make several sessions per key: " + expected);

        StreamsBuilder b = new StreamsBuilder();
        KTable<Windowed<String>, Long> counts = b.<String, String>stream("session-in").groupByKey()
                .windowedBy(SessionWindows.ofInactivityGapAndGrace(Duration.ofMillis(gap), NO_LATE_RECORDS))
                .count(Materialized.as("session-counts"));
        toOutput(counts, "session-out");

        assertFinalWindows("session", b.build(), events, expected);
    }

    /**
     * Runs {@code topology} (reading {@code name}-in, writing {@code name}-out),
     * produces {@code events}, and waits until the output's live values are
     * {@code expected}: each window's final value.
     */
    private static void assertFinalWindows(String name, Topology topology, List<Event> events, Map<String, String> expected)
            throws Exception {
        String bootstrap = strata.bootstrapServers();
        Topics.create(bootstrap, name + "-in", PARTITIONS, Map.of());
        Topics.create(bootstrap, name + "-out", PARTITIONS, Map.of());
        try (StreamsApp app = StreamsApp.start(bootstrap, "windows-" + name, topology);
                TopicTail tail = new TopicTail(bootstrap, name + "-out", IsolationLevel.READ_UNCOMMITTED)) {
            Topics.produce(bootstrap, name + "-in", events);
            List<ConsumerRecord<String, String>> out;
            try {
                out = tail.awaitRecords(RESULT_TIMEOUT, name + " windows' final values", app::assertHealthy,
                        r -> new TreeMap<>(TopicTail.liveValues(r)).equals(expected));
            } catch (AssertionError e) {
                assertEquals(expected, new TreeMap<>(TopicTail.liveValues(tail.records())), e.getMessage());
                throw e;
            }
            app.assertHealthy();
            System.out.printf("%s: %d input records, %d windows, %d output records%n", name, events.size(), expected.size(), out.size());
        }
    }

    /** Writes a windowed table's updates to {@code topic} as "key@start/end" → value (tombstones kept). */
    private static void toOutput(KTable<Windowed<String>, Long> table, String topic) {
        table.toStream((wk, v) -> windowKey(wk.key(), wk.window().start(), wk.window().end()))
                .mapValues(v -> v == null ? null : Long.toString(v))
                .to(topic, Produced.with(Serdes.String(), Serdes.String()));
    }

    private static String windowKey(String key, long start, long end) {
        return key + "@" + start + "/" + end;
    }

    private static String add(String a, String b) {
        return Long.toString(Long.parseLong(a) + Long.parseLong(b));
    }

    /**
     * {@link #RECORDS} records over {@link #KEYS} keys with values 1–100 and
     * timestamps spread over {@link #SPAN_MS}, in random (not time) order.
     * The timestamps are recent, so that no retention (Strata's or Streams')
     * removes them.
     */
    static List<Event> randomEvents(long seed) {
        Random random = new Random(seed);
        long base = (System.currentTimeMillis() - Duration.ofMinutes(10).toMillis()) / 60_000 * 60_000;
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < RECORDS; i++) {
            events.add(new Event("k" + random.nextInt(KEYS), Integer.toString(1 + random.nextInt(100)),
                    base + (long) (random.nextDouble() * SPAN_MS)));
        }
        return events;
    }

    /**
     * Like {@link #randomEvents}, but each record falls in one of five
     * 8-second bursts 20 seconds apart, so that each key has several
     * sessions, which records arriving out of order split and then merge.
     */
    static List<Event> burstyEvents(long seed) {
        Random random = new Random(seed);
        long base = (System.currentTimeMillis() - Duration.ofMinutes(10).toMillis()) / 60_000 * 60_000;
        List<Event> events = new ArrayList<>();
        for (int i = 0; i < RECORDS; i++) {
            events.add(new Event("k" + random.nextInt(KEYS), "1", base + random.nextInt(5) * 20_000L + random.nextInt(8_000)));
        }
        return events;
    }
}
