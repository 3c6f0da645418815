package io.github.stratalog.interop.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.StrataExtension;
import io.github.stratalog.interop.testing.TopicReader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An idempotent producer with acks=all: keyed records are acknowledged at
 * contiguous offsets and read back exactly, in order per key.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class IdempotentProducerTest {
    private static final int PARTITIONS = 6;
    private static final int KEYS = 50;
    private static final int RECORDS = 6000;

    @RegisterExtension
    static final StrataExtension strata = new StrataExtension();

    @Test
    void keyedRecordsReadBackInOrderPerKeyAtTheirAcknowledgedOffsets() throws Exception {
        String topic = "idempotent-keyed";
        try (Admin admin = KafkaClients.admin(strata.bootstrapServers())) {
            admin.createTopics(List.of(new NewTopic(topic, Optional.of(PARTITIONS), Optional.empty())))
                    .all().get(30, TimeUnit.SECONDS);
        }

        // Record i has key i % KEYS and is that key's (i / KEYS)th record.
        List<Future<RecordMetadata>> acks = new ArrayList<>();
        Map<String, Object> cfg = Map.of(
                ProducerConfig.LINGER_MS_CONFIG, 5,
                ProducerConfig.BATCH_SIZE_CONFIG, 4096,
                ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 5);
        try (KafkaProducer<String, String> producer = KafkaClients.producer(strata.bootstrapServers(), cfg)) {
            for (int i = 0; i < RECORDS; i++) {
                acks.add(producer.send(new ProducerRecord<>(topic, key(i), value(i))));
            }
            producer.flush();
        }

        // What was acknowledged where: per partition, offsets are 0..n-1.
        Map<TopicPartition, Map<Long, Integer>> acked = new HashMap<>();
        Map<String, Integer> partitionOfKey = new HashMap<>();
        Map<String, Long> lastOffsetOfKey = new HashMap<>();
        for (int i = 0; i < RECORDS; i++) {
            RecordMetadata md = acks.get(i).get(10, TimeUnit.SECONDS);
            assertTrue(md.hasOffset(), "record " + i + " acknowledged without an offset");
            TopicPartition tp = new TopicPartition(topic, md.partition());
            Integer prev = acked.computeIfAbsent(tp, x -> new TreeMap<>()).put(md.offset(), i);
            assertEquals(null, prev, "records " + prev + " and " + i + " both acknowledged at " + tp + "@" + md.offset());
            Integer p = partitionOfKey.putIfAbsent(key(i), md.partition());
            assertEquals(p == null ? md.partition() : p, md.partition(), "key " + key(i) + " in two partitions");
            Long last = lastOffsetOfKey.put(key(i), md.offset());
            assertTrue(last == null || last < md.offset(), "record " + i + " at " + md.offset() + " not after its key's previous record at " + last);
        }
        for (Map.Entry<TopicPartition, Map<Long, Integer>> e : acked.entrySet()) {
            long expect = 0;
            for (long off : e.getValue().keySet()) {
                assertEquals(expect++, off, "acknowledged offsets of " + e.getKey() + " are not contiguous from 0");
            }
        }
        assertEquals(KEYS, partitionOfKey.size());

        List<ConsumerRecord<String, String>> read = TopicReader.readAll(strata.bootstrapServers(), topic,
                IsolationLevel.READ_UNCOMMITTED, Duration.ofSeconds(60));
        assertEquals(RECORDS, read.size(), "records read back");
        Map<String, Integer> nextSeqOfKey = new HashMap<>();
        for (ConsumerRecord<String, String> r : read) {
            TopicPartition tp = new TopicPartition(r.topic(), r.partition());
            Integer i = acked.getOrDefault(tp, Map.of()).get(r.offset());
            assertTrue(i != null, "read " + tp + "@" + r.offset() + " which was never acknowledged");
            assertEquals(key(i), r.key(), "key at " + tp + "@" + r.offset());
            assertEquals(value(i), r.value(), "value at " + tp + "@" + r.offset());
            int seq = nextSeqOfKey.merge(r.key(), 1, Integer::sum) - 1;
            assertEquals(i / KEYS, seq, "order of key " + r.key());
        }
        for (int seqs : nextSeqOfKey.values()) {
            assertEquals(RECORDS / KEYS, seqs);
        }
    }

    private static String key(int i) {
        return String.format("key-%02d", i % KEYS);
    }

    private static String value(int i) {
        return String.format("%s/%05d", key(i), i / KEYS);
    }
}
