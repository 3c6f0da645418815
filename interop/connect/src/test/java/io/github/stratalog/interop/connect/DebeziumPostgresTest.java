package io.github.stratalog.interop.connect;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import io.github.stratalog.interop.testing.StrataProcess;

/**
 * A real CDC pipeline: Debezium's PostgreSQL source (logical decoding with
 * pgoutput) in a distributed worker on strata, against a PostgreSQL server
 * the suite starts, with exactly-once source support (KIP-618). Proves that
 * the snapshot, and then every insert, update and delete, arrive once, as
 * change events in commit order per key (each key in one partition of a
 * three-partition topic the worker created), with the right before and after
 * images, and a tombstone after each delete.
 */
class DebeziumPostgresTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(120);
    private static final String TOPIC = "cdc.public.customers";
    private static final ObjectMapper JSON = new ObjectMapper();

    private static PostgresServer postgres;
    private static StrataProcess strata;
    private static ConnectWorker worker;

    @BeforeAll
    static void start() throws Exception {
        postgres = PostgresServer.start();
        strata = StrataProcess.start();
        Map<String, String> config = new LinkedHashMap<>(ConnectWorker.config(strata.bootstrapServers(), "connect-debezium"));
        // Debezium's PostgreSQL source supports KIP-618: its events and
        // offsets are written in transactions, read here read_committed.
        config.put("exactly.once.source.support", "enabled");
        worker = ConnectWorker.start("debezium", config);
    }

    @AfterAll
    static void stop() throws Exception {
        try {
            if (worker != null) {
                worker.close();
            }
        } finally {
            try {
                if (strata != null) {
                    strata.close();
                }
            } finally {
                if (postgres != null) {
                    postgres.close();
                }
            }
        }
    }

    @Test
    void insertsUpdatesAndDeletesArriveInOrderPerKey() throws Exception {
        sql("CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, balance int NOT NULL)",
                // Old values of every column in updates and deletes, not just the key.
                "ALTER TABLE customers REPLICA IDENTITY FULL",
                "INSERT INTO customers VALUES (0, 'seed', 0)");
        worker.rest().putConnector("pg-cdc", connectorConfig());
        worker.rest().awaitState("pg-cdc", "RUNNING", 1);

        try (TopicTail topic = new TopicTail(strata.bootstrapServers(), TOPIC, IsolationLevel.READ_COMMITTED)) {
            // The snapshot's read of the seed row: the slot exists, streaming starts from here.
            topic.awaitAtLeast(1, TIMEOUT);

            sql("INSERT INTO customers VALUES (1, 'alice', 10)",
                    "INSERT INTO customers VALUES (2, 'bob', 20)",
                    "INSERT INTO customers VALUES (3, 'carol', 30)",
                    "UPDATE customers SET name = 'alicia' WHERE id = 1",
                    "UPDATE customers SET balance = 25 WHERE id = 2",
                    "DELETE FROM customers WHERE id = 3",
                    "UPDATE customers SET balance = 15 WHERE id = 1");
            // One transaction touching three rows.
            sql("BEGIN",
                    "UPDATE customers SET balance = balance + 1 WHERE id IN (1, 2)",
                    "INSERT INTO customers VALUES (4, 'dave', 40)",
                    "COMMIT");
            sql("DELETE FROM customers WHERE id = 1",
                    "INSERT INTO customers VALUES (1, 'alice again', 1)",
                    "UPDATE customers SET id = 5 WHERE id = 4");

            Map<String, List<String>> expected = new LinkedHashMap<>();
            expected.put("0", List.of("r null -> " + row(0, "seed", 0)));
            expected.put("1", List.of(
                    "c null -> " + row(1, "alice", 10),
                    "u " + row(1, "alice", 10) + " -> " + row(1, "alicia", 10),
                    "u " + row(1, "alicia", 10) + " -> " + row(1, "alicia", 15),
                    "u " + row(1, "alicia", 15) + " -> " + row(1, "alicia", 16),
                    "d " + row(1, "alicia", 16) + " -> null",
                    "tombstone",
                    "c null -> " + row(1, "alice again", 1)));
            expected.put("2", List.of(
                    "c null -> " + row(2, "bob", 20),
                    "u " + row(2, "bob", 20) + " -> " + row(2, "bob", 25),
                    "u " + row(2, "bob", 25) + " -> " + row(2, "bob", 26)));
            expected.put("3", List.of(
                    "c null -> " + row(3, "carol", 30),
                    "d " + row(3, "carol", 30) + " -> null",
                    "tombstone"));
            // A primary key update is a delete (and tombstone) of the old key and a create of the new.
            expected.put("4", List.of(
                    "c null -> " + row(4, "dave", 40),
                    "d " + row(4, "dave", 40) + " -> null",
                    "tombstone"));
            expected.put("5", List.of("c null -> " + row(5, "dave", 40)));
            int total = expected.values().stream().mapToInt(List::size).sum();

            topic.awaitAtLeast(total, TIMEOUT);
            List<ConsumerRecord<String, String>> records = topic.readToEnd(TIMEOUT);
            assertEquals(total, records.size(), "change events and tombstones");
            assertEquals(expected, eventsByKey(records));
            Map<String, Set<Integer>> partitionsByKey = records.stream().collect(Collectors.groupingBy(
                    r -> keyId(r.key()), Collectors.mapping(ConsumerRecord::partition, Collectors.toSet())));
            partitionsByKey.forEach((key, parts) -> assertEquals(1, parts.size(), "partitions of key " + key));
        }
    }

    private static Map<String, String> connectorConfig() {
        Map<String, String> c = new LinkedHashMap<>();
        c.put("connector.class", "io.debezium.connector.postgresql.PostgresConnector");
        c.put("tasks.max", "1");
        c.put("database.hostname", "127.0.0.1");
        c.put("database.port", Integer.toString(postgres.port()));
        c.put("database.user", "postgres");
        c.put("database.password", "unused-trust-auth");
        c.put("database.dbname", "postgres");
        c.put("topic.prefix", "cdc");
        c.put("plugin.name", "pgoutput");
        c.put("slot.name", "strata_cdc");
        c.put("publication.name", "strata_cdc");
        c.put("publication.autocreate.mode", "filtered");
        c.put("table.include.list", "public.customers");
        c.put("snapshot.mode", "initial");
        c.put("exactly.once.support", "required");
        c.put("key.converter", "org.apache.kafka.connect.json.JsonConverter");
        c.put("key.converter.schemas.enable", "false");
        c.put("value.converter", "org.apache.kafka.connect.json.JsonConverter");
        c.put("value.converter.schemas.enable", "false");
        // The worker creates Debezium's topics (KIP-158) through the Admin
        // API: three partitions, strata's default replication factor.
        c.put("topic.creation.default.replication.factor", "-1");
        c.put("topic.creation.default.partitions", "3");
        return c;
    }

    /** Each key's events in the order read: "op before -> after", or "tombstone". */
    private static Map<String, List<String>> eventsByKey(List<ConsumerRecord<String, String>> records) throws Exception {
        Map<String, List<String>> byKey = new LinkedHashMap<>();
        for (ConsumerRecord<String, String> r : records) {
            String event;
            if (r.value() == null) {
                event = "tombstone";
            } else {
                JsonNode v = JSON.readTree(r.value());
                event = v.path("op").asText() + " " + v.path("before") + " -> " + v.path("after");
            }
            byKey.computeIfAbsent(keyId(r.key()), k -> new ArrayList<>()).add(event);
        }
        return byKey.entrySet().stream().sorted(Map.Entry.comparingByKey())
                .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue, (a, b) -> a, LinkedHashMap::new));
    }

    private static String keyId(String key) {
        try {
            return JSON.readTree(key).path("id").asText();
        } catch (Exception e) {
            throw new AssertionError("record key is not JSON with an id: " + key, e);
        }
    }

    private static String row(int id, String name, int balance) {
        return JSON.createObjectNode().put("id", id).put("name", name).put("balance", balance).toString();
    }

    private static void sql(String... statements) throws Exception {
        try (Connection c = postgres.connect(); Statement s = c.createStatement()) {
            for (String statement : statements) {
                s.execute(statement);
            }
        }
    }
}
