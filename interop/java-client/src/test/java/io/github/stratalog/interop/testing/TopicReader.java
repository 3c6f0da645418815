package io.github.stratalog.interop.testing;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;

/**
 * Reads a whole topic back, outside any group: every partition from its log
 * start offset to the end offset at the time of the call (the high
 * watermark, or the last stable offset for read_committed).
 */
public final class TopicReader {
    private TopicReader() {}

    /**
     * The topic's records in the order fetched (offset order within each
     * partition); fails if the end offsets are not all reached within {@code timeout}.
     */
    public static List<ConsumerRecord<String, String>> readAll(String bootstrap, String topic, IsolationLevel isolation,
            Duration timeout) throws InterruptedException {
        Map<String, Object> overrides = Map.of(
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation.name().toLowerCase(Locale.ROOT),
                ConsumerConfig.CLIENT_ID_CONFIG, "topic-reader-" + topic);
        try (KafkaConsumer<String, String> c = KafkaClients.consumer(bootstrap, null, overrides)) {
            Set<TopicPartition> parts = c.partitionsFor(topic, timeout).stream()
                    .map(p -> new TopicPartition(p.topic(), p.partition()))
                    .collect(Collectors.toSet());
            if (parts.isEmpty()) {
                throw new AssertionError("topic " + topic + " has no partitions");
            }
            c.assign(parts);
            c.seekToBeginning(parts);
            Map<TopicPartition, Long> end = c.endOffsets(parts, timeout);
            List<ConsumerRecord<String, String>> out = new ArrayList<>();
            Wait.until(timeout, "reading " + topic + " up to " + end, () -> {
                c.poll(Duration.ofMillis(200)).forEach(out::add);
                for (TopicPartition tp : parts) {
                    if (c.position(tp) < end.get(tp)) {
                        return false;
                    }
                }
                return true;
            });
            return out;
        }
    }
}
