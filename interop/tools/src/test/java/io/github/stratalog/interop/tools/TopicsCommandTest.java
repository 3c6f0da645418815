package io.github.stratalog.interop.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.stratalog.interop.testing.StrataExtension;
import io.github.stratalog.interop.testing.Wait;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.TopicDescription;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * kafka-topics.sh (TopicCommand): create with partitions and configs, list,
 * describe, grow and delete a topic, each checked in the tool's output and
 * with the Admin client; and the errors it reports for what Kafka refuses.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class TopicsCommandTest {
    private static final Duration RUN = Duration.ofSeconds(60);
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final long TIMEOUT_S = 30;

    @RegisterExtension
    static final StrataExtension strata = new StrataExtension();

    @Test
    void createListDescribeAlterDelete() throws Exception {
        String t = "tools-topics";
        KafkaTool.Run created = topics("--create", "--topic", t, "--partitions", "3", "--replication-factor", "1",
                "--config", "retention.ms=3600000", "--config", "cleanup.policy=delete").assertSuccess();
        assertEquals(List.of("Created topic " + t + "."), created.lines(), created.describe("create"));

        List<String> listed = topics("--list").assertSuccess().lines();
        assertTrue(listed.contains(t), "--list: " + listed);
        assertTrue(listed.contains("__consumer_offsets"), "--list shows internal topics: " + listed);
        List<String> external = topics("--list", "--exclude-internal").assertSuccess().lines();
        assertTrue(external.contains(t) && !external.contains("__consumer_offsets"), "--list --exclude-internal: " + external);

        TopicDescription byAdmin = strata.admin().describeTopics(List.of(t)).allTopicNames().get(TIMEOUT_S, TimeUnit.SECONDS).get(t);
        Described d = describe(t);
        assertEquals(byAdmin.topicId().toString(), d.topic.get("TopicId"), "TopicId");
        assertEquals("3", d.topic.get("PartitionCount"), "PartitionCount");
        assertEquals("1", d.topic.get("ReplicationFactor"), "ReplicationFactor");
        assertEquals(Set.of("retention.ms=3600000", "cleanup.policy=delete"), Set.of(d.topic.get("Configs").split(",")),
                "Configs (the ones set on the topic)");
        assertPartitions(d, 3);

        topics("--alter", "--topic", t, "--partitions", "5").assertSuccess();
        Wait.until(WAIT, t + " with 5 partitions", () -> strata.admin().describeTopics(List.of(t)).allTopicNames()
                .get(TIMEOUT_S, TimeUnit.SECONDS).get(t).partitions().size() == 5);
        Described grown = describe(t);
        assertEquals("5", grown.topic.get("PartitionCount"), "PartitionCount after --alter");
        assertPartitions(grown, 5);

        KafkaTool.Run deleted = topics("--delete", "--topic", t).assertSuccess();
        assertEquals(List.of(), deleted.lines(), deleted.describe("--delete prints nothing"));
        Wait.until(WAIT, t + " gone", () -> !strata.admin().listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS).contains(t));
        assertFalse(topics("--list").assertSuccess().lines().contains(t), "--list after --delete");
        KafkaTool.Run gone = topics("--describe", "--topic", t);
        assertEquals(1, gone.exitCode(), gone.describe("describing a deleted topic"));
        assertTrue(gone.stdout().contains("Topic '" + t + "' does not exist as expected"), gone.describe("describing a deleted topic"));
    }

    /**
     * --describe without --topic, the usual first look at a cluster: every
     * topic, internal ones included, each with its configs (TopicCommand
     * sends DescribeConfigs for every topic it lists, __consumer_offsets and
     * __transaction_state too).
     */
    @Test
    void describeAllTopics() throws Exception {
        String t = "tools-topics-all";
        topics("--create", "--topic", t, "--partitions", "2").assertSuccess();
        KafkaTool.Run r = topics("--describe").assertSuccess();
        Map<String, String> partitionCounts = new LinkedHashMap<>();
        for (String line : r.lines()) {
            if (line.startsWith("Topic: ")) {
                String[] f = line.split("\t");
                partitionCounts.put(f[0].substring("Topic: ".length()), f[2].substring("PartitionCount: ".length()));
            }
        }
        assertEquals("2", partitionCounts.get(t), r.describe("topic lines: " + partitionCounts));
        assertEquals("50", partitionCounts.get("__consumer_offsets"), r.describe("topic lines: " + partitionCounts));
        assertEquals("50", partitionCounts.get("__transaction_state"), r.describe("topic lines: " + partitionCounts));
    }

    /** What Kafka refuses, each reported with the exception its error code maps to and exit code 1. */
    @Test
    void refusals() throws Exception {
        String t = "tools-topics-refused";
        topics("--create", "--topic", t, "--partitions", "2").assertSuccess();

        assertRefused(topics("--create", "--topic", t, "--partitions", "2"), "TopicExistsException");
        KafkaTool.Run again = topics("--create", "--topic", t, "--partitions", "2", "--if-not-exists").assertSuccess();
        assertEquals(List.of(), again.lines(), again.describe("--if-not-exists on an existing topic"));

        assertRefused(topics("--alter", "--topic", t, "--partitions", "1"), "InvalidPartitionsException");
        assertEquals("2", describe(t).topic.get("PartitionCount"), "PartitionCount after a refused shrink");

        // kafka-topics checks config names and types itself (LogConfig.validate),
        // so this is a value only strata refuses: it stores batches as
        // produced, and takes compression.type=producer only (README).
        String bad = "tools-topics-bad-config";
        assertRefused(topics("--create", "--topic", bad, "--config", "compression.type=zstd"), "InvalidConfigurationException");
        assertFalse(strata.admin().listTopics().names().get(TIMEOUT_S, TimeUnit.SECONDS).contains(bad), "a refused topic is not created");

        KafkaTool.Run missing = topics("--delete", "--topic", "tools-topics-never-created");
        assertEquals(1, missing.exitCode(), missing.describe("deleting a topic that does not exist"));
        assertTrue(missing.stdout().contains("does not exist as expected"), missing.describe("deleting a topic that does not exist"));
    }

    private static KafkaTool.Run topics(String... args) throws Exception {
        List<String> a = new ArrayList<>(List.of("--bootstrap-server", strata.bootstrapServers()));
        a.addAll(List.of(args));
        return KafkaTool.TOPICS.run(RUN, a.toArray(String[]::new));
    }

    private static void assertRefused(KafkaTool.Run r, String exception) {
        assertEquals(1, r.exitCode(), r.describe("expected exit code 1"));
        assertTrue(r.stdout().startsWith("Error while executing topic command"), r.describe("expected an error line"));
        assertTrue(r.stderr().contains("org.apache.kafka.common.errors." + exception), r.describe("expected " + exception));
    }

    /** --describe's output: the topic line and one line per partition, as "Key: value" fields. */
    private record Described(Map<String, String> topic, List<Map<String, String>> partitions) {}

    private static Described describe(String topic) throws Exception {
        KafkaTool.Run r = topics("--describe", "--topic", topic).assertSuccess();
        Map<String, String> head = null;
        List<Map<String, String>> parts = new ArrayList<>();
        for (String line : r.lines()) {
            Map<String, String> fields = new LinkedHashMap<>();
            for (String f : line.strip().split("\t")) {
                int colon = f.indexOf(':');
                fields.put(f.substring(0, colon), f.substring(colon + 1).strip());
            }
            if (line.startsWith("\t")) {
                parts.add(fields);
            } else {
                head = fields;
            }
        }
        if (head == null) {
            throw new AssertionError(r.describe("no topic line"));
        }
        return new Described(head, parts);
    }

    /** Partitions 0..n-1, each led by the one gateway, which is its one replica and in sync. */
    private static void assertPartitions(Described d, int n) {
        assertEquals(IntStream.range(0, n).mapToObj(Integer::toString).collect(Collectors.toList()),
                d.partitions.stream().map(p -> p.get("Partition")).collect(Collectors.toList()), "partition lines");
        String node = Integer.toString(strata.process().nodeId());
        for (Map<String, String> p : d.partitions) {
            assertEquals(d.topic.get("Topic"), p.get("Topic"));
            assertEquals(node, p.get("Leader"), "Leader of " + p);
            assertEquals(node, p.get("Replicas"), "Replicas of " + p);
            assertEquals(node, p.get("Isr"), "Isr of " + p);
        }
    }
}
