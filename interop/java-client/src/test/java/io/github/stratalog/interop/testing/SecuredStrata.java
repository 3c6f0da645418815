package io.github.stratalog.interop.testing;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.config.SslConfigs;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A secured strata for a test class, set up as README's "Security" section
 * sets one up: three listeners on loopback,
 *
 * <ul>
 *   <li>SASL_SSL ({@link #saslSsl()}), where clients log in with SCRAM (or PLAIN) over TLS,
 *   <li>SASL_PLAINTEXT ({@link #saslPlaintext()}), SASL without TLS,
 *   <li>SSL ({@link #ssl()}) with client certificates required, the principal being
 *       {@code User:<the certificate's CN>} ({@code --ssl-principal-mapping-rules}),
 * </ul>
 *
 * one user, {@value #ADMIN} (password {@value #ADMIN_PASSWORD}), created with
 * {@code --add-scram} and a super user, and ACLs enforced ({@code
 * --authorizer acl}). Any other user is the test's to create (KIP-554) and
 * to grant ACLs to.
 *
 * <p>The certificates come from scripts/gen-certs.sh, as a user makes them:
 * a CA, the server's (for localhost and 127.0.0.1), a client certificate per
 * name given to the constructor, the CA as a PKCS12 truststore, and here
 * also each client's key and certificate as a PKCS12 keystore ({@code
 * openssl pkcs12 -export}), all with password {@value #STORE_PASSWORD}.
 *
 * <pre>{@code
 * @RegisterExtension
 * static final SecuredStrata strata = new SecuredStrata("alice");
 *
 * KafkaClients.producer(strata.saslSsl(), strata.scram("alice", "alice-secret"));
 * KafkaClients.consumer(strata.ssl(), "alice-group", strata.mtls("alice"));
 * }</pre>
 *
 * <p>Like {@link StrataExtension}, it must be a static field; strata starts
 * before the class's first test and stops after its last, and the
 * certificates are deleted then.
 */
public final class SecuredStrata implements BeforeAllCallback, AfterAllCallback {
    /** The super user {@code --add-scram} creates. */
    public static final String ADMIN = "admin";
    public static final String ADMIN_PASSWORD = "admin-secret";
    /** The password of every truststore and keystore (gen-certs.sh's). */
    public static final String STORE_PASSWORD = "changeit";
    /** Turns a certificate's subject CN=alice into the principal User:alice. */
    public static final String PRINCIPAL_MAPPING_RULES = "RULE:^CN=([^,]*)$/$1/,DEFAULT";

    private static final Duration TOOL_TIMEOUT = Duration.ofMinutes(2);
    private static final int START_ATTEMPTS = 3;
    /** Ports are picked below Linux's ephemeral range, as StrataCluster does. */
    private static final int LOW_PORT = 20000;
    private static final int HIGH_PORT = 32000;

    private final List<String> clientCerts;
    private Path dir;
    private volatile StrataProcess process;
    private String saslSsl;
    private String saslPlaintext;
    private String ssl;
    private Admin admin;

    /** {@code clientCerts}: the CNs of the client certificates to make (and keystores). */
    public SecuredStrata(String... clientCerts) {
        this.clientCerts = List.of(clientCerts);
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        dir = Files.createTempDirectory("strata-secured-");
        try {
            makeCertificates();
            start();
        } catch (Exception | Error e) {
            StrataProcess.deleteTree(dir);
            throw e;
        }
    }

    @Override
    public void afterAll(ExtensionContext context) {
        try {
            synchronized (this) {
                if (admin != null) {
                    admin.close();
                    admin = null;
                }
            }
        } finally {
            try {
                if (process != null) {
                    process.close();
                    process = null;
                }
            } finally {
                StrataProcess.deleteTree(dir);
            }
        }
    }

    private void makeCertificates() throws IOException, InterruptedException {
        Path script = findScript(Path.of(System.getProperty("user.dir")).toAbsolutePath());
        if (script == null) {
            script = findScript(StrataProcess.binary().getParent());
        }
        if (script == null) {
            throw new IllegalStateException("cannot find scripts/gen-certs.sh above the working directory or strata.bin");
        }
        // keytool, for the truststore, is the JDK's own.
        Map<String, String> env = Map.of("CLIENTS", String.join(" ", clientCerts),
                "PATH", Path.of(System.getProperty("java.home"), "bin") + ":" + System.getenv().getOrDefault("PATH", ""));
        run(List.of("bash", script.toString(), certs().toString()), env);
        if (!Files.isRegularFile(truststore())) {
            throw new IllegalStateException(script + " made no truststore.p12 (it needs keytool)");
        }
        for (String c : clientCerts) {
            run(List.of("openssl", "pkcs12", "-export", "-name", c,
                    "-in", certs().resolve(c + ".crt").toString(), "-inkey", certs().resolve(c + ".key").toString(),
                    "-out", keystore(c).toString(), "-passout", "pass:" + STORE_PASSWORD), Map.of());
        }
    }

    /** Starts strata on free ports; a start that fails (a port taken meanwhile) is retried on others. */
    private void start() throws IOException, InterruptedException {
        RuntimeException last = null;
        for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
            List<Integer> ports = freePorts(3);
            String a = "127.0.0.1:" + ports.get(0);
            String b = "127.0.0.1:" + ports.get(1);
            String c = "127.0.0.1:" + ports.get(2);
            try {
                // The listener names are the protocols, which Kafka's (and
                // strata's) default listener.security.protocol.map maps to
                // themselves.
                process = StrataProcess.start(
                        "--listeners", "SASL_SSL://" + a + ",SASL_PLAINTEXT://" + b + ",SSL://" + c,
                        "--ssl-cert-file", certs().resolve("server.crt").toString(),
                        "--ssl-key-file", certs().resolve("server.key").toString(),
                        "--ssl-client-ca-file", certs().resolve("ca.crt").toString(),
                        "--ssl-client-auth", "required",
                        "--ssl-principal-mapping-rules", PRINCIPAL_MAPPING_RULES,
                        "--add-scram", "SCRAM-SHA-512=[name=" + ADMIN + ",password=" + ADMIN_PASSWORD + "]",
                        "--authorizer", "acl", "--super-users", "User:" + ADMIN);
                saslSsl = a;
                saslPlaintext = b;
                ssl = c;
                return;
            } catch (IllegalStateException e) {
                last = e;
            }
        }
        throw last;
    }

    /** The running strata; fails outside the test class's lifetime. */
    public StrataProcess process() {
        StrataProcess p = process;
        if (p == null) {
            throw new IllegalStateException("strata is not running: a SecuredStrata starts it before a class's tests "
                    + "and stops it after them, and only from a static field");
        }
        return p;
    }

    /** host:port of the SASL_SSL listener. */
    public String saslSsl() {
        process();
        return saslSsl;
    }

    /** host:port of the SASL_PLAINTEXT listener. */
    public String saslPlaintext() {
        process();
        return saslPlaintext;
    }

    /** host:port of the SSL listener (client certificates required). */
    public String ssl() {
        process();
        return ssl;
    }

    /** The directory of gen-certs.sh's files (ca.crt, server.crt, alice.crt, alice.key, ...). */
    public Path certs() {
        return dir.resolve("certs");
    }

    /** The CA as a PKCS12 truststore, password {@value #STORE_PASSWORD}. */
    public Path truststore() {
        return certs().resolve("truststore.p12");
    }

    /** Client {@code name}'s key and certificate as a PKCS12 keystore, password {@value #STORE_PASSWORD}. */
    public Path keystore(String name) {
        return certs().resolve(name + ".p12");
    }

    /**
     * Client settings for the SASL_SSL listener, logging in as {@code user}
     * with SCRAM-SHA-512: bootstrap.servers, security.protocol,
     * sasl.mechanism, sasl.jaas.config and the truststore.
     */
    public Map<String, Object> scram(String user, String password) {
        Map<String, Object> c = new HashMap<>(trustingClient(saslSsl(), "SASL_SSL"));
        c.put(SaslConfigs.SASL_MECHANISM, "SCRAM-SHA-512");
        c.put(SaslConfigs.SASL_JAAS_CONFIG, jaas("org.apache.kafka.common.security.scram.ScramLoginModule", user, password));
        return c;
    }

    /** Client settings for the SASL_PLAINTEXT listener, logging in as {@code user} with PLAIN. */
    public Map<String, Object> plain(String user, String password) {
        return Map.of(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, saslPlaintext(),
                CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_PLAINTEXT",
                SaslConfigs.SASL_MECHANISM, "PLAIN",
                SaslConfigs.SASL_JAAS_CONFIG, jaas("org.apache.kafka.common.security.plain.PlainLoginModule", user, password));
    }

    /** Client settings for the SSL listener with client {@code name}'s certificate (principal User:name). */
    public Map<String, Object> mtls(String name) {
        Map<String, Object> c = new HashMap<>(trustingClient(ssl(), "SSL"));
        c.put(SslConfigs.SSL_KEYSTORE_LOCATION_CONFIG, keystore(name).toString());
        c.put(SslConfigs.SSL_KEYSTORE_TYPE_CONFIG, "PKCS12");
        c.put(SslConfigs.SSL_KEYSTORE_PASSWORD_CONFIG, STORE_PASSWORD);
        return c;
    }

    /** Client settings for the SSL listener with no client certificate, which the listener refuses. */
    public Map<String, Object> tlsWithoutCertificate() {
        return trustingClient(ssl(), "SSL");
    }

    private Map<String, Object> trustingClient(String bootstrap, String protocol) {
        return Map.of(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, protocol,
                SslConfigs.SSL_TRUSTSTORE_LOCATION_CONFIG, truststore().toString(),
                SslConfigs.SSL_TRUSTSTORE_TYPE_CONFIG, "PKCS12",
                SslConfigs.SSL_TRUSTSTORE_PASSWORD_CONFIG, STORE_PASSWORD);
    }

    private static String jaas(String module, String user, String password) {
        return module + " required username=\"" + user + "\" password=\"" + password + "\";";
    }

    /**
     * An Admin client logged in as the super user over SASL_SSL, the same
     * one for every test of the class; tests must not close it.
     */
    public synchronized Admin admin() {
        if (admin == null) {
            Map<String, Object> c = new HashMap<>(scram(ADMIN, ADMIN_PASSWORD));
            c.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000);
            admin = Admin.create(c);
        }
        return admin;
    }

    /** Writes {@code settings} as a Java properties file (for a tool's --command-config). */
    public static Path writeProperties(Path file, Map<String, Object> settings) throws IOException {
        StringBuilder b = new StringBuilder();
        settings.forEach((k, v) -> b.append(k).append('=').append(v.toString().replace("\\", "\\\\")).append('\n'));
        return Files.writeString(file, b.toString(), StandardCharsets.UTF_8);
    }

    private void run(List<String> command, Map<String, String> env) throws IOException, InterruptedException {
        Path out = Files.createTempFile(dir, "cmd-", ".out");
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        p.getOutputStream().close();
        if (!p.waitFor(TOOL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException(String.join(" ", command) + " did not finish within " + TOOL_TIMEOUT);
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException(String.join(" ", command) + " exited " + p.exitValue() + ":\n"
                    + Files.readString(out, StandardCharsets.UTF_8));
        }
    }

    private static Path findScript(Path from) {
        for (Path d = from; d != null; d = d.getParent()) {
            Path s = d.resolve("scripts").resolve("gen-certs.sh");
            if (Files.isRegularFile(s)) {
                return s;
            }
        }
        return null;
    }

    private static List<Integer> freePorts(int n) {
        Set<Integer> chosen = new HashSet<>();
        List<Integer> ports = new ArrayList<>();
        while (ports.size() < n) {
            int p = ThreadLocalRandom.current().nextInt(LOW_PORT, HIGH_PORT);
            if (chosen.add(p) && free(p)) {
                ports.add(p);
            }
        }
        return ports;
    }

    private static boolean free(int port) {
        try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort() == port;
        } catch (IOException e) {
            return false;
        }
    }
}
