package io.github.stratalog.interop.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.github.stratalog.interop.testing.StrataExtension;
import io.github.stratalog.interop.testing.TopicReader;
import io.github.stratalog.interop.testing.Wait;

/**
 * A Flink event-time job on strata, unchanged: KafkaSource reads a
 * two-partition topic in a consumer group, its records produced with
 * explicit timestamps, a little out of order; watermarks with bounded
 * out-of-orderness close ten-second tumbling windows per key; KafkaSink
 * writes each window's count and sum back to strata.
 *
 * <p>Proves that the output holds every window of the input exactly as the
 * test computes it (so record timestamps survived the round trip, and no
 * window fired early or twice), that each result carries the window's last
 * millisecond as its timestamp, and that the source's consumer group
 * committed offsets on checkpoints up to the end of the input, as the Admin
 * client lists them.
 */
class EventTimeWindowTest {
    private static final Duration WINDOW = Duration.ofSeconds(10);
    private static final Duration OUT_OF_ORDERNESS = Duration.ofSeconds(3);
    private static final Duration TIMEOUT = Duration.ofSeconds(90);
    private static final int PARTITIONS = 2;
    private static final int READINGS = 1200;
    private static final int SENSORS = 6;
    /** A whole number of windows since the epoch, so windows start on round numbers. */
    private static final long START = 1_700_000_000_000L;

    // Before the MiniCluster, so that strata outlives it (see StrataExtension).
    @RegisterExtension
    @Order(1)
    static final StrataExtension STRATA = new StrataExtension();

    @RegisterExtension
    @Order(2)
    static final MiniClusterExtension FLINK = MiniClusters.small();

    @Test
    void tumblingWindowResultsMatchTheInputAndOffsetsAreCommitted() throws Exception {
        String bootstrap = STRATA.bootstrapServers();
        Admin admin = STRATA.admin();
        String input = "sensor-readings";
        String output = "window-totals";
        String group = "flink-window-job";
        Topics.create(admin, input, PARTITIONS);
        Topics.create(admin, output, PARTITIONS);

        List<ProducerRecord<String, String>> readings = readings(input);
        Map<String, String> expected = windowTotals(readings);
        Topics.produce(bootstrap, readings);
        Topics.produce(bootstrap, watermarkAdvancers(input, readings));

        StreamExecutionEnvironment env = MiniClusters.environment(MiniClusters.noRestarts(), MiniClusters.CHECKPOINT_INTERVAL);
        env.fromSource(Connectors.source(bootstrap, input, group, null),
                        WatermarkStrategy.<Event>forBoundedOutOfOrderness(OUT_OF_ORDERNESS), "sensor readings")
                .keyBy(e -> e.key)
                .window(TumblingEventTimeWindows.of(WINDOW))
                .aggregate(new CountAndSum(), new EmitTotal())
                .sinkTo(Connectors.atLeastOnceSink(bootstrap, output));

        JobClient job = env.executeAsync("event-time windows");
        Set<TopicPartition> outputPartitions = Topics.partitions(output, PARTITIONS);
        try (OutputWatcher watcher = new OutputWatcher(bootstrap, outputPartitions, IsolationLevel.READ_UNCOMMITTED)) {
            watcher.awaitAtLeast(expected.size(), TIMEOUT, job);

            // The source commits the offsets of each completed checkpoint from
            // its fetcher thread, between polls; with the input all read, a
            // poll waits out the connector's fixed 10 s timeout first.
            Set<TopicPartition> inputPartitions = Topics.partitions(input, PARTITIONS);
            Map<TopicPartition, Long> end = Topics.endOffsets(bootstrap, inputPartitions, IsolationLevel.READ_UNCOMMITTED);
            Wait.until(TIMEOUT, "group " + group + " to commit " + end, () -> {
                Jobs.assertNotFailed(job);
                return Topics.committedOffsets(admin, group).equals(end);
            });
        } finally {
            Jobs.cancel(job);
        }

        List<ConsumerRecord<String, String>> results =
                TopicReader.readAll(bootstrap, output, IsolationLevel.READ_UNCOMMITTED, TIMEOUT);
        Map<String, String> actual = new HashMap<>();
        for (ConsumerRecord<String, String> r : results) {
            String[] startCountSum = r.value().split(",", 2);
            long windowStart = Long.parseLong(startCountSum[0]);
            assertEquals(windowStart + WINDOW.toMillis() - 1, r.timestamp(), "timestamp of " + r);
            String previous = actual.put(r.key() + "@" + windowStart, startCountSum[1]);
            assertNull(previous, "window " + r.key() + "@" + windowStart + " emitted twice");
        }
        assertEquals(expected, actual);
    }

