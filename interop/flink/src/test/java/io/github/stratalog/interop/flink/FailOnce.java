package io.github.stratalog.interop.flink;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.flink.api.common.functions.MapFunction;

/**
 * Passes results through, and throws once, in the whole test JVM, when the
 * job has passed more than {@code failAfter} of them: a task failure in the
 * middle of the stream, between two checkpoints.
 *
 * <p>The counters are static because the MiniCluster runs the job's tasks
 * in this JVM, and they must outlive the failed attempt's task (its own
 * fields are restored from the job graph, not kept); {@link #reset} before
 * each job.
 */
final class FailOnce implements MapFunction<Result, Result> {
    private static final long serialVersionUID = 1L;
    private static final AtomicLong PASSED = new AtomicLong();
    private static final AtomicInteger FAILURES = new AtomicInteger();

    private final long failAfter;

    FailOnce(long failAfter) {
        this.failAfter = failAfter;
    }

    static void reset() {
        PASSED.set(0);
        FAILURES.set(0);
    }

    /** How many times a FailOnce has thrown since the last reset. */
    static int failures() {
        return FAILURES.get();
    }

    @Override
    public Result map(Result r) {
        if (PASSED.incrementAndGet() > failAfter && FAILURES.compareAndSet(0, 1)) {
            throw new IllegalStateException("FailOnce: the injected failure, after " + failAfter + " results");
        }
        return r;
    }
}
