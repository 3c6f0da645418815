package io.github.stratalog.interop.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.connector.kafka.sink.TransactionNamingStrategy;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import io.github.stratalog.interop.testing.StrataExtension;
import io.github.stratalog.interop.testing.TopicReader;

/**
 * Flink's exactly-once KafkaSink on strata, unchanged: a job reads a topic
 * with KafkaSource, keeps a running count per key in keyed state, and
 * writes one result per input record with KafkaSink in
 * DeliveryGuarantee.EXACTLY_ONCE (one Kafka transaction per subtask and
 * checkpoint, checkpoints every 500 ms, committed when the checkpoint
 * completes).
 *
 * <p>Proves, reading the output with isolation.level=read_committed, that
 * every result is there exactly once and in input order per key:
 * <ul>
 * <li>in a plain run whose input arrives over several checkpoints, and
 *     read_uncommitted sees nothing more (nothing was aborted);
 * <li>after a task fails mid-stream and the fixed-delay restart strategy
 *     restores the job from its last checkpoint, with each of the sink's
 *     transaction naming strategies: INCREMENTING, whose restarted writers
 *     abort the failed attempt's open transactions by InitProducerId on
 *     each transactional id in turn, and POOLING, which finds them with
 *     DescribeProducers and ListTransactions. The aborted records stay in
 *     the log, visible to read_uncommitted only, and repeat committed
 *     results;
 * <li>across a stop with a savepoint, which commits the transactions the
 *     job had open, and a new job started from it, which commits them a
 *     second time (a no-op) and carries on from the savepoint's offsets
 *     and keyed state.
 * </ul>
 * After each, no transaction of the sink is left open and the last stable
 * offsets have caught up with the high watermarks.
 */
class ExactlyOnceSinkTest {
    /** Checkpointing on (the exactly-once sink needs it) but no periodic checkpoint within a test. */
    private static final Duration NO_PERIODIC_CHECKPOINTS = Duration.ofHours(1);
    private static final Duration TIMEOUT = Duration.ofSeconds(90);
    private static final int PARTITIONS = CountingJob.PARTITIONS;
    private static final int BATCH = 300;

    // Before the MiniCluster, so that strata outlives it (see StrataExtension).
    @RegisterExtension
    @Order(1)
    static final StrataExtension STRATA = new StrataExtension();

    @RegisterExtension
    @Order(2)
    static final MiniClusterExtension FLINK = MiniClusters.small();

    @Test
    void everyResultIsCommittedExactlyOnce() throws Exception {
        String input = "eo-input";
        String output = "eo-output";
        String prefix = "eo-sink";
        int total = 3 * BATCH;
        createTopics(input, output);

        StreamExecutionEnvironment env = environment(MiniClusters.noRestarts());
        CountingJob.build(env, bootstrap(), input, output, "eo-job", prefix, TransactionNamingStrategy.DEFAULT,
                CountingJob.stoppingOffsets(input, total), null);
        JobClient job = env.executeAsync("exactly-once sink");
        Set<TopicPartition> outputPartitions = Topics.partitions(output, PARTITIONS);
        try (OutputWatcher committed = new OutputWatcher(bootstrap(), outputPartitions, IsolationLevel.READ_COMMITTED)) {
            // One batch at a time, each visible only once a checkpoint has
            // committed it: the sink goes through several transactions.
            for (int from = 0; from < total; from += BATCH) {
                Topics.produce(bootstrap(), CountingJob.input(input, from, from + BATCH));
                committed.awaitAtLeast(from + BATCH, TIMEOUT, job);
            }
            Jobs.awaitFinished(job, TIMEOUT);
        } finally {
            Jobs.cancel(job);
        }

        List<ConsumerRecord<String, String>> results = readAll(output, IsolationLevel.READ_COMMITTED);
        assertEquals(CountingJob.expectedPerKey(total), CountingJob.perKey(results));
        // Nothing failed, so nothing was aborted: read_uncommitted sees the same.
        assertEquals(CountingJob.perKey(results), CountingJob.perKey(readAll(output, IsolationLevel.READ_UNCOMMITTED)));
        Topics.awaitNoOpenTransactions(admin(), bootstrap(), outputPartitions, prefix);
    }

    @ParameterizedTest
    @EnumSource(TransactionNamingStrategy.class)
    void restoresFromCheckpointAfterFailureWithoutLossOrDuplicates(TransactionNamingStrategy naming) throws Exception {
        String name = naming.name().toLowerCase(Locale.ROOT);
        String input = "restart-input-" + name;
        String output = "restart-output-" + name;
        String prefix = "restart-sink-" + name;
        int total = 3 * BATCH;
        createTopics(input, output);

        StreamExecutionEnvironment env = environment(MiniClusters.fixedDelayRestarts(3, Duration.ofMillis(200)));
        FailOnce.reset();
        // Fails in the middle of the second batch, which is produced only
        // once a checkpoint has committed the first.
        CountingJob.build(env, bootstrap(), input, output, "restart-job-" + name, prefix, naming,
                CountingJob.stoppingOffsets(input, total), new FailOnce(BATCH + BATCH / 2));
        JobClient job = env.executeAsync("exactly-once sink, failing once");
        Set<TopicPartition> outputPartitions = Topics.partitions(output, PARTITIONS);
        try (OutputWatcher committed = new OutputWatcher(bootstrap(), outputPartitions, IsolationLevel.READ_COMMITTED)) {
            Topics.produce(bootstrap(), CountingJob.input(input, 0, BATCH));
            committed.awaitAtLeast(BATCH, TIMEOUT, job);
            Topics.produce(bootstrap(), CountingJob.input(input, BATCH, total));
            Jobs.awaitFinished(job, TIMEOUT);
        } finally {
            Jobs.cancel(job);
        }
        assertEquals(1, FailOnce.failures(), "the injected failure happened once");

        List<ConsumerRecord<String, String>> results = readAll(output, IsolationLevel.READ_COMMITTED);
        assertEquals(CountingJob.expectedPerKey(total), CountingJob.perKey(results));
        // What the failed attempt wrote after its last checkpoint is in the
        // log, aborted: read_uncommitted may see it, and it can only repeat
        // results that were committed.
        List<ConsumerRecord<String, String>> everything = readAll(output, IsolationLevel.READ_UNCOMMITTED);
        Set<String> committedResults = keyValues(results);
        for (ConsumerRecord<String, String> r : everything) {
            assertTrue(committedResults.contains(r.key() + "=" + r.value()), "aborted record " + r + " was never committed");
        }
        System.out.println(naming + ": " + (everything.size() - results.size()) + " records of the failed attempt aborted");
        Topics.awaitNoOpenTransactions(admin(), bootstrap(), outputPartitions, prefix);
    }

