package io.github.stratalog.interop.streams;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;

import io.github.stratalog.interop.testing.KafkaClients;

/** Creating the tests' input and output topics, producing to them, and reading their offsets. */
final class Topics {
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    private Topics() {}

    /** One input record: key, value (null for a tombstone) and its event time. */
    record Event(String key, String value, long timestamp) {}

    /** Creates {@code name} with {@code partitions} partitions and topic {@code configs}. */
    static void create(String bootstrap, String name, int partitions, Map<String, String> configs)
            throws InterruptedException, ExecutionException, TimeoutException {
        try (Admin admin = KafkaClients.admin(bootstrap)) {
            admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1).configs(configs)))
                    .all().get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    /**
     * Produces {@code events} in order with their own timestamps (acks=all,
     * idempotent, so each partition holds them in the order given) and
     * fails unless every one is acknowledged.
     */
    static void produce(String bootstrap, String topic, List<Event> events)
            throws InterruptedException, ExecutionException, TimeoutException {
        try (KafkaProducer<String, String> producer = KafkaClients.producer(bootstrap, Map.of())) {
            send(producer, topic, events);
        }
    }

    /** Like {@link #produce}, with a producer the caller keeps. */
    static void send(KafkaProducer<String, String> producer, String topic, List<Event> events)
            throws InterruptedException, ExecutionException, TimeoutException {
        List<Future<RecordMetadata>> acks = new ArrayList<>();
        for (Event e : events) {
            acks.add(producer.send(new ProducerRecord<>(topic, null, e.timestamp(), e.key(), e.value())));
        }
        producer.flush();
        for (Future<RecordMetadata> ack : acks) {
            ack.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    /** The partitions' offsets of {@code spec} (earliest: the log start offsets; latest: the end offsets). */
    static Map<TopicPartition, Long> offsets(Admin admin, String topic, OffsetSpec spec)
            throws InterruptedException, ExecutionException, TimeoutException {
        int partitions = admin.describeTopics(List.of(topic)).allTopicNames().get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                .get(topic).partitions().size();
        Map<TopicPartition, OffsetSpec> request = new java.util.HashMap<>();
        for (int p = 0; p < partitions; p++) {
            request.put(new TopicPartition(topic, p), spec);
        }
        return admin.listOffsets(request).all().get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).entrySet().stream()
                .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().offset()));
    }
}
