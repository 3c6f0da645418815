package io.github.stratalog.interop.streams;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import io.github.stratalog.interop.testing.Wait;

/**
 * A main class of the test sources run in a new JVM with the test JVM's
 * classpath, as interop/tools runs Kafka's tools: a process the test can
 * kill with SIGKILL, as a crash would, without harm to itself.
 *
 * <p>stdout and stderr go to files under {@code target/app-logs/} of the
 * module, kept for reading after a failure. Every child is killed when the
 * test JVM exits, and by {@link #close()}.
 */
final class ChildJvm implements AutoCloseable {
    private static final List<String> JVM_OPTIONS = List.of("-Xmx256m", "-Djava.awt.headless=true");
    private static final int TAIL_CHARS = 4000;
    private static final AtomicInteger SEQUENCE = new AtomicInteger();
    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(Process::destroyForcibly), "kill-child-jvms"));
    }

    private final String name;
    private final Process process;
    private final Path out;
    private final Path err;

    private ChildJvm(String name, Process process, Path out, Path err) {
        this.name = name;
        this.process = process;
        this.out = out;
        this.err = err;
    }

    /** Starts {@code mainClass} with {@code args}. */
    static ChildJvm start(Class<?> mainClass, String... args) throws IOException {
        Path dir = Files.createDirectories(Path.of(System.getProperty("basedir", "."), "target", "app-logs"));
        String name = String.format("%03d-%s", SEQUENCE.incrementAndGet(), mainClass.getSimpleName());
        Path out = dir.resolve(name + ".out");
        Path err = dir.resolve(name + ".err");
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(JVM_OPTIONS);
        // Surefire sets java.class.path to the whole test classpath: Kafka
        // Streams, this module's classes and its simplelogger.properties.
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass.getName()));
        command.addAll(Arrays.asList(args));
        Process p = new ProcessBuilder(command)
                .redirectOutput(out.toFile())
                .redirectError(err.toFile())
                .start();
        // An empty stdin: nothing in the child waits on the test JVM.
        p.getOutputStream().close();
        LIVE.add(p);
        p.onExit().thenRun(() -> LIVE.remove(p));
        return new ChildJvm(name, p, out, err);
    }

    /** Waits until the child has printed {@code line} to stdout; fails at once if it exits first. */
    void awaitLine(String line, Duration timeout) throws InterruptedException {
        Wait.until(timeout, name + " to print \"" + line + "\"", () -> {
            if (Files.readAllLines(out, StandardCharsets.UTF_8).contains(line)) {
                return true;
            }
            assertRunning();
            return false;
        });
    }

    /** Fails, with the child's output, if it has exited. */
    void assertRunning() {
        if (!process.isAlive()) {
            try {
                throw new AssertionError(describe("exited " + process.exitValue() + " while it should be running"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** SIGKILL, as a crash would; waits for the process to be gone. */
    void kill() throws InterruptedException {
        process.toHandle().destroyForcibly();
        process.waitFor();
    }

    /**
     * Freezes (SIGSTOP) or thaws (SIGCONT) the process: between the two,
     * what it has written stays as it is, so a test can look at it and
     * decide to kill it in exactly that state. Linux and macOS only (kill(1)).
     */
    void signal(String signal) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).redirectErrorStream(true).start();
        if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
            kill.destroyForcibly();
            throw new AssertionError("kill -" + signal + " " + process.pid() + " failed: "
                    + new String(kill.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    /**
     * SIGTERM, on which the child's shutdown hook closes the application,
     * then waits up to {@code timeout} for the exit and returns its code.
     */
    int stop(Duration timeout) throws InterruptedException, IOException {
        process.toHandle().destroy();
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly().waitFor();
            throw new AssertionError(describe("did not exit within " + timeout + " of SIGTERM; killed it"));
        }
        return process.exitValue();
    }

    /** For failure messages: the child's name, {@code what}, and the ends of its stdout and stderr. */
    String describe(String what) throws IOException {
        return name + " " + what + "\nstdout (" + out + "):\n" + tail(out) + "\nstderr (" + err + "):\n" + tail(err);
    }

    private static String tail(Path p) throws IOException {
        String s = Files.exists(p) ? Files.readString(p, StandardCharsets.UTF_8) : "";
        return s.length() <= TAIL_CHARS ? s : "..." + s.substring(s.length() - TAIL_CHARS);
    }

    /**
     * Kills the process if it is still running and waits (briefly) for it
     * to be gone, so that its files, such as a state directory, can be
     * deleted after.
     */
    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
