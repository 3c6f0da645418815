package io.github.stratalog.interop.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.apache.flink.connector.kafka.sink.TransactionNamingStrategy;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.StrataCluster;
import io.github.stratalog.interop.testing.TopicReader;
import io.github.stratalog.interop.testing.Wait;

/**
 * The exactly-once job of {@link ExactlyOnceSinkTest} on a three-gateway
 * strata cluster, one gateway killed (SIGKILL) while the job runs and
 * restarted later: the gateway leading partition 0 of the output (and
 * coordinating whichever of the sink's transactions and the source's group
 * hash to it).
 *
 * <p>Proves that Flink's source, sink and committer carry on across the
 * kill, by the Kafka clients' own retries or by a Flink restart from a
 * checkpoint, and that read_committed output still holds every result
 * exactly once, in order per key, with no transaction left open.
 */
class ExactlyOnceGatewayKillTest {
    private static final Duration LEASE = Duration.ofSeconds(2);
    private static final Duration TIMEOUT = Duration.ofSeconds(90);
    private static final int BATCH = 300;

    @RegisterExtension
    static final MiniClusterExtension FLINK = MiniClusters.small();

    @Test
    void exactlyOnceAcrossAGatewayKill() throws Exception {
        String input = "kill-input";
        String output = "kill-output";
        String prefix = "kill-sink";
        int total = 3 * BATCH;
        try (StrataCluster cluster = StrataCluster.start(LEASE, CountingJob.PARTITIONS);
                Admin admin = KafkaClients.admin(cluster.bootstrapServers())) {
            String bootstrap = cluster.bootstrapServers();
            for (int id : cluster.nodeIds()) {
                try (Admin one = KafkaClients.admin(cluster.address(id))) {
                    Wait.until(Duration.ofSeconds(30), "gateway " + id + " listing three brokers",
                            () -> one.describeCluster().nodes().get(5, TimeUnit.SECONDS).size() == 3);
                }
            }
            Topics.create(admin, input, CountingJob.PARTITIONS);
            Topics.create(admin, output, CountingJob.PARTITIONS);
            Set<TopicPartition> outputPartitions = Topics.partitions(output, CountingJob.PARTITIONS);

            // Restarts allowed: a client may give up on a request to the dead
            // gateway and fail its task, and Flink then restores the job from
            // its last checkpoint; either way the output must stay exact.
            StreamExecutionEnvironment env = MiniClusters.environment(MiniClusters.fixedDelayRestarts(5, Duration.ofSeconds(1)),
                    MiniClusters.CHECKPOINT_INTERVAL);
            CountingJob.build(env, bootstrap, input, output, "kill-job", prefix, TransactionNamingStrategy.DEFAULT,
                    CountingJob.stoppingOffsets(input, total), null);
            JobClient job = env.executeAsync("exactly-once sink across a gateway kill");
            try (OutputWatcher committed = new OutputWatcher(bootstrap, outputPartitions, IsolationLevel.READ_COMMITTED)) {
                Topics.produce(bootstrap, CountingJob.input(input, 0, BATCH));
                committed.awaitAtLeast(BATCH, TIMEOUT, job);

                int victim = leaderOf(admin, output, 0);
                System.out.println("killing gateway " + victim + ", leader of " + output + "-0");
                cluster.kill(victim);
                Topics.produce(bootstrap, CountingJob.input(input, BATCH, 2 * BATCH));
                committed.awaitAtLeast(2 * BATCH, TIMEOUT, job);

                cluster.restart(victim);
                Topics.produce(bootstrap, CountingJob.input(input, 2 * BATCH, total));
                Jobs.awaitFinished(job, TIMEOUT);
            } finally {
                Jobs.cancel(job);
            }

            // Markers are written after EndTxn answers, as in Kafka: the last
            // transaction may still be open on a partition whose leader moved
            // back with the restart. Wait for them all, then read.
            Topics.awaitNoOpenTransactions(admin, bootstrap, outputPartitions, prefix);
            assertEquals(CountingJob.expectedPerKey(total),
                    CountingJob.perKey(TopicReader.readAll(bootstrap, output, IsolationLevel.READ_COMMITTED, TIMEOUT)));
        }
    }

    private static int leaderOf(Admin admin, String topic, int partition) throws Exception {
        TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get(10, TimeUnit.SECONDS).get(topic);
        return d.partitions().get(partition).leader().id();
    }
}
