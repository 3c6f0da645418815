package io.github.stratalog.interop.flink;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;

import io.github.stratalog.interop.testing.KafkaClients;
import io.github.stratalog.interop.testing.Wait;

/** The test's side of the Kafka protocol: topics, input, and checks through the Admin client. */
final class Topics {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private Topics() {}

    static void create(Admin admin, String topic, int partitions) throws Exception {
        admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }

    /** Produces {@code records} in order and waits until every one is acknowledged. */
    static void produce(String bootstrap, List<ProducerRecord<String, String>> records) {
        try (KafkaProducer<String, String> p = KafkaClients.producer(bootstrap, Map.of())) {
            records.forEach(p::send);
            p.flush();
        }
    }

    /** The partitions 0..n-1 of {@code topic}. */
    static Set<TopicPartition> partitions(String topic, int n) {
        return IntStream.range(0, n).mapToObj(p -> new TopicPartition(topic, p)).collect(Collectors.toSet());
    }

    /** End offsets of {@code partitions}: the high watermarks, or the last stable offsets for read_committed. */
    static Map<TopicPartition, Long> endOffsets(String bootstrap, Set<TopicPartition> partitions, IsolationLevel isolation) {
        Map<String, Object> overrides = Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation.name().toLowerCase(Locale.ROOT));
        try (KafkaConsumer<String, String> c = KafkaClients.consumer(bootstrap, null, overrides)) {
            return c.endOffsets(partitions, TIMEOUT);
        }
    }

    /** The offsets {@code group} has committed, as the Admin client lists them. */
    static Map<TopicPartition, Long> committedOffsets(Admin admin, String group) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group)
                .partitionsToOffsetAndMetadata().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        Map<TopicPartition, Long> out = new HashMap<>();
        committed.forEach((tp, om) -> {
            if (om != null) {
                out.put(tp, om.offset());
            }
        });
        return out;
    }

    /**
     * Waits until no transaction whose id starts with {@code prefix} is open
     * (ongoing, or ended but with its markers not yet written) and the last
     * stable offset of every partition of the output has caught up with its
     * high watermark: nothing a sink wrote is left hanging, invisible to
     * read_committed consumers and holding back those behind it.
     */
    static void awaitNoOpenTransactions(Admin admin, String bootstrap, Set<TopicPartition> output, String prefix)
            throws InterruptedException {
        Set<TransactionState> open =
                Set.of(TransactionState.ONGOING, TransactionState.PREPARE_COMMIT, TransactionState.PREPARE_ABORT);
        Wait.until(TIMEOUT, "no open transactions of " + prefix + "* and LSO = HW on " + output, () -> {
            List<TransactionListing> listed = List.copyOf(admin.listTransactions(new ListTransactionsOptions().filterStates(open))
                    .all().get(TIMEOUT.toSeconds(), TimeUnit.SECONDS));
            boolean none = listed.stream().noneMatch(t -> t.transactionalId().startsWith(prefix));
            return none && endOffsets(bootstrap, output, IsolationLevel.READ_COMMITTED)
                    .equals(endOffsets(bootstrap, output, IsolationLevel.READ_UNCOMMITTED));
        });
    }
}
