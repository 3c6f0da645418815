package io.github.stratalog.interop.tools;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Kafka's command-line tools, each run the way its {@code bin/kafka-*.sh}
 * script runs it: the tool's main class in a new JVM, here {@code java -cp
 * <the test JVM's classpath> <main class> <args>}.
 *
 * <p>A child JVM rather than a call to {@code main} in the test JVM: the
 * tools end with {@code Exit.exit} (System.exit), print to System.out, keep
 * static state (ConsoleConsumer's message count) and install shutdown hooks,
 * and some never return when something goes wrong; a child process gives
 * each run its own exit code, stdout and stderr, and a deadline at which it
 * is killed (after a thread dump, {@code jstack}, is taken for the failure
 * message) without harm to the test JVM.
 *
 * <p>stdout and stderr go to files under {@code target/tool-logs/} of the
 * module, kept for reading after a failure; stdin is a file too, empty
 * unless given, so that no tool waits on the test JVM.
 *
 * <pre>{@code
 * KafkaTool.TOPICS.run(Duration.ofSeconds(60), "--bootstrap-server", bootstrap, "--list").assertSuccess();
 * }</pre>
 */
enum KafkaTool {
    TOPICS("kafka-topics.sh", "org.apache.kafka.tools.TopicCommand"),
    CONFIGS("kafka-configs.sh", "org.apache.kafka.tools.ConfigCommand"),
    ACLS("kafka-acls.sh", "org.apache.kafka.tools.AclCommand"),
    CONSOLE_PRODUCER("kafka-console-producer.sh", "org.apache.kafka.tools.ConsoleProducer"),
    CONSOLE_CONSUMER("kafka-console-consumer.sh", "org.apache.kafka.tools.consumer.ConsoleConsumer"),
    CONSUMER_GROUPS("kafka-consumer-groups.sh", "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"),
    PRODUCER_PERF_TEST("kafka-producer-perf-test.sh", "org.apache.kafka.tools.ProducerPerformance"),
    CONSUMER_PERF_TEST("kafka-consumer-perf-test.sh", "org.apache.kafka.tools.ConsumerPerformance"),
    DELETE_RECORDS("kafka-delete-records.sh", "org.apache.kafka.tools.DeleteRecordsCommand"),
    GET_OFFSETS("kafka-get-offsets.sh", "org.apache.kafka.tools.GetOffsetShell"),
    VERIFIABLE_PRODUCER("kafka-verifiable-producer.sh", "org.apache.kafka.tools.VerifiableProducer"),
    VERIFIABLE_CONSUMER("kafka-verifiable-consumer.sh", "org.apache.kafka.tools.VerifiableConsumer");

    /**
     * A heap as kafka-run-class.sh's default KAFKA_HEAP_OPTS (-Xmx256M), with
     * room for the perf tests; and an English locale, so that the numbers
     * the tools print (String.format) parse the same on any machine.
     */
    private static final List<String> JVM_OPTIONS = List.of("-Xmx512m", "-Djava.awt.headless=true",
            "-Duser.language=en", "-Duser.country=US");
    private static final Duration JSTACK_TIMEOUT = Duration.ofSeconds(20);
    private static final int TAIL_CHARS = 4000;
    private static final AtomicInteger SEQUENCE = new AtomicInteger();
    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

    static {
        // A test JVM that exits (a surefire timeout, say) takes its tools with it.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(Process::destroyForcibly), "kill-kafka-tools"));
    }

    private final String script;
    private final String mainClass;

    KafkaTool(String script, String mainClass) {
        this.script = script;
        this.mainClass = mainClass;
    }

    /** Runs the tool with {@code args} and an empty stdin; see {@link #runWithInput}. */
    Run run(Duration timeout, String... args) throws IOException, InterruptedException {
        return runWithInput(timeout, "", args);
    }

    /**
     * Runs the tool with {@code args}, {@code stdin} as its standard input,
     * and waits for it to exit. A tool still running after {@code timeout}
     * is killed and the call fails with its thread dump and output.
     */
    Run runWithInput(Duration timeout, String stdin, String... args) throws IOException, InterruptedException {
        try (Started s = startWithInput(stdin, args)) {
            return s.awaitExit(timeout);
        }
    }

    /** Starts the tool with {@code args} and an empty stdin, and returns at once. */
    Started start(String... args) throws IOException {
        return startWithInput("", args);
    }

    private Started startWithInput(String stdin, String... args) throws IOException {
        Path dir = Path.of(System.getProperty("basedir", "."), "target", "tool-logs");
        Files.createDirectories(dir);
        String name = String.format("%03d-%s", SEQUENCE.incrementAndGet(), script.replace(".sh", ""));
        Path in = Files.writeString(dir.resolve(name + ".in"), stdin, StandardCharsets.UTF_8);
        Path out = dir.resolve(name + ".out");
        Path err = dir.resolve(name + ".err");

        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(JVM_OPTIONS);
        // Surefire sets java.class.path to the whole test classpath (even
        // when it starts the JVM from a manifest-only jar): kafka-tools and
        // its dependencies, and this module's simplelogger.properties first.
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
        command.addAll(Arrays.asList(args));
        Process p = new ProcessBuilder(command)
                .redirectInput(in.toFile())
                .redirectOutput(out.toFile())
                .redirectError(err.toFile())
                .start();
        LIVE.add(p);
        p.onExit().thenRun(() -> LIVE.remove(p));
        return new Started(script + " " + String.join(" ", args), p, out, err, System.nanoTime());
    }

    /** A tool process; closing it kills the process if it is still running. */
    static final class Started implements AutoCloseable {
        private final String commandLine;
        private final Process process;
        private final Path out;
        private final Path err;
        private final long startNanos;

        private Started(String commandLine, Process process, Path out, Path err, long startNanos) {
            this.commandLine = commandLine;
            this.process = process;
            this.out = out;
            this.err = err;
            this.startNanos = startNanos;
        }

        /** What the tool has printed to stdout so far, one entry per complete line. */
        List<String> stdoutLines() throws IOException {
            String s = Files.readString(out, StandardCharsets.UTF_8);
            int end = s.lastIndexOf('\n');
            return end < 0 ? List.of() : List.of(s.substring(0, end).split("\n", -1));
        }

        /**
         * Fails, with the tool's output, if it has exited: for conditions
         * polled while it should be running, which would otherwise wait out
         * their timeout.
         */
        void assertRunning() throws IOException, InterruptedException {
            if (!process.isAlive()) {
                throw new AssertionError(awaitExit(Duration.ZERO).describe("exited while it should be running"));
            }
        }

        /**
         * Waits for the tool to exit; if it has not within {@code timeout},
         * takes a thread dump, kills it, and fails with both and its output.
         */
        Run awaitExit(Duration timeout) throws IOException, InterruptedException {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                String dump = threadDump();
                process.destroyForcibly().waitFor();
                throw new AssertionError(commandLine + "\ndid not exit within " + timeout + "; killed it. Thread dump:\n"
                        + dump + "\nstdout (" + out + "):\n" + tail(read(out)) + "\nstderr (" + err + "):\n" + tail(read(err)));
            }
            Duration elapsed = Duration.ofNanos(System.nanoTime() - startNanos);
            // Into the test's output (target/surefire-reports/*-output.txt).
            System.out.printf(Locale.ROOT, "%.1fs exit %d: %s%n", elapsed.toMillis() / 1000.0, process.exitValue(), commandLine);
            return new Run(commandLine, process.exitValue(), read(out), read(err), elapsed);
        }

        /**
         * Stops the tool as Ctrl-C would: SIGTERM, on which the tools'
         * shutdown hooks close their clients (a consumer leaves its group),
         * then waits for the exit as {@link #awaitExit} does. The JVM exits
         * 143 (128 + SIGTERM) unless a hook exits otherwise.
         */
        Run stop(Duration timeout) throws IOException, InterruptedException {
            process.destroy();
            return awaitExit(timeout);
        }

        private String threadDump() throws IOException, InterruptedException {
            Path jstack = Path.of(System.getProperty("java.home"), "bin", "jstack");
            if (!Files.isExecutable(jstack)) {
                return "(no jstack in " + jstack.getParent() + ")";
            }
            Path dump = Path.of(out.toString().replaceFirst("\\.out$", ".jstack"));
            Process j = new ProcessBuilder(jstack.toString(), Long.toString(process.pid()))
                    .redirectErrorStream(true).redirectOutput(dump.toFile()).start();
            if (!j.waitFor(JSTACK_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                j.destroyForcibly();
                return "(jstack did not finish within " + JSTACK_TIMEOUT + ")";
            }
            return read(dump);
        }

        @Override
        public void close() {
            if (process.isAlive()) {
                process.destroyForcibly();
            }
        }
    }

    /** A finished run: exit code, whole stdout and stderr, and how long it took. */
    record Run(String commandLine, int exitCode, String stdout, String stderr, Duration elapsed) {
        /** Fails, showing the output, unless the tool exited 0. */
        Run assertSuccess() {
            if (exitCode != 0) {
                throw new AssertionError(describe("exited " + exitCode));
            }
            return this;
        }

        /** stdout's lines, without blank ones. */
        List<String> lines() {
            return stdout.lines().filter(l -> !l.isBlank()).toList();
        }

        /** For failure messages: the command line, {@code what}, and the ends of stdout and stderr. */
        String describe(String what) {
            return commandLine + "\n" + what + "\nstdout:\n" + tail(stdout) + "\nstderr:\n" + tail(stderr);
        }
    }

    private static String read(Path p) throws IOException {
        return Files.exists(p) ? Files.readString(p, StandardCharsets.UTF_8) : "";
    }

    private static String tail(String s) {
        return s.length() <= TAIL_CHARS ? s : "..." + s.substring(s.length() - TAIL_CHARS);
    }
}
