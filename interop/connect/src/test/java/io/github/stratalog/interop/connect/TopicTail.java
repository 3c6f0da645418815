package io.github.stratalog.interop.connect;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.Wait;

/**
 * Everything a topic holds, read from the beginning outside any group and
 * kept as it grows: for waiting until a connector has produced N records
 * and then looking at exactly what arrived.
 */
final class TopicTail implements AutoCloseable {
    private final String topic;
    private final KafkaConsumer<String, String> consumer;
    private final List<ConsumerRecord<String, String>> records = new ArrayList<>();

    TopicTail(String bootstrap, String topic, IsolationLevel isolation) {
        this.topic = topic;
        this.consumer = KafkaClients.consumer(bootstrap, null, Map.of(
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation.name().toLowerCase(Locale.ROOT),
                ConsumerConfig.CLIENT_ID_CONFIG, "tail-" + topic,
                // Waiting for a topic a connector creates must not create it first.
                ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false));
    }

    /** Polls until at least {@code count} records have arrived; returns all of them so far. */
    List<ConsumerRecord<String, String>> awaitAtLeast(int count, Duration timeout) throws InterruptedException {
        Wait.until(timeout, count + " records in " + topic + " (have " + records.size() + ")", () -> {
            poll();
            return records.size() >= count;
        });
        return List.copyOf(records);
    }

    /**
     * Reads up to the topic's current end offsets (the last stable offset for
     * read_committed) and returns everything read so far.
     */
    List<ConsumerRecord<String, String>> readToEnd(Duration timeout) throws InterruptedException {
        ensureAssigned(timeout);
        Map<TopicPartition, Long> end = consumer.endOffsets(consumer.assignment(), timeout);
        Wait.until(timeout, "reading " + topic + " up to " + end, () -> {
            poll();
            return end.entrySet().stream().allMatch(e -> consumer.position(e.getKey()) >= e.getValue());
        });
        return List.copyOf(records);
    }

    /** The values of {@link #readToEnd}. */
    List<String> valuesToEnd(Duration timeout) throws InterruptedException {
        return readToEnd(timeout).stream().map(ConsumerRecord::value).collect(Collectors.toList());
    }

    private void poll() {
        ensureAssigned(Duration.ofSeconds(30));
        consumer.poll(Duration.ofMillis(200)).forEach(records::add);
    }

    private void ensureAssigned(Duration timeout) {
        if (!consumer.assignment().isEmpty()) {
            return;
        }
        List<TopicPartition> parts = consumer.partitionsFor(topic, timeout).stream()
                .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
        if (parts.isEmpty()) {
            throw new IllegalStateException("topic " + topic + " has no partitions yet");
        }
        consumer.assign(parts);
        consumer.seekToBeginning(parts);
    }

    @Override
    public void close() {
        consumer.close();
    }
}
