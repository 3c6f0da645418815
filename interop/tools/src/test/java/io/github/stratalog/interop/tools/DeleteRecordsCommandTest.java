package io.github.stratalog.interop.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.StrataExtension;
import io.github.stratalog.interop.testing.TopicReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * kafka-delete-records.sh (DeleteRecordsCommand) with an offsets JSON file:
 * the low watermarks it reports are where the log now starts, as
 * kafka-get-offsets.sh (GetOffsetShell, --time -2 and -1), the Admin client
 * and a consumer reading from the beginning see it; an offset past the high
 * watermark is reported as OffsetOutOfRangeException and moves nothing.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class DeleteRecordsCommandTest {
    private static final Duration RUN = Duration.ofSeconds(60);
    private static final Duration READ = Duration.ofSeconds(30);
    private static final long TIMEOUT_S = 30;
    /** DeleteRecordsCommand's line per partition. */
    private static final Pattern RESULT = Pattern.compile("partition: (\\S+)-(\\d+)\\t(low_watermark|error): (.*)");
    /** GetOffsetShell's line per partition: topic:partition:offset. */
    private static final Pattern OFFSET = Pattern.compile("(\\S+):(\\d+):(-?\\d+)");

    @RegisterExtension
    static final StrataExtension strata = new StrataExtension();

    @TempDir
    Path dir;

    @Test
    void lowWatermarksMove() throws Exception {
        String t = "tools-delete-records";
        produce(t, 100, 50, 20);
        // Offset -1 means "up to the high watermark"; partition 2 is left alone.
        Map<Integer, String> result = deleteRecords(t, Map.of(0, 40L, 1, -1L));
        assertEquals(Map.of(0, "low_watermark: 40", 1, "low_watermark: 50"), result, "kafka-delete-records' report");

        assertEquals(Map.of(0, 40L, 1, 50L, 2, 0L), getOffsets(t, "-2"), "kafka-get-offsets --time -2 (earliest)");
        assertEquals(Map.of(0, 100L, 1, 50L, 2, 20L), getOffsets(t, "-1"), "kafka-get-offsets --time -1 (latest)");
        assertEquals(Map.of(0, 40L, 1, 50L, 2, 0L), adminOffsets(t, 3, OffsetSpec.earliest()), "Admin listOffsets earliest");
        assertEquals(Map.of(0, 100L, 1, 50L, 2, 20L), adminOffsets(t, 3, OffsetSpec.latest()), "Admin listOffsets latest");

        Map<Integer, List<Long>> read = TopicReader.readAll(strata.bootstrapServers(), t, IsolationLevel.READ_UNCOMMITTED, READ).stream()
                .collect(Collectors.groupingBy(ConsumerRecord::partition, TreeMap::new,
                        Collectors.mapping(ConsumerRecord::offset, Collectors.toList())));
        assertEquals(60, read.get(0).size(), "records left in partition 0");
        assertEquals(40L, read.get(0).get(0), "first offset read from partition 0");
        assertNull(read.get(1), "records left in partition 1");
        assertEquals(20, read.get(2).size(), "records left in partition 2");

        // Deleting again below the low watermark changes nothing.
        assertEquals(Map.of(0, "low_watermark: 40"), deleteRecords(t, Map.of(0, 10L)), "deleting below the low watermark");
    }

    @Test
    void offsetPastTheHighWatermark() throws Exception {
        String t = "tools-delete-records-out-of-range";
        produce(t, 10);
        Map<Integer, String> result = deleteRecords(t, Map.of(0, 11L));
        assertTrue(result.get(0).startsWith("error: org.apache.kafka.common.errors.OffsetOutOfRangeException"),
                "kafka-delete-records' report: " + result);
        assertEquals(Map.of(0, 0L), getOffsets(t, "-2"), "kafka-get-offsets --time -2 (earliest)");
    }

    /** Creates {@code t} with a partition per count, holding that many records. */
    private static void produce(String t, int... counts) throws Exception {
        strata.admin().createTopics(List.of(new NewTopic(t, Optional.of(counts.length), Optional.empty())))
                .all().get(TIMEOUT_S, TimeUnit.SECONDS);
        try (KafkaProducer<String, String> p = KafkaClients.producer(strata.bootstrapServers(), Map.of())) {
            for (int part = 0; part < counts.length; part++) {
                for (int i = 0; i < counts[part]; i++) {
                    p.send(new ProducerRecord<>(t, part, null, "p" + part + "-" + i));
                }
            }
            p.flush();
        }
    }

    /** Runs kafka-delete-records for partition to offset; returns partition to "low_watermark: N" or "error: ...". */
    private Map<Integer, String> deleteRecords(String t, Map<Integer, Long> offsets) throws Exception {
        String partitions = offsets.entrySet().stream()
                .map(e -> String.format("{\"topic\":\"%s\",\"partition\":%d,\"offset\":%d}", t, e.getKey(), e.getValue()))
                .collect(Collectors.joining(","));
        Path json = Files.createTempFile(dir, "offsets-", ".json");
        Files.writeString(json, "{\"version\":1,\"partitions\":[" + partitions + "]}");
        KafkaTool.Run r = KafkaTool.DELETE_RECORDS.run(RUN, "--bootstrap-server", strata.bootstrapServers(),
                "--offset-json-file", json.toString()).assertSuccess();
        List<String> lines = r.lines();
        assertEquals(List.of("Executing records delete operation", "Records delete operation completed:"),
                lines.subList(0, Math.min(2, lines.size())), r.describe("header"));
        Map<Integer, String> result = new HashMap<>();
        for (String line : lines.subList(2, lines.size())) {
            Matcher m = RESULT.matcher(line);
            assertTrue(m.matches() && m.group(1).equals(t), r.describe("unexpected line: " + line));
            result.put(Integer.parseInt(m.group(2)), m.group(3) + ": " + m.group(4));
        }
        return result;
    }

    private static Map<Integer, Long> getOffsets(String t, String time) throws Exception {
        KafkaTool.Run r = KafkaTool.GET_OFFSETS.run(RUN, "--bootstrap-server", strata.bootstrapServers(), "--topic", t, "--time", time)
                .assertSuccess();
        Map<Integer, Long> offsets = new HashMap<>();
        for (String line : r.lines()) {
            Matcher m = OFFSET.matcher(line);
            assertTrue(m.matches() && m.group(1).equals(t), r.describe("unexpected line: " + line));
            offsets.put(Integer.parseInt(m.group(2)), Long.parseLong(m.group(3)));
        }
        return offsets;
    }

    private static Map<Integer, Long> adminOffsets(String t, int partitions, OffsetSpec spec) throws Exception {
        Map<TopicPartition, OffsetSpec> request = new HashMap<>();
        for (int i = 0; i < partitions; i++) {
            request.put(new TopicPartition(t, i), spec);
        }
        return strata.admin().listOffsets(request).all().get(TIMEOUT_S, TimeUnit.SECONDS).entrySet().stream()
                .collect(Collectors.toMap(e -> e.getKey().partition(), e -> e.getValue().offset()));
    }
}