    /**
     * Readings 50 ms apart in event time, each moved back by up to 2 s (less
     * than the out-of-orderness bound, so none is late and dropped), for six
     * sensors; the key picks the partition, as a user's producer does.
     */
    private static List<ProducerRecord<String, String>> readings(String topic) {
        Random random = new Random(42);
        List<ProducerRecord<String, String>> out = new ArrayList<>();
        for (int i = 0; i < READINGS; i++) {
            long timestamp = START + i * 50L - random.nextInt(2000);
            String sensor = "sensor-" + random.nextInt(SENSORS);
            out.add(new ProducerRecord<>(topic, null, timestamp, sensor, Integer.toString(random.nextInt(100))));
        }
        return out;
    }

    /**
     * One later reading in each partition, a minute after the last: the
     * watermark is the minimum over both partitions, so each needs one to
     * pass the end of every window of the readings. Its own window stays
     * open, so it is in no result.
     */
    private static List<ProducerRecord<String, String>> watermarkAdvancers(String topic,
            List<ProducerRecord<String, String>> readings) {
        long last = readings.stream().mapToLong(ProducerRecord::timestamp).max().orElseThrow();
        List<ProducerRecord<String, String>> out = new ArrayList<>();
        for (int p = 0; p < PARTITIONS; p++) {
            out.add(new ProducerRecord<>(topic, p, last + 60_000, "sensor-0", "0"));
        }
        return out;
    }

    /** What the job must compute: "sensor@windowStart" to "count,sum". */
    private static Map<String, String> windowTotals(List<ProducerRecord<String, String>> readings) {
        Map<String, long[]> totals = new HashMap<>();
        for (ProducerRecord<String, String> r : readings) {
            long windowStart = TimeWindow.getWindowStartWithOffset(r.timestamp(), 0, WINDOW.toMillis());
            long[] t = totals.computeIfAbsent(r.key() + "@" + windowStart, k -> new long[2]);
            t[0]++;
            t[1] += Long.parseLong(r.value());
        }
        Map<String, String> out = new HashMap<>();
        totals.forEach((k, t) -> out.put(k, t[0] + "," + t[1]));
        return out;
    }

    /** Count and sum of a window's readings, kept incrementally. */
    static final class CountAndSum implements AggregateFunction<Event, long[], long[]> {
        private static final long serialVersionUID = 1L;

        @Override
        public long[] createAccumulator() {
            return new long[2];
        }

        @Override
        public long[] add(Event e, long[] acc) {
            acc[0]++;
            acc[1] += e.value;
            return acc;
        }

        @Override
        public long[] getResult(long[] acc) {
            return acc;
        }

        @Override
        public long[] merge(long[] a, long[] b) {
            return new long[] {a[0] + b[0], a[1] + b[1]};
        }
    }

    /** Emits "windowStart,count,sum" under the sensor's key. */
    static final class EmitTotal extends ProcessWindowFunction<long[], Result, String, TimeWindow> {
        private static final long serialVersionUID = 1L;

        @Override
        public void process(String sensor, Context context, Iterable<long[]> totals, Collector<Result> out) {
            long[] t = totals.iterator().next();
            out.collect(new Result(sensor, context.window().getStart() + "," + t[0] + "," + t[1]));
        }
    }
}
