package io.github.stratalog.interop.connect;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import io.github.stratalog.interop.testing.Wait;

/**
 * A throwaway PostgreSQL server for CDC tests: {@code initdb} into a new
 * temporary directory, then {@code postgres} on a free loopback port with
 * {@code wal_level=logical}, trust authentication for the superuser
 * {@code postgres}, and fsync off (the directory is deleted at close).
 *
 * <p>The binaries are Debian's (package postgresql-15, or any
 * postgresql-NN): the directory {@code pg_config --bindir} names, else the
 * newest {@code /usr/lib/postgresql/NN/bin}. PostgreSQL refuses to run as
 * root, so when this JVM runs as root both commands run as the {@code
 * postgres} user through {@code runuser}, in a directory owned by it.
 */
final class PostgresServer implements AutoCloseable {
    static final String DEBIAN_PACKAGE = "postgresql-15";
    private static final Duration START_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(30);
    private static final String OS_USER = "postgres";

    private final Path dir;
    private final Path bin;
    private final Process postgres;
    private final int port;
    private final Path log;

    private PostgresServer(Path dir, Path bin, Process postgres, int port, Path log) {
        this.dir = dir;
        this.bin = bin;
        this.postgres = postgres;
        this.port = port;
        this.log = log;
    }

    static PostgresServer start() throws IOException, InterruptedException {
        Path bin = binDir();
        Path dir = Files.createTempDirectory("strata-interop-pg-");
        try {
            boolean root = "root".equals(System.getProperty("user.name"));
            if (root) {
                chown(dir, OS_USER);
            }
            Path data = dir.resolve("data");
            Path log = Path.of(System.getProperty("basedir", "."), "target", "postgres-logs", dir.getFileName() + ".log");
            Files.createDirectories(log.getParent());
            run(root, List.of(bin.resolve("initdb").toString(), "-D", data.toString(), "-U", "postgres",
                    "--auth=trust", "-E", "UTF8", "--no-sync"), log);
            int port = freePort();
            Process p = new ProcessBuilder(asUser(root, List.of(bin.resolve("postgres").toString(), "-D", data.toString(),
                    "-p", Integer.toString(port), "-h", "127.0.0.1", "-k", dir.toString(),
                    "-c", "wal_level=logical", "-c", "max_wal_senders=4", "-c", "max_replication_slots=4",
                    "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")))
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
            PostgresServer server = new PostgresServer(dir, bin, p, port, log);
            try {
                Wait.until(START_TIMEOUT, "postgres accepting connections on port " + port, () -> {
                    if (!p.isAlive()) {
                        throw new AssertionError("postgres exited " + p.exitValue() + ":\n" + Files.readString(log));
                    }
                    try (Connection c = server.connect()) {
                        return c.isValid(5);
                    }
                });
            } catch (RuntimeException | Error | InterruptedException e) {
                server.close();
                throw e;
            }
            return server;
        } catch (RuntimeException | Error | IOException | InterruptedException e) {
            if (Files.exists(dir)) {
                deleteTree(dir);
            }
            throw e;
        }
    }

    /** The bin directory holding initdb and postgres; fails naming the Debian package when there is none. */
    static Path binDir() throws IOException, InterruptedException {
        List<Path> candidates = new ArrayList<>();
        try {
            Process p = new ProcessBuilder("pg_config", "--bindir").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0 && !out.isEmpty()) {
                candidates.add(Path.of(out));
            }
        } catch (IOException e) {
            // No pg_config on the PATH: look in Debian's layout below.
        }
        Path debian = Path.of("/usr/lib/postgresql");
        if (Files.isDirectory(debian)) {
            try (DirectoryStream<Path> versions = Files.newDirectoryStream(debian)) {
                List<Path> sorted = new ArrayList<>();
                versions.forEach(v -> sorted.add(v.resolve("bin")));
                sorted.sort(Comparator.comparing((Path v) -> versionOf(v)).reversed());
                candidates.addAll(sorted);
            }
        }
        for (Path c : candidates) {
            if (Files.isExecutable(c.resolve("initdb")) && Files.isExecutable(c.resolve("postgres"))) {
                return c;
            }
        }
        throw new IllegalStateException("no PostgreSQL server binaries (initdb, postgres) found through pg_config --bindir or in "
                + debian + "/*/bin: install Debian's package " + DEBIAN_PACKAGE + " (apt-get install " + DEBIAN_PACKAGE + ")");
    }

    private static int versionOf(Path binDir) {
        try {
            return Integer.parseInt(binDir.getParent().getFileName().toString());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** A JDBC connection as the superuser to database postgres. */
    Connection connect() throws SQLException {
        return DriverManager.getConnection(jdbcUrl(), "postgres", "");
    }

    String jdbcUrl() {
        return "jdbc:postgresql://127.0.0.1:" + port + "/postgres";
    }

    int port() {
        return port;
    }

    /** Stops the server (pg_ctl stop -m fast; SIGKILL if that fails) and deletes its directory. */
    @Override
    public void close() throws IOException {
        try {
            if (postgres.isAlive()) {
                stop();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            // A postgres that outlived pg_ctl (or an interrupt) goes now; its
            // children exit when the postmaster does.
            postgres.destroyForcibly();
            deleteTree(dir);
        }
    }

    private void stop() throws IOException, InterruptedException {
        boolean root = "root".equals(System.getProperty("user.name"));
        run(root, List.of(bin.resolve("pg_ctl").toString(), "-D", dir.resolve("data").toString(),
                "-m", "fast", "-w", "-t", Long.toString(STOP_TIMEOUT.toSeconds()), "stop"), log);
        postgres.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    }

    private static void run(boolean root, List<String> command, Path log) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(asUser(root, command)).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        if (!p.waitFor(START_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
            p.destroyForcibly().waitFor();
            throw new IllegalStateException(String.join(" ", command) + " did not finish within " + START_TIMEOUT);
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", command) + " exited " + p.exitValue() + ":\n"
                    + Files.readString(log, StandardCharsets.UTF_8));
        }
    }

    private static List<String> asUser(boolean root, List<String> command) {
        if (!root) {
            return command;
        }
        List<String> c = new ArrayList<>(List.of("runuser", "-u", OS_USER, "--"));
        c.addAll(command);
        return c;
    }

    private static void chown(Path dir, String user) throws IOException {
        UserPrincipalLookupService users = dir.getFileSystem().getUserPrincipalLookupService();
        UserPrincipal owner = users.lookupPrincipalByName(user);
        GroupPrincipal group = users.lookupPrincipalByGroupName(user);
        Files.setOwner(dir, owner);
        Files.getFileAttributeView(dir, PosixFileAttributeView.class).setGroup(group);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
