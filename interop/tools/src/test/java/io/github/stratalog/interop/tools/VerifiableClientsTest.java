package io.github.stratalog.interop.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.StrataExtension;
import io.github.stratalog.interop.testing.Wait;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * VerifiableProducer and VerifiableConsumer, the clients Kafka's system tests
 * drive (tests/kafkatest/services/verifiable_producer.py and
 * verifiable_consumer.py), which print what happens to them as JSON events.
 * A consumer joins a group (either protocol); the producer sends 10,000
 * increasing integers with acks=-1; then, from the events: every value
 * acknowledged is consumed exactly once, at the partition and offset its
 * acknowledgement named; each partition's offsets are 0..n-1; and the
 * consumer's last commit for each partition is that partition's end.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class VerifiableClientsTest {
    private static final Duration RUN = Duration.ofMinutes(2);
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final long TIMEOUT_S = 30;
    private static final int MESSAGES = 10_000;
    private static final int PARTITIONS = 3;
    /** Jackson comes with kafka-tools, which writes these events with it. */
    private static final ObjectMapper JSON = new ObjectMapper();

    @RegisterExtension
    static final StrataExtension strata = new StrataExtension();

    /** Where a record is: partition and offset. */
    private record Position(int partition, long offset) {}

    @ParameterizedTest(name = "group.protocol={0}")
    @ValueSource(strings = {"classic", "consumer"})
    void everyAcknowledgedValueConsumedOnce(String protocol) throws Exception {
        String t = "tools-verifiable-" + protocol;
        String g = t;
        try (Admin admin = KafkaClients.admin(strata.bootstrapServers())) {
            admin.createTopics(List.of(new NewTopic(t, PARTITIONS, (short) 1))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            try (KafkaTool.Started consumer = KafkaTool.VERIFIABLE_CONSUMER.start("--bootstrap-server", strata.bootstrapServers(),
                    "--topic", t, "--group-id", g, "--group-protocol", protocol, "--max-messages", Integer.toString(MESSAGES),
                    "--reset-policy", "earliest", "--verbose")) {
                Wait.until(WAIT, "the consumer assigned all " + PARTITIONS + " partitions", () -> assigned(consumer) == PARTITIONS);

                KafkaTool.Run produced = KafkaTool.VERIFIABLE_PRODUCER.run(RUN, "--bootstrap-server", strata.bootstrapServers(),
                        "--topic", t, "--max-messages", Integer.toString(MESSAGES), "--acks", "-1").assertSuccess();
                Map<String, Position> acked = acknowledged(produced);
                Map<Integer, Long> ends = ends(acked.values());

                KafkaTool.Run consumed = consumer.awaitExit(RUN).assertSuccess();
                checkConsumed(consumed, acked, ends);
                Map<Integer, Long> groupOffsets = admin.listConsumerGroupOffsets(g).partitionsToOffsetAndMetadata()
                        .get(TIMEOUT_S, TimeUnit.SECONDS).entrySet().stream()
                        .collect(Collectors.toMap(e -> e.getKey().partition(), e -> e.getValue().offset()));
                assertEquals(ends, groupOffsets, "the group's committed offsets (Admin client)");
            }
        }
    }

    /** Partitions named in the consumer's partitions_assigned events so far. */
    private static int assigned(KafkaTool.Started consumer) throws IOException, InterruptedException {
        consumer.assertRunning();
        Set<Integer> parts = new HashSet<>();
        for (JsonNode e : events(consumer.stdoutLines())) {
            if (e.path("name").asText().equals("partitions_assigned")) {
                e.get("partitions").forEach(p -> parts.add(p.get("partition").asInt()));
            }
        }
        return parts.size();
    }

    /**
     * The producer's acknowledged values and where they were written; fails
     * on a send error, a value acknowledged twice, two values at one
     * position, or a partition whose offsets are not 0..n-1.
     */
    private static Map<String, Position> acknowledged(KafkaTool.Run r) {
        Map<String, Position> acked = new HashMap<>();
        List<String> errors = new ArrayList<>();
        JsonNode toolData = null;
        for (JsonNode e : events(r.lines())) {
            switch (e.path("name").asText()) {
                case "producer_send_success" -> {
                    Position p = new Position(e.get("partition").asInt(), e.get("offset").asLong());
                    Position before = acked.put(e.get("value").asText(), p);
                    assertNull(before, r.describe("value " + e.get("value") + " acknowledged twice"));
                }
                case "producer_send_error" -> errors.add(e.toString());
                case "tool_data" -> toolData = e;
                default -> { }
            }
        }
        assertEquals(List.of(), errors, r.describe("send errors"));
        assertTrue(toolData != null, r.describe("no tool_data event"));
        assertEquals(MESSAGES, toolData.get("sent").asInt(), r.describe("sent"));
        assertEquals(MESSAGES, toolData.get("acked").asInt(), r.describe("acked"));
        assertEquals(IntStream.range(0, MESSAGES).mapToObj(Integer::toString).collect(Collectors.toSet()), acked.keySet(),
                "values acknowledged");
        Map<Integer, List<Long>> offsets = acked.values().stream().collect(Collectors.groupingBy(Position::partition, TreeMap::new,
                Collectors.mapping(Position::offset, Collectors.toList())));
        offsets.forEach((part, os) -> assertEquals(range(os.size()), os.stream().sorted().collect(Collectors.toList()),
                "acknowledged offsets of partition " + part));
        return acked;
    }

    /** Partition to end offset, from the acknowledged positions (each partition's offsets being 0..n-1). */
    private static Map<Integer, Long> ends(Iterable<Position> positions) {
        Map<Integer, Long> ends = new TreeMap<>();
        positions.forEach(p -> ends.merge(p.partition(), p.offset() + 1, Math::max));
        return ends;
    }

    /**
     * Checks the consumer's events: each acknowledged value in a record_data
     * event once, at its acknowledged position; the records_consumed counts
     * adding up; every commit successful, the last per partition at its end.
     */
    private static void checkConsumed(KafkaTool.Run r, Map<String, Position> acked, Map<Integer, Long> ends) {
        Map<String, Position> consumed = new HashMap<>();
        long counted = 0;
        Map<Integer, Long> lastCommit = new TreeMap<>();
        boolean shutdown = false;
        for (JsonNode e : events(r.lines())) {
            switch (e.path("name").asText()) {
                case "record_data" -> {
                    Position p = new Position(e.get("partition").asInt(), e.get("offset").asLong());
                    Position before = consumed.put(e.get("value").asText(), p);
                    assertNull(before, r.describe("value " + e.get("value") + " consumed twice, at " + before + " and " + p));
                }
                case "records_consumed" -> counted += e.get("count").asLong();
                case "offsets_committed" -> {
                    assertTrue(e.get("success").asBoolean(), r.describe("failed commit: " + e));
                    e.get("offsets").forEach(o -> lastCommit.put(o.get("partition").asInt(), o.get("offset").asLong()));
                }
                case "shutdown_complete" -> shutdown = true;
                default -> { }
            }
        }
        assertEquals(acked.size(), consumed.size(), "values consumed");
        assertEquals(acked, consumed, "each acknowledged value consumed once, where its acknowledgement said");
        assertEquals(acked.size(), counted, "records_consumed counts, summed");
        assertEquals(ends, lastCommit, "last offsets_committed per partition");
        assertTrue(shutdown, r.describe("no shutdown_complete event"));
    }

    private static List<JsonNode> events(List<String> lines) {
        List<JsonNode> events = new ArrayList<>();
        for (String line : lines) {
            if (line.startsWith("{")) {
                try {
                    events.add(JSON.readTree(line));
                } catch (IOException e) {
                    throw new UncheckedIOException("event line " + line, e);
                }
            }
        }
        return events;
    }

    /** 0..n-1, for comparing with a partition's offsets. */
    private static List<Long> range(int n) {
        return IntStream.range(0, n).mapToObj(i -> (long) i).collect(Collectors.toList());
    }
}
