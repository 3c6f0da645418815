package io.github.stratalog.interop.testing;

import java.time.Duration;

/**
 * Bounded polling: the only way the suites wait for something to happen (no
 * sleeps for synchronisation), like internal/testenv's CheckFor.
 */
public final class Wait {
    private static final Duration INTERVAL = Duration.ofMillis(50);

    private Wait() {}

    /** A condition to poll; an exception counts as "not yet" and is kept as the cause. */
    @FunctionalInterface
    public interface Condition {
        boolean holds() throws Exception;
    }

    /**
     * Polls {@code condition} every 50 ms until it holds, and fails with an
     * AssertionError naming {@code what} (and the last exception it threw)
     * once {@code timeout} has passed.
     */
    public static void until(Duration timeout, String what, Condition condition) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        Exception last = null;
        while (true) {
            try {
                if (condition.holds()) {
                    return;
                }
                last = null;
            } catch (InterruptedException e) {
                throw e;
            } catch (Exception e) {
                last = e;
            }
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("timed out after " + timeout + " waiting for " + what, last);
            }
            Thread.sleep(INTERVAL.toMillis());
        }
    }
}
