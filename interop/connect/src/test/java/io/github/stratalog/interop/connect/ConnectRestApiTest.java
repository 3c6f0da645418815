package io.github.stratalog.interop.connect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.connect.file.FileStreamSinkConnector;
import org.apache.kafka.connect.file.FileStreamSourceConnector;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.StrataProcess;
import io.github.stratalog.interop.testing.Wait;

/**
 * One distributed Connect worker whose config, offset and status topics are
 * on strata proves that the worker creates those topics compacted, that
 * Kafka's FileStream source and sink (connect-file's
 * {@link FileStreamSourceConnector} and {@link FileStreamSinkConnector}) carry
 * every line file → topic → file exactly and in order, and that the REST
 * API's create, pause, resume, restart and delete report the documented
 * states and have the documented effect on the data: nothing new while
 * paused, nothing lost or repeated across resume and restart, nothing at all
 * once deleted.
 *
 * <p>The source runs with its default {@code batch.size} (2000), more lines
 * than any test here writes, so a poll never stops short of the lines it has
 * read (see {@link WorkerKillTest} for why that matters). Its offset, for the
 * source partition {@code {"filename": path}}, is {@code {"position": n}},
 * n the end of the last line it returned; a restarted task skips to the
 * committed position, so the restart below reads nothing twice.
 */
class ConnectRestApiTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(90);
    private static final String GROUP = "connect-rest";

    @TempDir
    static Path files;

    private static StrataProcess strata;
    private static ConnectWorker worker;
    private static Admin admin;

    @BeforeAll
    static void startWorker() throws Exception {
        strata = StrataProcess.start();
        admin = KafkaClients.admin(strata.bootstrapServers());
        worker = ConnectWorker.start("rest", ConnectWorker.config(strata.bootstrapServers(), GROUP));
    }

    @AfterAll
    static void stopAll() {
        try {
            if (worker != null) {
                worker.close();
            }
            if (admin != null) {
                admin.close();
            }
        } finally {
            if (strata != null) {
                strata.close();
            }
        }
    }

    @Test
    void workerCreatesCompactedInternalTopics() throws Exception {
        List<ConfigResource> topics = List.of("-configs", "-offsets", "-status").stream()
                .map(suffix -> new ConfigResource(ConfigResource.Type.TOPIC, GROUP + suffix)).toList();
        Map<ConfigResource, Config> configs = admin.describeConfigs(topics).all().get();
        for (ConfigResource topic : topics) {
            ConfigEntry policy = configs.get(topic).get("cleanup.policy");
            assertEquals("compact", policy.value(), topic.name() + " cleanup.policy");
            // Set on the topic when the worker created it, not a broker default.
            assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, policy.source(), topic.name() + " cleanup.policy source");
        }
        // The worker created them with the partition counts it was given (the config topic must have one).
        Map<String, Integer> partitions = admin.describeTopics(topics.stream().map(ConfigResource::name).toList())
                .allTopicNames().get().entrySet().stream()
                .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().partitions().size()));
        assertEquals(Map.of(GROUP + "-configs", 1, GROUP + "-offsets", 3, GROUP + "-status", 2), partitions);
    }

    @Test
    void fileSourceToTopicToFileSink() throws Exception {
        Path in = files.resolve("pipeline-in.txt");
        Path out = files.resolve("pipeline-out.txt");
        List<String> lines = Lines.numbered("pipeline", 0, 1000);
        Lines.append(in, lines);
        createTopic("pipeline");
        worker.rest().putConnector("pipeline-source", source(in, "pipeline"));
        worker.rest().putConnector("pipeline-sink", Map.of(
                "connector.class", FileStreamSinkConnector.class.getName(),
                "topics", "pipeline",
                "file", out.toString()));
        worker.rest().awaitState("pipeline-source", "RUNNING", 1);
        worker.rest().awaitState("pipeline-sink", "RUNNING", 1);

        Wait.until(TIMEOUT, "the sink file to have " + lines.size() + " lines",
                () -> Files.exists(out) && Files.readAllLines(out).size() >= lines.size());
        assertEquals(lines, Files.readAllLines(out, StandardCharsets.UTF_8), "sink file");
        try (TopicTail topic = new TopicTail(strata.bootstrapServers(), "pipeline", IsolationLevel.READ_UNCOMMITTED)) {
            assertEquals(lines, topic.valuesToEnd(TIMEOUT), "topic");
        }
        // The sink's consumer group committed what it wrote.
        Wait.until(TIMEOUT, "connect-pipeline-sink to commit offset " + lines.size(), () -> {
            var committed = admin.listConsumerGroupOffsets("connect-pipeline-sink").partitionsToOffsetAndMetadata().get();
            return committed.values().stream().anyMatch(o -> o != null && o.offset() == lines.size());
        });
        deleteConnector("pipeline-source");
        deleteConnector("pipeline-sink");
    }

    @Test
    void pauseResumeRestartDelete() throws Exception {
        Path in = files.resolve("lifecycle.txt");
        createTopic("lifecycle");
        List<String> expected = new ArrayList<>(Lines.numbered("lifecycle", 0, 100));
        Lines.append(in, expected);
        ConnectRest rest = worker.rest();
        assertEquals(201, rest.putConnector("lifecycle", source(in, "lifecycle")).status(), "PUT of a new connector");
        assertTrue(rest.connectors().contains("lifecycle"), "GET /connectors lists it");
        rest.awaitState("lifecycle", "RUNNING", 1);

        try (TopicTail topic = new TopicTail(strata.bootstrapServers(), "lifecycle", IsolationLevel.READ_UNCOMMITTED)) {
            assertEquals(expected, values(topic.awaitAtLeast(100, TIMEOUT)));

            // Paused: lines appended now stay in the file.
            rest.put("/connectors/lifecycle/pause", null).expect(202);
            rest.awaitState("lifecycle", "PAUSED", 1);
            List<String> whilePaused = Lines.numbered("lifecycle", 100, 200);
            Lines.append(in, whilePaused);
            awaitBarrier("paused");
            assertEquals(expected, topic.valuesToEnd(TIMEOUT), "records produced while paused");

            // Resumed: exactly the lines appended while paused follow.
            rest.put("/connectors/lifecycle/resume", null).expect(202);
            rest.awaitState("lifecycle", "RUNNING", 1);
            expected.addAll(whilePaused);
            assertEquals(expected, values(topic.awaitAtLeast(200, TIMEOUT)));

            // Restarted (connector and task): the task stops, commits its
            // offset, starts again from it, so nothing is read twice.
            rest.post("/connectors/lifecycle/restart?includeTasks=true&onlyFailed=false").expect(202);
            rest.awaitState("lifecycle", "RUNNING", 1);
            List<String> afterRestart = Lines.numbered("lifecycle", 200, 300);
            Lines.append(in, afterRestart);
            expected.addAll(afterRestart);
            topic.awaitAtLeast(300, TIMEOUT);
            awaitBarrier("restarted");
            assertEquals(expected, topic.valuesToEnd(TIMEOUT), "records after the restart");

            // Deleted: gone from the API, and its file is no longer read.
            rest.delete("/connectors/lifecycle").expect(204);
            Wait.until(TIMEOUT, "lifecycle gone from GET /connectors", () -> !rest.connectors().contains("lifecycle"));
            // The status goes when the worker reads back its own tombstone from the status topic.
            Wait.until(TIMEOUT, "GET /connectors/lifecycle/status to answer 404", () -> rest.status("lifecycle").status() == 404);
            assertEquals(404, rest.get("/connectors/lifecycle/config").status(), "config of a deleted connector");
            Lines.append(in, Lines.numbered("lifecycle", 300, 350));
            awaitBarrier("deleted");
            assertEquals(expected, topic.valuesToEnd(TIMEOUT), "records after the delete");
        }
    }

    /**
     * Runs a second source through the same worker until its one line has
     * arrived: the worker has been polling its running tasks meanwhile, so a
     * paused or deleted connector that still produced would have by now.
     */
    private void awaitBarrier(String name) throws Exception {
        String connector = "barrier-" + name;
        Path in = files.resolve(connector + ".txt");
        Lines.append(in, List.of(connector));
        createTopic(connector);
        worker.rest().putConnector(connector, source(in, connector));
        try (TopicTail topic = new TopicTail(strata.bootstrapServers(), connector, IsolationLevel.READ_UNCOMMITTED)) {
            topic.awaitAtLeast(1, TIMEOUT);
        }
        deleteConnector(connector);
    }

    private void deleteConnector(String name) throws Exception {
        worker.rest().delete("/connectors/" + name).expect(204);
        Wait.until(TIMEOUT, name + " deleted", () -> worker.rest().status(name).status() == 404);
    }

    /** A FileStream source reading {@code file} into {@code topic}, one task. */
    private static Map<String, String> source(Path file, String topic) {
        return Map.of(
                "connector.class", FileStreamSourceConnector.class.getName(),
                "tasks.max", "1",
                "file", file.toString(),
                "topic", topic);
    }

    private static void createTopic(String name) throws Exception {
        admin.createTopics(Set.of(new NewTopic(name, 1, (short) 1))).all().get();
    }

    private static List<String> values(List<ConsumerRecord<String, String>> records) {
        return records.stream().map(ConsumerRecord::value).toList();
    }
}
