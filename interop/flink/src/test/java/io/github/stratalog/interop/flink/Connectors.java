package io.github.stratalog.interop.flink;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;

import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.sink.TransactionNamingStrategy;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.KafkaSourceBuilder;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.kafka.common.TopicPartition;

/**
 * KafkaSource and KafkaSink as a user configures them for strata: the
 * connector's own builders, with nothing strata-specific beyond the
 * bootstrap address and the settings every Kafka cluster needs.
 */
final class Connectors {
    /**
     * KafkaSink's default transaction timeout is one hour, above Kafka's
     * (and strata's) transaction.max.timeout.ms of 15 minutes, which would
     * fail InitProducerId with INVALID_TRANSACTION_TIMEOUT. It must also
     * outlast a restart, or the coordinator aborts a transaction that a
     * checkpoint has already promised to commit.
     */
    static final Duration TRANSACTION_TIMEOUT = Duration.ofMinutes(2);

    private Connectors() {}

    /**
     * A source reading {@code topic} from the earliest offset in consumer
     * group {@code group}, committing the group's offsets on every completed
     * checkpoint (the connector's default once a group id is set).
     * {@code stoppingOffsets}, if not null, makes it bounded: the job
     * finishes when every partition reaches its offset there.
     */
    static KafkaSource<Event> source(String bootstrap, String topic, String group, Map<TopicPartition, Long> stoppingOffsets) {
        KafkaSourceBuilder<Event> b = KafkaSource.<Event>builder()
                .setBootstrapServers(bootstrap)
                .setTopics(topic)
                .setGroupId(group)
                .setClientIdPrefix(group)
                .setStartingOffsets(OffsetsInitializer.earliest())
                .setDeserializer(new EventDeserializer())
                .setProperty("commit.offsets.on.checkpoint", "true");
        if (stoppingOffsets != null) {
            b.setBounded(OffsetsInitializer.offsets(stoppingOffsets));
        }
        return b.build();
    }

    /** An at-least-once sink (no transactions): flushes on every checkpoint. */
    static KafkaSink<Result> atLeastOnceSink(String bootstrap, String topic) {
        return KafkaSink.<Result>builder()
                .setBootstrapServers(bootstrap)
                .setRecordSerializer(serializer(topic))
                .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
                .build();
    }

    /**
     * An exactly-once sink: one Kafka transaction per subtask and checkpoint,
     * committed when the checkpoint completes. {@code naming} chooses the
     * transactional ids and how a restarted job finds its predecessor's open
     * transactions to abort them: INCREMENTING ({@code prefix-<subtask>-<checkpoint>},
     * found by InitProducerId on each id in turn) or POOLING (ids reused from
     * a pool, found with DescribeProducers and ListTransactions).
     */
    static KafkaSink<Result> exactlyOnceSink(String bootstrap, String topic, String transactionalIdPrefix,
            TransactionNamingStrategy naming) {
        return KafkaSink.<Result>builder()
                .setBootstrapServers(bootstrap)
                .setRecordSerializer(serializer(topic))
                .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                .setTransactionalIdPrefix(transactionalIdPrefix)
                .setTransactionNamingStrategy(naming)
                .setProperty("transaction.timeout.ms", Long.toString(TRANSACTION_TIMEOUT.toMillis()))
                .build();
    }

    /**
     * Key and value as UTF-8; the record's timestamp is the element's (for
     * a window result, the window's last millisecond), the partition the
     * Kafka producer's default for the key.
     */
    private static KafkaRecordSerializationSchema<Result> serializer(String topic) {
        return KafkaRecordSerializationSchema.<Result>builder()
                .setTopic(topic)
                .setKeySerializationSchema(new KeyBytes())
                .setValueSerializationSchema(new ValueBytes())
                .build();
    }

    /** Classes rather than lambdas: Flink cannot infer a lambda's SerializationSchema type. */
    private static final class KeyBytes implements SerializationSchema<Result> {
        private static final long serialVersionUID = 1L;

        @Override
        public byte[] serialize(Result r) {
            return r.key.getBytes(StandardCharsets.UTF_8);
        }
    }

    private static final class ValueBytes implements SerializationSchema<Result> {
        private static final long serialVersionUID = 1L;

        @Override
        public byte[] serialize(Result r) {
            return r.value.getBytes(StandardCharsets.UTF_8);
        }
    }
}
