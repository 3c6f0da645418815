package io.github.stratalog.interop.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.stratalog.interop.testing.StrataExtension;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.ConfigResource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * kafka-configs.sh (ConfigCommand): describe a topic's configs (the ones
 * set, and all), add and delete them (IncrementalAlterConfigs), each checked
 * in the tool's output and with the Admin client; a broker's configs; and
 * the errors it reports for what strata refuses. Unlike kafka-topics,
 * kafka-configs does not check topic configs itself, so these reach strata.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ConfigsCommandTest {
    private static final Duration RUN = Duration.ofSeconds(60);
    private static final long TIMEOUT_S = 30;
    private static final int NUM_PARTITIONS = 4;

    @RegisterExtension
    static final StrataExtension strata = new StrataExtension("--num-partitions", Integer.toString(NUM_PARTITIONS));

    @Test
    void describeAddAndDeleteTopicConfigs() throws Exception {
        String t = "tools-configs";
        createTopic(t, Map.of("retention.ms", "3600000"));
        assertEquals(Map.of("retention.ms", "3600000"), describe("Dynamic configs for topic " + t + " are:",
                "--describe", "--entity-type", "topics", "--entity-name", t));

        KafkaTool.Run added = configs("--alter", "--entity-type", "topics", "--entity-name", t,
                "--add-config", "retention.ms=7200000,max.message.bytes=2000000,cleanup.policy=[compact,delete]").assertSuccess();
        assertEquals(List.of("Completed updating config for topic " + t + "."), added.lines(), added.describe("--add-config"));
        Map<String, String> set = Map.of("retention.ms", "7200000", "max.message.bytes", "2000000", "cleanup.policy", "compact,delete");
        assertEquals(set, describe("Dynamic configs for topic " + t + " are:", "--describe", "--topic", t));
        assertConfig(t, "retention.ms", "7200000", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);
        assertConfig(t, "cleanup.policy", "compact,delete", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG);

        configs("--alter", "--topic", t, "--delete-config", "retention.ms,cleanup.policy").assertSuccess();
        assertEquals(Map.of("max.message.bytes", "2000000"), describe("Dynamic configs for topic " + t + " are:",
                "--describe", "--topic", t));
        assertConfig(t, "retention.ms", "604800000", ConfigEntry.ConfigSource.DEFAULT_CONFIG);
        assertConfig(t, "cleanup.policy", "delete", ConfigEntry.ConfigSource.DEFAULT_CONFIG);

        Map<String, String> all = describe("All configs for topic " + t + " are:", "--describe", "--topic", t, "--all");
        assertEquals("2000000", all.get("max.message.bytes"), "--all: " + all);
        assertEquals("604800000", all.get("retention.ms"), "--all: " + all);
        assertEquals("delete", all.get("cleanup.policy"), "--all: " + all);
        assertEquals("producer", all.get("compression.type"), "--all: " + all);
    }

    /** What strata refuses, each reported with the exception its error code maps to and exit code 1. */
    @Test
    void refusals() throws Exception {
        String t = "tools-configs-refused";
        createTopic(t, Map.of("retention.ms", "3600000"));
        assertRefused(configs("--alter", "--topic", t, "--add-config", "no.such.config=1"), "InvalidConfigurationException");
        assertRefused(configs("--alter", "--topic", t, "--add-config", "retention.ms=soon"), "InvalidConfigurationException");
        assertRefused(configs("--alter", "--topic", t, "--add-config", "compression.type=zstd"), "InvalidConfigurationException");
        assertEquals(Map.of("retention.ms", "3600000"), describe("Dynamic configs for topic " + t + " are:",
                "--describe", "--topic", t), "configs after refused changes");

        assertRefused(configs("--alter", "--topic", "tools-configs-no-such-topic", "--add-config", "retention.ms=1000"),
                "UnknownTopicOrPartitionException");
    }

    /**
     * --describe without a name: every topic's configs, internal topics
     * included (ConfigCommand lists topics with listInternal, then describes
     * each).
     */
    @Test
    void describeAllTopics() throws Exception {
        String t = "tools-configs-all";
        createTopic(t, Map.of("retention.ms", "3600000"));
        KafkaTool.Run r = configs("--describe", "--entity-type", "topics").assertSuccess();
        for (String topic : List.of(t, "__consumer_offsets", "__transaction_state")) {
            assertTrue(r.lines().contains("Dynamic configs for topic " + topic + " are:"), r.describe("a section for " + topic));
        }
        int at = r.lines().indexOf("Dynamic configs for topic " + t + " are:");
        assertTrue(r.lines().get(at + 1).startsWith("  retention.ms=3600000 "), r.describe(t + "'s retention.ms"));
    }

    @Test
    void describeBroker() throws Exception {
        String node = Integer.toString(strata.process().nodeId());
        Map<String, String> all = describe("All configs for broker " + node + " are:",
                "--describe", "--entity-type", "brokers", "--entity-name", node, "--all");
        assertEquals(node, all.get("broker.id"), "--all: " + all);
        assertEquals(Integer.toString(NUM_PARTITIONS), all.get("num.partitions"), "num.partitions is strata's --num-partitions: " + all);
    }

    private static void createTopic(String t, Map<String, String> configs) throws Exception {
        strata.admin().createTopics(List.of(new NewTopic(t, Optional.of(1), Optional.empty()).configs(configs)))
                .all().get(TIMEOUT_S, TimeUnit.SECONDS);
    }

    private static KafkaTool.Run configs(String... args) throws Exception {
        List<String> a = new ArrayList<>(List.of("--bootstrap-server", strata.bootstrapServers()));
        a.addAll(List.of(args));
        return KafkaTool.CONFIGS.run(RUN, a.toArray(String[]::new));
    }

    /**
     * Runs a --describe and returns its configs, name to value, from the lines
     * under {@code header}: "  name=value sensitive=false synonyms={...}".
     */
    private static Map<String, String> describe(String header, String... args) throws Exception {
        KafkaTool.Run r = configs(args).assertSuccess();
        List<String> lines = r.lines();
        assertEquals(header, lines.isEmpty() ? "" : lines.get(0), r.describe("header"));
        Map<String, String> configs = new LinkedHashMap<>();
        for (String line : lines.subList(1, lines.size())) {
            int eq = line.indexOf('=');
            int sensitive = line.indexOf(" sensitive=");
            if (!line.startsWith("  ") || eq < 0 || sensitive < eq) {
                throw new AssertionError(r.describe("unexpected line: " + line));
            }
            configs.put(line.substring(2, eq), line.substring(eq + 1, sensitive));
        }
        return configs;
    }

    private static void assertConfig(String topic, String name, String value, ConfigEntry.ConfigSource source) throws Exception {
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        ConfigEntry e = strata.admin().describeConfigs(List.of(r)).all().get(TIMEOUT_S, TimeUnit.SECONDS).get(r).get(name);
        assertEquals(value, e.value(), name + " described by the Admin client");
        assertEquals(source, e.source(), name + "'s source");
    }

    private static void assertRefused(KafkaTool.Run r, String exception) {
        assertEquals(1, r.exitCode(), r.describe("expected exit code 1"));
        assertTrue(r.stderr().contains("Caused by: org.apache.kafka.common.errors." + exception), r.describe("expected " + exception));
    }
}
