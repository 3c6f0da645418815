package io.github.stratalog.interop.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.StrataExtension;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * kafka-producer-perf-test.sh (ProducerPerformance) writes 50,000 records
 * of 100 bytes with acks=all as fast as it can, and
 * kafka-consumer-perf-test.sh (ConsumerPerformance) reads them back in a
 * group: both finish, report the counts, and the topic's end offsets add up
 * to them. The rates they print go to this class's test output.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class PerfTestsTest {
    private static final Duration RUN = Duration.ofMinutes(3);
    private static final long TIMEOUT_S = 30;
    private static final int RECORDS = 50_000;
    private static final int RECORD_SIZE = 100;
    private static final int PARTITIONS = 3;
    /** ProducerPerformance's summary line (its last). */
    private static final Pattern PRODUCED = Pattern.compile(
            "(\\d+) records sent, ([\\d.]+) records/sec \\(([\\d.]+) MB/sec\\), ([\\d.]+) ms avg latency, ([\\d.]+) ms max latency, "
                    + "(\\d+) ms 50th, (\\d+) ms 95th, (\\d+) ms 99th, (\\d+) ms 99.9th\\.");

    @RegisterExtension
    static final StrataExtension strata = new StrataExtension();

    @Test
    void producerThenConsumerPerfTest() throws Exception {
        String t = "tools-perf";
        try (Admin admin = KafkaClients.admin(strata.bootstrapServers())) {
            admin.createTopics(List.of(new NewTopic(t, Optional.of(PARTITIONS), Optional.empty()))).all().get(TIMEOUT_S, TimeUnit.SECONDS);

            KafkaTool.Run p = KafkaTool.PRODUCER_PERF_TEST.run(RUN, "--bootstrap-server", strata.bootstrapServers(), "--topic", t,
                    "--num-records", Integer.toString(RECORDS), "--record-size", Integer.toString(RECORD_SIZE),
                    "--throughput", "-1", "--command-property", "acks=all").assertSuccess();
            List<String> lines = p.lines();
            Matcher m = PRODUCED.matcher(lines.isEmpty() ? "" : lines.get(lines.size() - 1));
            assertTrue(m.matches(), p.describe("expected the summary line last"));
            assertEquals(RECORDS, Integer.parseInt(m.group(1)), p.describe("records sent"));
            System.out.printf("kafka-producer-perf-test: %s records/s, %s MB/s, latency avg %s ms, p50 %s ms, p99 %s ms, max %s ms (%s s in all)%n",
                    m.group(2), m.group(3), m.group(4), m.group(6), m.group(8), m.group(5), p.elapsed().toMillis() / 1000.0);

            List<TopicPartition> parts = IntStream.range(0, PARTITIONS).mapToObj(i -> new TopicPartition(t, i)).collect(Collectors.toList());
            assertEquals(0, offsets(admin, parts, OffsetSpec.earliest()), "log start offsets");
            assertEquals(RECORDS, offsets(admin, parts, OffsetSpec.latest()), "end offsets, summed over partitions");

            KafkaTool.Run c = KafkaTool.CONSUMER_PERF_TEST.run(RUN, "--bootstrap-server", strata.bootstrapServers(), "--topic", t,
                    "--num-records", Integer.toString(RECORDS), "--timeout", "30000").assertSuccess();
            Map<String, String> stats = csv(c);
            assertEquals(Integer.toString(RECORDS), stats.get("data.consumed.in.nMsg"), c.describe("records consumed"));
            assertEquals(String.format(Locale.ROOT, "%.4f", RECORDS * (double) RECORD_SIZE / (1024 * 1024)), stats.get("data.consumed.in.MB"),
                    c.describe("MB consumed"));
            System.out.printf("kafka-consumer-perf-test: %s records/s, %s MB/s, rebalance %s ms, fetch %s ms (%s s in all)%n",
                    stats.get("nMsg.sec"), stats.get("MB.sec"), stats.get("rebalance.time.ms"), stats.get("fetch.time.ms"),
                    c.elapsed().toMillis() / 1000.0);
        }
    }

    private static long offsets(Admin admin, List<TopicPartition> parts, OffsetSpec spec) throws Exception {
        Map<TopicPartition, OffsetSpec> request = new HashMap<>();
        parts.forEach(tp -> request.put(tp, spec));
        Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> res = admin.listOffsets(request).all().get(TIMEOUT_S, TimeUnit.SECONDS);
        return res.values().stream().mapToLong(ListOffsetsResult.ListOffsetsResultInfo::offset).sum();
    }

    /** ConsumerPerformance's output: a header line of names and one line of values, both ", "-separated. */
    private static Map<String, String> csv(KafkaTool.Run r) {
        List<String> lines = r.lines();
        if (lines.size() != 2) {
            throw new AssertionError(r.describe("expected a header and one line of values"));
        }
        String[] names = lines.get(0).split(", ");
        String[] values = lines.get(1).split(", ");
        if (names.length != values.length) {
            throw new AssertionError(r.describe("values do not match the header"));
        }
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < names.length; i++) {
            m.put(names[i].trim(), values[i].trim());
        }
        return m;
    }
}