    @Test
    void resumesFromSavepointInANewJob(@TempDir Path savepoints) throws Exception {
        String input = "savepoint-input";
        String output = "savepoint-output";
        String prefix = "savepoint-sink";
        int total = 2 * BATCH;
        createTopics(input, output);
        Set<TopicPartition> outputPartitions = Topics.partitions(output, PARTITIONS);

        // The first job never checkpoints on its own: its results stay in
        // open transactions until the savepoint, which must commit them;
        // the second job then commits them again from the savepoint's
        // state (a second commit of a committed transaction succeeds).
        // Both jobs are unbounded, since a bounded KafkaSource restored from
        // a savepoint never finishes (FLINK-31006: the restored enumerator
        // never signals "no more splits"); the second job is cancelled once
        // its output is complete.
        StreamExecutionEnvironment first = MiniClusters.environment(MiniClusters.noRestarts(), NO_PERIODIC_CHECKPOINTS);
        CountingJob.build(first, bootstrap(), input, output, "savepoint-job", prefix, TransactionNamingStrategy.DEFAULT,
                null, null);
        JobClient job = first.executeAsync("exactly-once sink, stopped with a savepoint");
        String savepoint;
        try (OutputWatcher uncommitted = new OutputWatcher(bootstrap(), outputPartitions, IsolationLevel.READ_UNCOMMITTED)) {
            Topics.produce(bootstrap(), CountingJob.input(input, 0, BATCH));
            uncommitted.awaitAtLeast(BATCH, TIMEOUT, job);
            assertEquals(List.of(), readAll(output, IsolationLevel.READ_COMMITTED), "committed before any checkpoint");
            savepoint = job.stopWithSavepoint(false, savepoints.toUri().toString(), SavepointFormatType.CANONICAL)
                    .get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            Jobs.awaitFinished(job, TIMEOUT);
        } finally {
            Jobs.cancel(job);
        }
        // Stopping with a savepoint commits what the job had written.
        assertEquals(CountingJob.expectedPerKey(BATCH),
                CountingJob.perKey(readAll(output, IsolationLevel.READ_COMMITTED)));
        Topics.awaitNoOpenTransactions(admin(), bootstrap(), outputPartitions, prefix);

        Topics.produce(bootstrap(), CountingJob.input(input, BATCH, total));
        Configuration fromSavepoint = MiniClusters.noRestarts();
        fromSavepoint.set(StateRecoveryOptions.SAVEPOINT_PATH, savepoint);
        StreamExecutionEnvironment second = environment(fromSavepoint);
        CountingJob.build(second, bootstrap(), input, output, "savepoint-job", prefix, TransactionNamingStrategy.DEFAULT,
                null, null);
        JobClient resumed = second.executeAsync("exactly-once sink, resumed from a savepoint");
        try (OutputWatcher committed = new OutputWatcher(bootstrap(), outputPartitions, IsolationLevel.READ_COMMITTED)) {
            committed.awaitAtLeast(total, TIMEOUT, resumed);
        } finally {
            Jobs.cancel(resumed);
        }

        // The new job went on from the savepoint's offsets and counts: the
        // second batch's results follow the first's, none repeated.
        assertEquals(CountingJob.expectedPerKey(total),
                CountingJob.perKey(readAll(output, IsolationLevel.READ_COMMITTED)));
        Topics.awaitNoOpenTransactions(admin(), bootstrap(), outputPartitions, prefix);
    }

    private static void createTopics(String input, String output) throws Exception {
        Topics.create(admin(), input, PARTITIONS);
        Topics.create(admin(), output, PARTITIONS);
    }

    private static StreamExecutionEnvironment environment(Configuration conf) {
        return MiniClusters.environment(conf, MiniClusters.CHECKPOINT_INTERVAL);
    }

    private static Set<String> keyValues(List<ConsumerRecord<String, String>> records) {
        Set<String> out = new HashSet<>();
        records.forEach(r -> out.add(r.key() + "=" + r.value()));
        return out;
    }

    private static String bootstrap() {
        return STRATA.bootstrapServers();
    }

    private static Admin admin() {
        return STRATA.admin();
    }

    private static List<ConsumerRecord<String, String>> readAll(String topic, IsolationLevel isolation)
            throws InterruptedException {
        return TopicReader.readAll(bootstrap(), topic, isolation, TIMEOUT);
    }
}
