package io.github.stratalog.interop.streams;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.github.stratalog.interop.streams.Topics.Event;
import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.StrataExtension;
import io.github.stratalog.interop.testing.TopicReader;
import io.github.stratalog.interop.testing.Wait;

/**
 * Deduplication with the Processor API on Strata: events without a key are
 * re-keyed by their id and repartitioned (an internal repartition topic),
 * and a processor with a persistent key-value store of ids seen drops an
 * event whose id it saw within the deduplication window.
 *
 * <p>Every id must come out exactly once, with its payload. Streams purges
 * the repartition topic's consumed records with DeleteRecords as it commits;
 * the test checks that the purge moved the topic's log start offsets and
 * that the application stayed healthy throughout.
 */
class DeduplicationTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(90);
    private static final int PARTITIONS = 3;
    private static final int IDS = 400;
    private static final Duration WINDOW = Duration.ofMinutes(10);
    private static final String APP = "dedup";
    private static final String REPARTITION_TOPIC = APP + "-by-id-repartition";

    @RegisterExtension
    static final StrataExtension strata = new StrataExtension();

    @Test
    void eachIdComesOutOnceAndTheRepartitionTopicIsPurged() throws Exception {
        String bootstrap = strata.bootstrapServers();
        Topics.create(bootstrap, "events", PARTITIONS, Map.of());
        Topics.create(bootstrap, "unique-events", PARTITIONS, Map.of());
        Map<String, String> expected = new TreeMap<>();
        List<Event> events = events(expected);

        StreamsBuilder b = new StreamsBuilder();
        b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore("seen-ids"), Serdes.String(), Serdes.Long()));
        b.<String, String>stream("events")
                .selectKey((k, v) -> v.substring(0, v.indexOf(':')))
                .repartition(Repartitioned.<String, String>as("by-id").withNumberOfPartitions(PARTITIONS))
                .process(() -> new Deduplicator(WINDOW), "seen-ids")
                .to("unique-events", Produced.with(Serdes.String(), Serdes.String()));

        try (StreamsApp app = StreamsApp.start(bootstrap, APP, b.build());
                TopicTail tail = new TopicTail(bootstrap, "unique-events", IsolationLevel.READ_UNCOMMITTED);
                Admin admin = KafkaClients.admin(bootstrap)) {
            Topics.produce(bootstrap, "events", events);
            tail.awaitRecords(TIMEOUT, IDS + " unique events", app::assertHealthy, r -> r.size() >= IDS);

            Map<TopicPartition, Long> end = Topics.offsets(admin, REPARTITION_TOPIC, OffsetSpec.latest());
            assertEquals(events.size(), end.values().stream().mapToLong(Long::longValue).sum(),
                    "every event goes through " + REPARTITION_TOPIC);
            Wait.until(TIMEOUT, "Streams to purge consumed records of " + REPARTITION_TOPIC, () -> {
                app.assertHealthy();
                return Topics.offsets(admin, REPARTITION_TOPIC, OffsetSpec.earliest()).values().stream()
                        .mapToLong(Long::longValue).sum() > 0;
            });
            Map<TopicPartition, Long> start = Topics.offsets(admin, REPARTITION_TOPIC, OffsetSpec.earliest());
            start.forEach((tp, offset) -> assertTrue(offset <= end.get(tp), tp + " purged to " + offset + " past its end " + end));
            System.out.printf("dedup: %d events, %d ids; %s purged to %s of %s%n", events.size(), IDS, REPARTITION_TOPIC, start, end);
            app.assertHealthy();
        }

        // Stopped and committed: the whole output holds each id once.
        List<ConsumerRecord<String, String>> out = TopicReader.readAll(bootstrap, "unique-events", IsolationLevel.READ_UNCOMMITTED, TIMEOUT);
        Map<String, String> seen = new TreeMap<>();
        out.forEach(r -> assertEquals(null, seen.put(r.key(), r.value()), "id " + r.key() + " came out twice"));
        assertEquals(expected, seen);
    }

    /**
     * {@link #IDS} ids, each in one to four events with the same payload, in
     * random order, 100 ms apart in event time (all within the window), and
     * without a key. {@code expected} receives each id's payload.
     */
    private static List<Event> events(Map<String, String> expected) {
        Random random = new Random(11);
        List<String> values = new ArrayList<>();
        for (int i = 0; i < IDS; i++) {
            String id = "id" + i;
            String value = id + ":payload-" + random.nextInt(1_000_000);
            expected.put(id, value);
            for (int n = 1 + random.nextInt(4); n > 0; n--) {
                values.add(value);
            }
        }
        Collections.shuffle(values, random);
        long time = System.currentTimeMillis() - Duration.ofMinutes(10).toMillis();
        List<Event> events = new ArrayList<>();
        for (String v : values) {
            events.add(new Event(null, v, time += 100));
        }
        return events;
    }

    /**
     * Forwards an event unless its key (the id) was seen within the window
     * before it, by event time; the store keeps the time each id was
     * forwarded.
     */
    static final class Deduplicator implements Processor<String, String, String, String> {
        private final long windowMs;
        private ProcessorContext<String, String> context;
        private KeyValueStore<String, Long> seen;

        Deduplicator(Duration window) {
            this.windowMs = window.toMillis();
        }

        @Override
        public void init(ProcessorContext<String, String> context) {
            this.context = context;
            this.seen = context.getStateStore("seen-ids");
        }

        @Override
        public void process(Record<String, String> event) {
            Long forwardedAt = seen.get(event.key());
            if (forwardedAt != null && Math.abs(event.timestamp() - forwardedAt) < windowMs) {
                return;
            }
            seen.put(event.key(), event.timestamp());
            context.forward(event);
        }
    }
}
