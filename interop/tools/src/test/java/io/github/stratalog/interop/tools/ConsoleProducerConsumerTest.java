package io.github.stratalog.interop.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.stratalog.interop.testing.StrataExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * kafka-console-producer.sh and kafka-console-consumer.sh: "key:value" lines
 * piped into the producer ({@code parse.key}) come back from the consumer
 * ({@code print.key}, with partition and offset) as they went in, each key
 * on one partition in the order produced and each partition's offsets
 * 0..n-1. Then a group, with either group protocol: a console consumer
 * stopped by --max-messages commits where it stopped, and the next one in the
 * group reads exactly the rest.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ConsoleProducerConsumerTest {
    private static final Duration RUN = Duration.ofSeconds(90);
    private static final long TIMEOUT_S = 30;
    private static final int PARTITIONS = 3;
    /** DefaultMessageFormatter with print.partition, print.offset and print.key, key.separator "|". */
    private static final Pattern CONSUMED = Pattern.compile("Partition:(\\d+)\\|Offset:(\\d+)\\|([^|]*)\\|(.*)");

    @RegisterExtension
    static final StrataExtension strata = new StrataExtension();

    @Test
    void keyedLinesComeBackAsProduced() throws Exception {
        String t = "tools-console-keyed";
        int n = 1000;
        createTopic(t);
        List<String> produced = IntStream.range(0, n).mapToObj(i -> "key-" + (i % 13) + ":value-" + i).collect(Collectors.toList());
        produce(t, produced, "--reader-property", "parse.key=true", "--reader-property", "key.separator=:");

        KafkaTool.Run r = KafkaTool.CONSOLE_CONSUMER.run(RUN, "--bootstrap-server", strata.bootstrapServers(), "--topic", t,
                "--from-beginning", "--max-messages", Integer.toString(n), "--timeout-ms", "30000",
                "--formatter-property", "print.key=true", "--formatter-property", "print.partition=true",
                "--formatter-property", "print.offset=true", "--formatter-property", "key.separator=|").assertSuccess();
        assertTrue(r.stderr().contains("Processed a total of " + n + " messages"), r.describe("the consumer's count"));

        List<String> consumed = new ArrayList<>();
        Map<Integer, List<Long>> offsets = new TreeMap<>();
        Map<String, Set<Integer>> partitionsOfKey = new HashMap<>();
        Map<String, List<Integer>> valuesOfKey = new HashMap<>();
        for (String line : r.lines()) {
            Matcher m = CONSUMED.matcher(line);
            assertTrue(m.matches(), r.describe("unexpected line: " + line));
            int p = Integer.parseInt(m.group(1));
            String key = m.group(3);
            consumed.add(key + ":" + m.group(4));
            offsets.computeIfAbsent(p, x -> new ArrayList<>()).add(Long.parseLong(m.group(2)));
            partitionsOfKey.computeIfAbsent(key, x -> new HashSet<>()).add(p);
            valuesOfKey.computeIfAbsent(key, x -> new ArrayList<>()).add(Integer.parseInt(m.group(4).substring("value-".length())));
        }
        assertEquals(produced.stream().sorted().collect(Collectors.toList()), consumed.stream().sorted().collect(Collectors.toList()),
                "consumed lines (as key:value) equal the produced ones");
        for (Map.Entry<Integer, List<Long>> e : offsets.entrySet()) {
            List<Long> expected = IntStream.range(0, e.getValue().size()).mapToObj(i -> (long) i).collect(Collectors.toList());
            assertEquals(expected, e.getValue(), "offsets of partition " + e.getKey() + " in the order printed");
        }
        partitionsOfKey.forEach((k, ps) -> assertEquals(1, ps.size(), "partitions of " + k + ": " + ps));
        valuesOfKey.forEach((k, vs) -> assertEquals(vs.stream().sorted().collect(Collectors.toList()), vs, "values of " + k + " in produce order"));
    }

    @ParameterizedTest(name = "group.protocol={0}")
    @ValueSource(strings = {"classic", "consumer"})
    void groupResumesWhereTheLastConsoleConsumerStopped(String protocol) throws Exception {
        String t = "tools-console-group-" + protocol;
        String group = t;
        int n = 300;
        int first = 120;
        createTopic(t);
        List<String> produced = IntStream.range(0, n).mapToObj(i -> "value-" + i).collect(Collectors.toList());
        produce(t, produced);

        KafkaTool.Run a = KafkaTool.CONSOLE_CONSUMER.run(RUN, "--bootstrap-server", strata.bootstrapServers(), "--topic", t,
                "--group", group, "--command-property", "group.protocol=" + protocol, "--from-beginning",
                "--max-messages", Integer.toString(first)).assertSuccess();
        assertEquals(first, a.lines().size(), a.describe("lines of the first consumer"));
        assertEquals(first, committed(group), "offsets committed by the first consumer, summed over partitions");

        // --from-beginning applies only where the group has no committed
        // offset; --timeout-ms ends the run once the rest is read.
        KafkaTool.Run b = KafkaTool.CONSOLE_CONSUMER.run(RUN, "--bootstrap-server", strata.bootstrapServers(), "--topic", t,
                "--group", group, "--command-property", "group.protocol=" + protocol, "--from-beginning",
                "--timeout-ms", "5000");
        assertTrue(b.stderr().contains("Processed a total of " + (n - first) + " messages"), b.describe("the second consumer's count"));
        Set<String> seen = new HashSet<>(a.lines());
        for (String line : b.lines()) {
            assertTrue(seen.add(line), b.describe("read twice: " + line));
        }
        assertEquals(new HashSet<>(produced), seen, "the two consumers together read every line once");
        assertEquals(n, committed(group), "offsets committed by the second consumer, summed over partitions");
    }

    private static void createTopic(String t) throws Exception {
        strata.admin().createTopics(List.of(new NewTopic(t, Optional.of(PARTITIONS), Optional.empty())))
                .all().get(TIMEOUT_S, TimeUnit.SECONDS);
    }

    private static void produce(String t, List<String> lines, String... readerArgs) throws Exception {
        List<String> args = new ArrayList<>(List.of("--bootstrap-server", strata.bootstrapServers(), "--topic", t,
                "--command-property", "acks=all"));
        args.addAll(List.of(readerArgs));
        KafkaTool.CONSOLE_PRODUCER.runWithInput(RUN, String.join("\n", lines) + "\n", args.toArray(String[]::new)).assertSuccess();
    }

    private static long committed(String group) throws Exception {
        Map<?, OffsetAndMetadata> offsets = strata.admin().listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                .get(TIMEOUT_S, TimeUnit.SECONDS);
        return offsets.values().stream().mapToLong(OffsetAndMetadata::offset).sum();
    }
}
