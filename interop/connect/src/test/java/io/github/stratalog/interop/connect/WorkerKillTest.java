package io.github.stratalog.interop.connect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.connect.file.FileStreamSourceConnector;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.ObjectMapper;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.StrataProcess;
import io.github.stratalog.interop.testing.Wait;

/**
 * A distributed worker killed with SIGKILL while its source task (Kafka's
 * {@link FileStreamSourceConnector}, reading a file that keeps growing) is
 * mid-stream, then started again with the same configuration, resumes from
 * what it committed on strata: it finds the connector in the config topic,
 * its position in the offsets topic, and produces every remaining line.
 * At least once without exactly-once support (nothing lost; lines after the
 * last committed offset may repeat), and exactly once with
 * exactly.once.source.support=enabled (KIP-618; FileStreamSourceConnector
 * declares exactly-once support when it reads a file), where a
 * read_committed consumer sees every line once, in order, whatever the
 * killed worker's open transaction held.
 *
 * <p>FileStreamSourceTask's offset, for the source partition
 * {@code {"filename": path}}, is {@code {"position": n}}: n is where the
 * record's line ends, its newline included, counted in characters (bytes,
 * for the ASCII lines here). A new task skips that far into the file before reading on;
 * with exactly-once support the offset is written in the same transaction as
 * the records, so the committed position is exactly the lines that are
 * committed in the topic.
 */
class WorkerKillTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(120);
    /** Committed records to wait for before the kill: the stream is well under way. */
    private static final int BEFORE_KILL = 150;
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path files;

    private static StrataProcess strata;
    private static Admin admin;

    @BeforeAll
    static void startStrata() throws Exception {
        strata = StrataProcess.start();
        admin = KafkaClients.admin(strata.bootstrapServers());
    }

    @AfterAll
    static void stopStrata() {
        try {
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
    void atLeastOnceLosesNothing() throws Exception {
        Run run = killAndRestart("connect-alo", Map.of(), Map.of());
        assertTrue(run.read().size() >= run.written().size(),
                "records read " + run.read().size() + " < lines written " + run.written().size());
        // Lines re-read after the restart repeat a suffix of what came before: first occurrences are the file, in order.
        assertEquals(run.written(), new ArrayList<>(new LinkedHashSet<>(run.read())), "distinct records in first-seen order");
        // The restarted task began at the committed offset, not at the start of the file.
        List<String> beforeOffset = run.written().subList(0, run.linesBelowCommittedOffset());
        for (String line : beforeOffset) {
            assertEquals(1, run.read().stream().filter(line::equals).count(), "copies of " + line + ", below the committed offset");
        }
        System.out.printf("at-least-once: %d lines, %d records (%d repeated)%n", run.written().size(), run.read().size(),
                run.read().size() - run.written().size());
    }

    @Test
    void exactlyOnceNeitherLosesNorRepeats() throws Exception {
        Run run = killAndRestart("connect-eos",
                Map.of("exactly.once.source.support", "enabled",
                        // A kill between a transaction's offset write and its
                        // commit leaves the offsets topic's last stable offset
                        // behind its end, and a new worker reads that topic to
                        // its end before anything else: it waits until the
                        // transaction times out (default 60 s) and strata
                        // aborts it. Connect does so on any broker.
                        "producer.transaction.timeout.ms", "10000"),
                // A transaction a second long (not one per poll): at the kill
                // one is open with records in it, which must be aborted and
                // produced again.
                Map.of("exactly.once.support", "required", "transaction.boundary", "interval",
                        "transaction.boundary.interval.ms", "1000"));
        assertEquals(run.written(), run.read(), "read_committed records");
    }

    /** What a kill-and-restart run wrote to the file, read from the topic, and had committed as its offset at the kill. */
    private record Run(List<String> written, List<String> read, int linesBelowCommittedOffset) {}

    /**
     * Runs a FileStream source on a worker of group {@code group} while the
     * file grows (offsets committed every 500 ms, or transactions of a
     * second); once {@link #BEFORE_KILL} records are committed and the worker
     * has committed a source offset (and, with exactly-once support, while a
     * transaction with records in the topic is open), kills it, stops the file's writer,
     * starts a new worker with the same configuration, and returns what a
     * read_committed consumer reads once the topic holds every line.
     */
    private Run killAndRestart(String group, Map<String, String> workerExtra, Map<String, String> connectorExtra)
            throws Exception {
        boolean transactional = "enabled".equals(workerExtra.get("exactly.once.source.support"));
        String topic = group + "-lines";
        admin.createTopics(Set.of(new NewTopic(topic, 1, (short) 1))).all().get();
        Path file = files.resolve(group + ".txt");
        Lines.append(file, List.of());
        Map<String, String> workerConfig = new LinkedHashMap<>(ConnectWorker.config(strata.bootstrapServers(), group));
        workerConfig.putAll(workerExtra);
        Map<String, String> connector = new LinkedHashMap<>(Map.of(
                "connector.class", FileStreamSourceConnector.class.getName(),
                "tasks.max", "1",
                "file", file.toString(),
                "topic", topic,
                // FileStreamSourceTask reads the file 1024 characters at a
                // time (some 60 lines here) and a poll returns once it has
                // batch.size lines; the lines left in its buffer come out
                // only after the next read finds more in the file. Once the
                // file stops growing they would never come: with
                // batch.size=5 a task returns 145 of a finished 200-line
                // file. So the cap is above anything a run writes, and a
                // poll returns every complete line it has read.
                "batch.size", String.valueOf(Integer.MAX_VALUE)));
        connector.putAll(connectorExtra);

        try (TopicTail tail = new TopicTail(strata.bootstrapServers(), topic, IsolationLevel.READ_COMMITTED);
                TopicTail offsets = new TopicTail(strata.bootstrapServers(), group + "-offsets", IsolationLevel.READ_COMMITTED)) {
            List<String> written;
            long committedPosition;
            try (ConnectWorker first = ConnectWorker.start(group + "-first", workerConfig)) {
                first.rest().putConnector("lines", connector);
                first.rest().awaitState("lines", "RUNNING", 1);
                try (LineAppender appender = new LineAppender(file, group);
                        TopicTail uncommitted = new TopicTail(strata.bootstrapServers(), topic, IsolationLevel.READ_UNCOMMITTED)) {
                    tail.awaitAtLeast(BEFORE_KILL, TIMEOUT);
                    Wait.until(TIMEOUT, "a source offset committed to " + group + "-offsets",
                            () -> lastPosition(offsets.valuesToEnd(TIMEOUT)) > 0);
                    if (transactional) {
                        // Kill while records of an open transaction are in the topic.
                        Wait.until(TIMEOUT, "records of an open transaction in " + topic,
                                () -> uncommitted.readToEnd(TIMEOUT).size() > tail.readToEnd(TIMEOUT).size());
                    }
                    first.kill();
                    written = appender.stop();
                }
                committedPosition = lastPosition(offsets.valuesToEnd(TIMEOUT));
            }
            int committedLines = linesBefore(written, committedPosition);
            System.out.printf("%s: killed the worker with %d of %d lines committed to the topic, offset after line %d%n",
                    group, tail.readToEnd(TIMEOUT).size(), written.size(), committedLines);

            try (ConnectWorker second = ConnectWorker.start(group + "-second", workerConfig)) {
                // Not created again: the new worker reads it from the config topic.
                second.rest().awaitState("lines", "RUNNING", 1);
                // Every line is there (not just as many records: some may be
                // repeats); in one partition nothing the restarted task
                // produces can come after the last line.
                Set<String> missing = new HashSet<>(written);
                Wait.until(TIMEOUT, "every line written to be in " + topic, () -> {
                    tail.valuesToEnd(TIMEOUT).forEach(missing::remove);
                    return missing.isEmpty();
                });
                Run run = new Run(written, tail.valuesToEnd(TIMEOUT), committedLines);
                try (TopicTail all = new TopicTail(strata.bootstrapServers(), topic, IsolationLevel.READ_UNCOMMITTED)) {
                    // More here than read_committed sees: records of the killed worker's aborted transaction.
                    System.out.printf("%s: %d records read_committed, %d read_uncommitted%n", group, run.read().size(),
                            all.readToEnd(TIMEOUT).size());
                }
                return run;
            }
        }
    }

    /**
     * The newest {@code {"position": n}} in the offsets topic's values (JSON,
     * as the worker's internal converter writes them; FileStreamSourceTask's
     * offset), or 0.
     */
    private static long lastPosition(List<String> offsetValues) throws Exception {
        long position = 0;
        for (String v : offsetValues) {
            if (v != null) {
                position = JSON.readTree(v).path("position").asLong(position);
            }
        }
        return position;
    }

    /**
     * How many of {@code lines} (each followed by a newline in the file) end
     * at or before {@code position} (FileStreamSourceTask counts characters;
     * the lines are ASCII, one byte each).
     */
    private static int linesBefore(List<String> lines, long position) {
        long end = 0;
        int n = 0;
        for (String line : lines) {
            end += line.getBytes(StandardCharsets.UTF_8).length + 1;
            if (end > position) {
                break;
            }
            n++;
        }
        return n;
    }
}
