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
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.state.WindowStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.github.stratalog.interop.streams.Topics.Event;
import io.github.stratalog.interop.testing.StrataExtension;
import io.github.stratalog.interop.testing.TopicReader;

/**
 * Late records and the grace period on Strata: a tumbling-window count with
 * a grace period, whose final results only ({@code suppress(untilWindowCloses)})
 * go to the output.
 *
 * <p>The input is one partition, so Streams sees it in the order produced
 * and the test can replay Kafka's rule itself: stream time is the largest
 * timestamp seen so far, and a record counts only if its window's end is
 * after stream time minus the grace period (KStreamWindowAggregate). The
 * input mixes on-time records, records that arrive after their window ended
 * but within the grace period (they must change the window's count), and
 * records later than that (they must be dropped). Every closed window must
 * appear exactly once in the output, with the count of its accepted records.
 */
class LateRecordsTest {
    private static final Duration RESULT_TIMEOUT = Duration.ofSeconds(90);
    private static final long WINDOW_MS = 10_000;
    private static final long GRACE_MS = 5_000;
    private static final int RECORDS = 400;

    @RegisterExtension
    static final StrataExtension strata = new StrataExtension();

    @Test
    void recordsWithinGraceCountAndLaterOnesAreDropped() throws Exception {
        String bootstrap = strata.bootstrapServers();
        Topics.create(bootstrap, "late-in", 1, Map.of());
        Topics.create(bootstrap, "late-out", 1, Map.of());
        List<Event> events = events();
        Expected expected = replay(events);
        assertTrue(expected.withinGrace > 10 && expected.dropped > 10,
                "the input should have both kinds of late record: " + expected.withinGrace + " within grace, "
                        + expected.dropped + " beyond it");

        StreamsBuilder b = new StreamsBuilder();
        b.<String, String>stream("late-in").groupByKey()
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(WINDOW_MS), Duration.ofMillis(GRACE_MS)))
                // The key serde makes the windowed one the suppression buffer needs.
                .count(Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("late-counts")
                        .withKeySerde(Serdes.String()).withValueSerde(Serdes.Long()))
                .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()).withName("final-counts"))
                .toStream((wk, v) -> wk.key() + "@" + wk.window().start())
                .mapValues(v -> Long.toString(v))
                .to("late-out", Produced.with(Serdes.String(), Serdes.String()));

        try (StreamsApp app = StreamsApp.start(bootstrap, "late-records", b.build());
                TopicTail tail = new TopicTail(bootstrap, "late-out", IsolationLevel.READ_UNCOMMITTED)) {
            Topics.produce(bootstrap, "late-in", events);
            try {
                tail.awaitRecords(RESULT_TIMEOUT, expected.counts.size() + " closed windows", app::assertHealthy,
                        r -> r.size() >= expected.counts.size());
            } catch (AssertionError e) {
                assertEquals(expected.counts, new TreeMap<>(TopicTail.lastValues(tail.records())), e.getMessage());
                throw e;
            }
        }

        // The application has committed and stopped: the whole output is
        // there. One record per closed window, none for the open one.
        List<ConsumerRecord<String, String>> out = TopicReader.readAll(bootstrap, "late-out", IsolationLevel.READ_UNCOMMITTED,
                RESULT_TIMEOUT);
        assertEquals(expected.counts, new TreeMap<>(TopicTail.lastValues(out)));
        assertEquals(expected.counts.size(), out.size(), "each closed window once: " + out);
        System.out.printf("late records: %d records, %d within grace, %d dropped, %d windows%n", events.size(),
                expected.withinGrace, expected.dropped, expected.counts.size());
    }

    /** The windows' final counts, and how many records arrived late within and beyond the grace period. */
    private record Expected(Map<String, String> counts, int withinGrace, int dropped) {}

    /**
     * Replays Kafka's window-close rule over {@code events} in order; the
     * result holds only windows closed by the last record's stream time.
     */
    private static Expected replay(List<Event> events) {
        Map<String, Long> counts = new TreeMap<>();
        long streamTime = Long.MIN_VALUE;
        int withinGrace = 0;
        int dropped = 0;
        for (Event e : events) {
            streamTime = Math.max(streamTime, e.timestamp());
            long start = e.timestamp() - e.timestamp() % WINDOW_MS;
            long end = start + WINDOW_MS;
            if (end <= streamTime - GRACE_MS) {
                dropped++;
                continue;
            }
            if (end <= streamTime) {
                withinGrace++;
            }
            counts.merge(e.key() + "@" + start, 1L, Long::sum);
        }
        long closeTime = streamTime - GRACE_MS;
        Map<String, String> closed = new TreeMap<>();
        counts.forEach((window, n) -> {
            long start = Long.parseLong(window.substring(window.indexOf('@') + 1));
            if (start + WINDOW_MS <= closeTime) {
                closed.put(window, Long.toString(n));
            }
        });
        return new Expected(closed, withinGrace, dropped);
    }

    /**
     * Records 250 ms apart in event time over three keys, a third of them
     * delayed by up to 15 s (some within the grace period, some beyond
     * it), and last a record a minute later that closes every earlier window.
     */
    private static List<Event> events() {
        Random random = new Random(7);
        long base = (System.currentTimeMillis() - Duration.ofMinutes(10).toMillis()) / 60_000 * 60_000;
        List<Event> events = new ArrayList<>();
        long now = base;
        for (int i = 0; i < RECORDS; i++) {
            now += 250;
            long ts = random.nextInt(3) == 0 ? Math.max(base, now - random.nextInt(15_000)) : now;
            events.add(new Event("k" + i % 3, "v" + i, ts));
        }
        events.add(new Event("closer", "end", now + 60_000));
        return events;
    }
}
