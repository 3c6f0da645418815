package io.github.stratalog.interop.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.StrataExtension;
import io.github.stratalog.interop.testing.Wait;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * kafka-consumer-groups.sh (ConsumerGroupCommand): a group's committed
 * offsets, log-end offsets and lag described; its offsets reset (a dry run,
 * to the earliest, to an offset) and deleted for a partition; the group
 * deleted. Then a group with a live member (a console consumer, with either
 * group protocol): its members and state described, and the changes Kafka
 * refuses while it is active. Each checked in the tool's tables and with the
 * Admin client.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class ConsumerGroupsCommandTest {
    private static final Duration RUN = Duration.ofSeconds(60);
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final long TIMEOUT_S = 30;

    @RegisterExtension
    static final StrataExtension strata = new StrataExtension();

    @Test
    void describeResetAndDelete() throws Exception {
        String t = "tools-groups";
        String g = "tools-groups";
        TopicPartition p0 = new TopicPartition(t, 0);
        TopicPartition p1 = new TopicPartition(t, 1);
        createTopic(t, 2);
        try (KafkaProducer<String, String> p = KafkaClients.producer(strata.bootstrapServers(), Map.of())) {
            for (int i = 0; i < 100; i++) {
                p.send(new ProducerRecord<>(t, i < 60 ? 0 : 1, null, "v" + i));
            }
            p.flush();
        }
        // A member that read everything but committed 50 of partition 0's 60
        // records and 30 of partition 1's 40, then left.
        try (KafkaConsumer<String, String> c = KafkaClients.consumer(strata.bootstrapServers(), g, Map.of())) {
            c.subscribe(List.of(t));
            int[] read = {0};
            Wait.until(WAIT, "the member reading 100 records", () -> {
                read[0] += c.poll(Duration.ofMillis(200)).count();
                return read[0] == 100;
            });
            c.commitSync(Map.of(p0, new OffsetAndMetadata(50), p1, new OffsetAndMetadata(30)));
        }

        assertTrue(groups("--list").assertSuccess().lines().contains(g), "--list shows " + g);
        KafkaTool.Run described = groups("--describe", "--group", g).assertSuccess();
        assertTrue(described.stderr().contains("Consumer group '" + g + "' has no active members."), described.describe("no members"));
        assertOffsets(described, Map.of(0, new long[] {50, 60, 10}, 1, new long[] {30, 40, 10}));
        for (Map<String, String> row : table(described, "GROUP")) {
            assertEquals("-", row.get("CONSUMER-ID"), "CONSUMER-ID of a group without members: " + row);
        }
        Map<String, String> state = single(groups("--describe", "--group", g, "--state").assertSuccess(), "GROUP");
        assertEquals("Empty", state.get("STATE"), "--state: " + state);
        assertEquals("0", state.get("#MEMBERS"), "--state: " + state);
        assertEquals("(" + strata.process().nodeId() + ")", state.get("(ID)"), "--state's coordinator: " + state);

        // Without --execute (or with --dry-run) nothing changes.
        KafkaTool.Run dry = groups("--reset-offsets", "--group", g, "--topic", t, "--to-earliest", "--dry-run").assertSuccess();
        assertEquals(Map.of(0, 0L, 1, 0L), newOffsets(dry), dry.describe("dry run"));
        assertOffsets(groups("--describe", "--group", g).assertSuccess(), Map.of(0, new long[] {50, 60, 10}, 1, new long[] {30, 40, 10}));

        KafkaTool.Run reset = groups("--reset-offsets", "--group", g, "--topic", t, "--to-earliest", "--execute").assertSuccess();
        assertEquals(Map.of(0, 0L, 1, 0L), newOffsets(reset), reset.describe("--to-earliest"));
        assertOffsets(groups("--describe", "--group", g).assertSuccess(), Map.of(0, new long[] {0, 60, 60}, 1, new long[] {0, 40, 40}));
        assertEquals(Map.of(p0, 0L, p1, 0L), committed(g), "committed offsets after --to-earliest");

        KafkaTool.Run to = groups("--reset-offsets", "--group", g, "--topic", t + ":1", "--to-offset", "25", "--execute").assertSuccess();
        assertEquals(Map.of(1, 25L), newOffsets(to), to.describe("--to-offset 25 on partition 1"));
        assertEquals(Map.of(p0, 0L, p1, 25L), committed(g), "committed offsets after --to-offset");

        KafkaTool.Run deletedOffsets = groups("--delete-offsets", "--group", g, "--topic", t + ":0").assertSuccess();
        assertTrue(deletedOffsets.stdout().contains("Request succeeded for deleting offsets from group " + g + "."),
                deletedOffsets.describe("--delete-offsets"));
        assertEquals(List.of(Map.of("TOPIC", t, "PARTITION", "0", "STATUS", "Successful")), table(deletedOffsets, "TOPIC"),
                deletedOffsets.describe("--delete-offsets"));
        assertEquals(Map.of(p1, 25L), committed(g), "committed offsets after --delete-offsets");
        assertOffsets(groups("--describe", "--group", g).assertSuccess(), Map.of(1, new long[] {25, 40, 15}));

        KafkaTool.Run deleted = groups("--delete", "--group", g).assertSuccess();
        assertTrue(deleted.stdout().contains("Deletion of requested consumer groups ('" + g + "') was successful."),
                deleted.describe("--delete"));
        assertFalse(groups("--list").assertSuccess().lines().contains(g), "--list after --delete");
        KafkaTool.Run gone = groups("--describe", "--group", g);
        assertTrue(gone.stdout().contains("GroupIdNotFoundException"), gone.describe("describing a deleted group"));
    }

    @ParameterizedTest(name = "group.protocol={0}")
    @ValueSource(strings = {"classic", "consumer"})
    void activeGroup(String protocol) throws Exception {
        String t = "tools-groups-active-" + protocol;
        String g = t;
        createTopic(t, 3);
        try (KafkaProducer<String, String> p = KafkaClients.producer(strata.bootstrapServers(), Map.of())) {
            for (int i = 0; i < 30; i++) {
                p.send(new ProducerRecord<>(t, i % 3, null, "v" + i));
            }
            p.flush();
        }
        try (KafkaTool.Started member = KafkaTool.CONSOLE_CONSUMER.start("--bootstrap-server", strata.bootstrapServers(),
                "--topic", t, "--group", g, "--from-beginning", "--command-property", "group.protocol=" + protocol,
                "--command-property", "auto.commit.interval.ms=500", "--command-property", "client.id=tools-member")) {
            // Auto-commit brings the committed offsets to the end.
            Wait.until(WAIT, "the console consumer reading and committing all 30 records", () -> {
                member.assertRunning();
                return committed(g).values().stream().mapToLong(Long::longValue).sum() == 30;
            });

            KafkaTool.Run described = groups("--describe", "--group", g).assertSuccess();
            assertOffsets(described, Map.of(0, new long[] {10, 10, 0}, 1, new long[] {10, 10, 0}, 2, new long[] {10, 10, 0}));
            ConsumerGroupDescription byAdmin = strata.admin().describeConsumerGroups(List.of(g)).all()
                    .get(TIMEOUT_S, TimeUnit.SECONDS).get(g);
            String memberId = byAdmin.members().iterator().next().consumerId();
            for (Map<String, String> row : table(described, "GROUP")) {
                assertEquals(memberId, row.get("CONSUMER-ID"), "CONSUMER-ID: " + row);
                assertEquals("tools-member", row.get("CLIENT-ID"), "CLIENT-ID: " + row);
                assertEquals("/127.0.0.1", row.get("HOST"), "HOST: " + row);
            }
            Map<String, String> members = single(groups("--describe", "--group", g, "--members").assertSuccess(), "GROUP");
            assertEquals(memberId, members.get("CONSUMER-ID"), "--members: " + members);
            assertEquals("3", members.get("#PARTITIONS"), "--members: " + members);
            Map<String, String> state = single(groups("--describe", "--group", g, "--state").assertSuccess(), "GROUP");
            assertEquals("Stable", state.get("STATE"), "--state: " + state);
            assertEquals("1", state.get("#MEMBERS"), "--state: " + state);
            assertEquals(protocol.equals("classic") ? "range" : "uniform", state.get("ASSIGNMENT-STRATEGY"), "--state: " + state);

            // Resetting is refused by the tool from the state described;
            // deleting by strata, with GROUP_NOT_EMPTY.
            KafkaTool.Run reset = groups("--reset-offsets", "--group", g, "--topic", t, "--to-earliest", "--execute");
            assertTrue(reset.stdout().contains("Assignments can only be reset if the group '" + g + "' is inactive"),
                    reset.describe("resetting an active group"));
            KafkaTool.Run delete = groups("--delete", "--group", g);
            assertTrue(delete.stdout().contains("GroupNotEmptyException"), delete.describe("deleting an active group"));
            assertEquals(30, committed(g).values().stream().mapToLong(Long::longValue).sum(), "committed offsets unchanged");

            // SIGTERM: the console consumer closes, leaving the group.
            member.stop(RUN);
        }
        Wait.until(WAIT, g + " empty", () -> strata.admin().describeConsumerGroups(List.of(g)).all().get(TIMEOUT_S, TimeUnit.SECONDS)
                .get(g).groupState() == GroupState.EMPTY);
        Map<String, String> state = single(groups("--describe", "--group", g, "--state").assertSuccess(), "GROUP");
        assertEquals("Empty", state.get("STATE"), "--state after the member left: " + state);
        groups("--delete", "--group", g).assertSuccess();
    }

    private static void createTopic(String t, int partitions) throws Exception {
        strata.admin().createTopics(List.of(new NewTopic(t, Optional.of(partitions), Optional.empty())))
                .all().get(TIMEOUT_S, TimeUnit.SECONDS);
    }

    private static KafkaTool.Run groups(String... args) throws Exception {
        List<String> a = new ArrayList<>(List.of("--bootstrap-server", strata.bootstrapServers()));
        a.addAll(List.of(args));
        return KafkaTool.CONSUMER_GROUPS.run(RUN, a.toArray(String[]::new));
    }

    private static Map<TopicPartition, Long> committed(String group) throws Exception {
        return strata.admin().listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(TIMEOUT_S, TimeUnit.SECONDS)
                .entrySet().stream().collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().offset()));
    }

    /**
     * Checks --describe's rows: partition to {CURRENT-OFFSET, LOG-END-OFFSET,
     * LAG}, exactly the partitions given.
     */
    private static void assertOffsets(KafkaTool.Run described, Map<Integer, long[]> expected) {
        Map<Integer, List<Long>> got = new LinkedHashMap<>();
        for (Map<String, String> row : table(described, "GROUP")) {
            got.put(Integer.parseInt(row.get("PARTITION")), List.of(Long.parseLong(row.get("CURRENT-OFFSET")),
                    Long.parseLong(row.get("LOG-END-OFFSET")), Long.parseLong(row.get("LAG"))));
        }
        Map<Integer, List<Long>> want = expected.entrySet().stream().collect(Collectors.toMap(Map.Entry::getKey,
                e -> List.of(e.getValue()[0], e.getValue()[1], e.getValue()[2])));
        assertEquals(want, got, described.describe("partition to [CURRENT-OFFSET, LOG-END-OFFSET, LAG]"));
    }

    /** --reset-offsets' table: partition to NEW-OFFSET. */
    private static Map<Integer, Long> newOffsets(KafkaTool.Run r) {
        return table(r, "GROUP").stream().collect(Collectors.toMap(row -> Integer.parseInt(row.get("PARTITION")),
                row -> Long.parseLong(row.get("NEW-OFFSET"))));
    }

    private static Map<String, String> single(KafkaTool.Run r, String firstColumn) {
        List<Map<String, String>> rows = table(r, firstColumn);
        assertEquals(1, rows.size(), r.describe("one row"));
        return rows.get(0);
    }

    /**
     * The tool's table whose header line starts with {@code firstColumn}:
     * one map per row, column name to value. Cells hold no spaces, except
     * "COORDINATOR (ID)", whose header and cells both split in two.
     */
    private static List<Map<String, String>> table(KafkaTool.Run r, String firstColumn) {
        List<String> lines = r.lines();
        int head = 0;
        while (head < lines.size() && !lines.get(head).startsWith(firstColumn + " ")) {
            head++;
        }
        if (head == lines.size()) {
            throw new AssertionError(r.describe("no table starting with " + firstColumn));
        }
        String[] columns = lines.get(head).trim().split("\\s+");
        List<Map<String, String>> rows = new ArrayList<>();
        for (String line : lines.subList(head + 1, lines.size())) {
            String[] cells = line.trim().split("\\s+");
            if (cells.length != columns.length) {
                throw new AssertionError(r.describe("row does not match the header " + List.of(columns) + ": " + line));
            }
            Map<String, String> row = new LinkedHashMap<>();
            for (int i = 0; i < columns.length; i++) {
                row.put(columns[i], cells[i]);
            }
            rows.add(row);
        }
        return rows;
    }
}
