package io.github.stratalog.interop.flink;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.connector.kafka.sink.TransactionNamingStrategy;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * The exactly-once suites' job and its input and expected output: KafkaSource
 * → running count per key ({@link RunningCount}) → optionally
 * {@link FailOnce} → exactly-once KafkaSink. Input record i has value i
 * under key "k(i mod 8)"; its result is "i:n" under the same key, n being
 * the key's count so far.
 */
final class CountingJob {
    /** Partitions of the input and output topics. */
    static final int PARTITIONS = 2;
    private static final int KEYS = 8;

    private CountingJob() {}

    /**
     * Adds the job to {@code env}. Operators carry uids so that a savepoint
     * maps onto a new job; {@code stoppingOffsets} null makes the source
     * unbounded, {@code failOnce} null leaves failure injection out.
     */
    static void build(StreamExecutionEnvironment env, String bootstrap, String input, String output, String group,
            String transactionalIdPrefix, TransactionNamingStrategy naming, Map<TopicPartition, Long> stoppingOffsets,
            FailOnce failOnce) {
        DataStream<Result> counted = env.fromSource(Connectors.source(bootstrap, input, group, stoppingOffsets),
                        WatermarkStrategy.noWatermarks(), "input")
                .uid("input")
                .keyBy(e -> e.key)
                .process(new RunningCount())
                .uid("running-count");
        if (failOnce != null) {
            counted = counted.map(failOnce).uid("fail-once");
        }
        counted.sinkTo(Connectors.exactlyOnceSink(bootstrap, output, transactionalIdPrefix, naming)).uid("output");
    }

    /**
     * Input records {@code from} to {@code to} (exclusive), each key in a
     * fixed partition, so that a test knows every partition's end offset in
     * advance.
     */
    static List<ProducerRecord<String, String>> input(String topic, int from, int to) {
        List<ProducerRecord<String, String>> out = new ArrayList<>();
        for (int i = from; i < to; i++) {
            int key = i % KEYS;
            out.add(new ProducerRecord<>(topic, key % PARTITIONS, "k" + key, Integer.toString(i)));
        }
        return out;
    }

    /** Where a bounded source stops: the end of the first {@code total} input records. */
    static Map<TopicPartition, Long> stoppingOffsets(String topic, int total) {
        Map<TopicPartition, Long> out = new HashMap<>();
        for (int i = 0; i < total; i++) {
            out.merge(new TopicPartition(topic, (i % KEYS) % PARTITIONS), 1L, Long::sum);
        }
        return out;
    }

    /** For each key, "i:n" for its n-th input record among the first {@code total}. */
    static Map<String, List<String>> expectedPerKey(int total) {
        Map<String, List<String>> out = new LinkedHashMap<>();
        for (int i = 0; i < total; i++) {
            List<String> results = out.computeIfAbsent("k" + (i % KEYS), k -> new ArrayList<>());
            results.add(i + ":" + (results.size() + 1));
        }
        return out;
    }

    /** The values of each key in the order read (offset order within a partition). */
    static Map<String, List<String>> perKey(List<ConsumerRecord<String, String>> records) {
        Map<String, List<String>> out = new LinkedHashMap<>();
        records.forEach(r -> out.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(r.value()));
        return out;
    }
}
