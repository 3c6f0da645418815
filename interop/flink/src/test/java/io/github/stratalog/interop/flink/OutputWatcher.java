package io.github.stratalog.interop.flink;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import org.apache.flink.core.execution.JobClient;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.Wait;

/**
 * Follows a job's output topic from the beginning while the job runs, with
 * one consumer outside any group, so that a test can wait for results to
 * appear (for read_committed: for a checkpoint to have committed them).
 */
final class OutputWatcher implements AutoCloseable {
    private final KafkaConsumer<String, String> consumer;
    private final List<ConsumerRecord<String, String>> seen = new ArrayList<>();

    OutputWatcher(String bootstrap, Set<TopicPartition> partitions, IsolationLevel isolation) {
        Map<String, Object> overrides = Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation.name().toLowerCase(Locale.ROOT));
        this.consumer = KafkaClients.consumer(bootstrap, null, overrides);
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
    }

    /**
     * Polls until at least {@code n} records have been read, failing at once
     * if {@code job} fails, and returns all read so far.
     */
    List<ConsumerRecord<String, String>> awaitAtLeast(int n, Duration timeout, JobClient job) throws InterruptedException {
        Wait.until(timeout, n + " records of output", () -> {
            Jobs.assertNotFailed(job);
            consumer.poll(Duration.ofMillis(200)).forEach(seen::add);
            return seen.size() >= n;
        });
        return List.copyOf(seen);
    }

    @Override
    public void close() {
        consumer.close();
    }
}
