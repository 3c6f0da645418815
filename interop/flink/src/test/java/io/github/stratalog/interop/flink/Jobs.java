package io.github.stratalog.interop.flink;

import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.flink.api.common.JobStatus;
import org.apache.flink.core.execution.JobClient;

/** Waiting on a Flink job submitted with executeAsync, bounded in time. */
final class Jobs {
    private static final Duration STATUS_TIMEOUT = Duration.ofSeconds(10);

    private Jobs() {}

    /**
     * Fails with the job's own failure if it has ended other than by
     * finishing; a condition for {@link io.github.stratalog.interop.testing.Wait}
     * loops, so that a failed job ends the wait at once.
     */
    static void assertNotFailed(JobClient job) throws Exception {
        JobStatus status = job.getJobStatus().get(STATUS_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        if (status == JobStatus.FAILED || status == JobStatus.CANCELED) {
            throw new AssertionError("job " + job.getJobID() + " is " + status, failure(job));
        }
    }

    /** Waits for the job to finish (a bounded source reached its end) and fails with its failure if it did not. */
    static void awaitFinished(JobClient job, Duration timeout) throws Exception {
        try {
            job.getJobExecutionResult().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new AssertionError("job " + job.getJobID() + " failed", e.getCause());
        } catch (TimeoutException e) {
            throw new AssertionError("job " + job.getJobID() + " did not finish within " + timeout + " (status "
                    + job.getJobStatus().get(STATUS_TIMEOUT.toSeconds(), TimeUnit.SECONDS) + ")", e);
        }
    }

    /**
     * Cancels the job unless it has already ended; for cleanup in a finally
     * block, so it reports a failure to cancel on stderr rather than throw
     * over the test's own outcome (the MiniCluster stops any job left
     * running when the class ends).
     */
    static void cancel(JobClient job) {
        if (job == null) {
            return;
        }
        try {
            JobStatus status = job.getJobStatus().get(STATUS_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            if (!status.isGloballyTerminalState()) {
                job.cancel().get(STATUS_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            System.err.println("cancelling job " + job.getJobID() + ": " + e);
        }
    }

    private static Throwable failure(JobClient job) {
        try {
            job.getJobExecutionResult().get(STATUS_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            return null;
        } catch (ExecutionException e) {
            return e.getCause();
        } catch (Exception e) {
            return e;
        }
    }
}
