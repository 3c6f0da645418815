package io.github.stratalog.interop.flink;

import java.time.Duration;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;

/** The Flink cluster each test class runs its jobs on, and the settings its jobs share. */
final class MiniClusters {
    /** The parallelism of every job: two subtasks share the two partitions of each topic. */
    static final int PARALLELISM = 2;
    static final Duration CHECKPOINT_INTERVAL = Duration.ofMillis(500);

    private MiniClusters() {}

    /**
     * One task manager in the test JVM with four slots: room for one job of
     * parallelism 2 and the next one starting while the last one's slots are
     * released. Small, since its start counts against the suite's time.
     */
    static MiniClusterExtension small() {
        return new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
                .setNumberTaskManagers(1)
                .setNumberSlotsPerTaskManager(4)
                .setConfiguration(new Configuration())
                .build());
    }

    /**
     * An environment on the class's MiniCluster (MiniClusterExtension makes
     * it the context environment) with {@code conf}, parallelism 2 and
     * checkpoints every {@code checkpointInterval}.
     */
    static StreamExecutionEnvironment environment(Configuration conf, Duration checkpointInterval) {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(PARALLELISM);
        env.enableCheckpointing(checkpointInterval.toMillis());
        return env;
    }

    /**
     * No restarts: with checkpointing on, Flink would otherwise restart a
     * failing job without end, hiding the failure until the test times out.
     */
    static Configuration noRestarts() {
        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "disable");
        return conf;
    }

    /** Up to {@code attempts} restarts, {@code delay} apart, each from the last completed checkpoint. */
    static Configuration fixedDelayRestarts(int attempts, Duration delay) {
        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, attempts);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, delay);
        return conf;
    }
}
