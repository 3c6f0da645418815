package io.github.stratalog.interop.streams;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.Wait;

/**
 * Follows an output topic from its beginning, outside any group, and keeps
 * every record read, for tests that wait for an application's results.
 */
final class TopicTail implements AutoCloseable {
    private final KafkaConsumer<String, String> consumer;
    private final List<ConsumerRecord<String, String>> records = new ArrayList<>();

    TopicTail(String bootstrap, String topic, IsolationLevel isolation) {
        consumer = KafkaClients.consumer(bootstrap, null, Map.of(
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation.name().toLowerCase(Locale.ROOT),
                ConsumerConfig.CLIENT_ID_CONFIG, "tail-" + topic));
        List<TopicPartition> parts = consumer.partitionsFor(topic, Duration.ofSeconds(60)).stream()
                .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
        if (parts.isEmpty()) {
            consumer.close();
            throw new AssertionError("topic " + topic + " has no partitions");
        }
        consumer.assign(parts);
        consumer.seekToBeginning(parts);
    }

    /**
     * Reads until the records read so far satisfy {@code done}, and returns
     * them (offset order within each partition). {@code healthCheck} runs on
     * each round, so that a dead application fails the wait at once.
     */
    List<ConsumerRecord<String, String>> awaitRecords(Duration timeout, String what, Runnable healthCheck,
            Predicate<List<ConsumerRecord<String, String>>> done) throws InterruptedException {
        Wait.until(timeout, what, () -> {
            healthCheck.run();
            consumer.poll(Duration.ofMillis(200)).forEach(records::add);
            return done.test(records);
        });
        return List.copyOf(records);
    }

    /** The records read so far. */
    List<ConsumerRecord<String, String>> records() {
        return List.copyOf(records);
    }

    /** Each key's last value (null for a tombstone), in the order keys were first seen. */
    static Map<String, String> lastValues(List<ConsumerRecord<String, String>> records) {
        Map<String, String> last = new LinkedHashMap<>();
        records.forEach(r -> last.put(r.key(), r.value()));
        return last;
    }

    /** Each key's last value, without the keys whose last value is a tombstone. */
    static Map<String, String> liveValues(List<ConsumerRecord<String, String>> records) {
        Map<String, String> live = lastValues(records);
        live.values().removeIf(v -> v == null);
        return live;
    }

    /** Each key's values in the order read. */
    static Map<String, List<String>> valuesByKey(List<ConsumerRecord<String, String>> records) {
        Map<String, List<String>> byKey = new LinkedHashMap<>();
        records.forEach(r -> byKey.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(r.value()));
        return byKey;
    }

    @Override
    public void close() {
        consumer.close();
    }
}
