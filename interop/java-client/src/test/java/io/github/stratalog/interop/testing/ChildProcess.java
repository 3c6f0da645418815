package io.github.stratalog.interop.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A process the suites start (strata, nats-server): its output (stdout and
 * stderr merged) goes to a log file, the last lines are kept for error
 * messages, and the first line matching a pattern is reported as "ready".
 *
 * <p>Every child is destroyed forcibly when the JVM exits, so an aborted test
 * run leaves no process behind (short of a SIGKILL of the JVM itself).
 */
final class ChildProcess {
    private static final int TAIL_LINES = 60;
    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(Process::destroyForcibly), "kill-children"));
    }

    private final String name;
    private final Process process;
    private final Path logFile;
    private final ArrayDeque<String> tail = new ArrayDeque<>();
    private final CompletableFuture<Matcher> ready = new CompletableFuture<>();
    private final Thread drainer;

    private ChildProcess(String name, Process process, Path logFile, Pattern readyLine) {
        this.name = name;
        this.process = process;
        this.logFile = logFile;
        this.drainer = new Thread(() -> drain(readyLine), "log-" + name);
        this.drainer.setDaemon(true);
        this.drainer.start();
    }

    /**
     * Starts {@code command}, logging to {@code logFile}. {@code readyLine},
     * if not null, is the pattern of the line that {@link #awaitReady} waits for.
     */
    static ChildProcess start(String name, List<String> command, Path logFile, Pattern readyLine) throws IOException {
        return start(name, command, Map.of(), logFile, readyLine);
    }

    /** As {@link #start(String, List, Path, Pattern)}, with {@code env} added to the environment. */
    static ChildProcess start(String name, List<String> command, Map<String, String> env, Path logFile, Pattern readyLine)
            throws IOException {
        Files.createDirectories(logFile.getParent());
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        LIVE.add(p);
        p.onExit().thenRun(() -> LIVE.remove(p));
        return new ChildProcess(name, p, logFile, readyLine);
    }

    private void drain(Pattern readyLine) {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
                Writer out = Files.newBufferedWriter(logFile, StandardCharsets.UTF_8)) {
            String line;
            while ((line = in.readLine()) != null) {
                out.write(line);
                out.write('\n');
                out.flush();
                synchronized (tail) {
                    tail.addLast(line);
                    if (tail.size() > TAIL_LINES) {
                        tail.removeFirst();
                    }
                }
                if (readyLine != null && !ready.isDone()) {
                    Matcher m = readyLine.matcher(line);
                    if (m.find()) {
                        ready.complete(m);
                    }
                }
            }
        } catch (IOException e) {
            // The process's output closed under us: it is gone, which the
            // completion below reports.
        }
        ready.completeExceptionally(new IllegalStateException(name + " exited before it was ready" + describeExit()));
    }

    private String describeExit() {
        try {
            return " (exit code " + process.waitFor() + ")";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }

    /** Waits for the ready line and returns its match; fails with the log's tail. */
    Matcher awaitReady(Duration timeout) throws InterruptedException {
        try {
            return ready.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause().getMessage() + "; last lines of " + logFile + ":\n" + tail(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException(name + " not ready after " + timeout + "; last lines of " + logFile + ":\n" + tail(), e);
        }
    }

    /**
     * Sends SIGTERM, waits up to {@code grace}, then SIGKILL; returns the exit
     * code. The signals go through the ProcessHandle because Process.destroy
     * also closes our end of the output pipe, losing what the process logs
     * while it shuts down.
     */
    int stop(Duration grace) throws InterruptedException {
        process.toHandle().destroy();
        if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly();
            process.waitFor();
            throw new IllegalStateException(name + " did not exit within " + grace + " of SIGTERM; killed it. Last lines:\n" + tail());
        }
        awaitDrained();
        return process.exitValue();
    }

    /** SIGKILL, and waits for the process to be gone. */
    void kill() throws InterruptedException {
        process.toHandle().destroyForcibly();
        process.waitFor();
        awaitDrained();
    }

    private void awaitDrained() throws InterruptedException {
        drainer.join(Duration.ofSeconds(5).toMillis());
    }

    /** SIGKILL without waiting. */
    void destroyForcibly() {
        process.destroyForcibly();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    long pid() {
        return process.pid();
    }

    String name() {
        return name;
    }

    Path logFile() {
        return logFile;
    }

    /** The last lines of output, for error messages. */
    String tail() {
        synchronized (tail) {
            return String.join("\n", tail);
        }
    }
}
