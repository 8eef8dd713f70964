package io.xbosh.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * A throwaway rabbitmq-server (never the system one): its own node name, free AMQP and
 * distribution ports, its data and logs in a temporary directory kept across {@link #restart}
 * (durable queues survive it), no plugins, one user with every permission on the default vhost.
 * Started as the current user through RabbitMQ's own script, not the Debian wrapper that switches
 * to the {@code rabbitmq} user.
 */
public final class RabbitMqProcess implements AutoCloseable {

  private static final String SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server";
  private static final String CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl";
  private static final AtomicInteger NEXT = new AtomicInteger();

  private final Path dir;
  private final String node;
  private final int port;
  private final int distPort;
  private final int tlsPort;
  private final String user;
  private final String password;
  private Server server;

  private static final class Server extends ExternalProcess {
    Server(Map<String, String> env) throws IOException {
      super("rabbitmq-server", List.of(SERVER), env, line -> line.contains("Starting broker... completed")
          || line.contains("Server startup complete"), 120_000);
    }
  }

  private RabbitMqProcess(String user, String password, TestAuthority.Issued tls, Path ca, boolean peerCert) throws IOException {
    this.dir = Files.createTempDirectory("xbosh-rabbitmq");
    this.node = "xbosh-test-" + ProcessHandle.current().pid() + "-" + NEXT.incrementAndGet() + "@localhost";
    this.port = ExternalProcess.freePort();
    this.distPort = ExternalProcess.freePort();
    this.tlsPort = tls == null ? -1 : ExternalProcess.freePort();
    this.user = user;
    this.password = password;
    Files.createDirectories(dir.resolve("mnesia"));
    Files.createDirectories(dir.resolve("log"));
    Files.writeString(dir.resolve("enabled_plugins"), "[].\n");
    Files.writeString(dir.resolve("rabbitmq.conf"), String.join("\n",
        "listeners.tcp.default = 127.0.0.1:" + port,
        "default_user = " + user,
        "default_pass = " + password,
        "loopback_users = none",
        tls == null ? "" : String.join("\n",
            "listeners.ssl.default = 127.0.0.1:" + tlsPort,
            "ssl_options.cacertfile = " + ca,
            "ssl_options.certfile = " + tls.cert(),
            "ssl_options.keyfile = " + tls.key(),
            "ssl_options.verify = " + (peerCert ? "verify_peer" : "verify_none"),
            "ssl_options.fail_if_no_peer_cert = " + peerCert),
        ""), StandardCharsets.UTF_8);
  }

  /** Starts a broker whose only user is {@code user} with {@code password}. */
  public static RabbitMqProcess start(String user, String password) throws IOException {
    if (!Files.isExecutable(Path.of(SERVER))) {
      throw new IOException(SERVER + " not found: apt-get install rabbitmq-server");
    }
    return start(new RabbitMqProcess(user, password, null, null, false));
  }

  /**
   * Starts a broker that also listens for AMQP over TLS on {@link #tlsPort()}, presenting {@code
   * cert} (the authorities of {@code ca} as its chain); {@code peerCert}: every TLS client must
   * present a certificate of {@code ca} ({@code verify_peer}, {@code fail_if_no_peer_cert}).
   */
  public static RabbitMqProcess startTls(String user, String password, TestAuthority.Issued cert, Path ca, boolean peerCert)
      throws IOException {
    if (!Files.isExecutable(Path.of(SERVER))) {
      throw new IOException(SERVER + " not found: apt-get install rabbitmq-server");
    }
    return start(new RabbitMqProcess(user, password, cert, ca, peerCert));
  }

  private static RabbitMqProcess start(RabbitMqProcess p) throws IOException {
    try {
      p.server = new Server(p.env());
    } catch (IOException e) {
      p.delete();
      throw e;
    }
    return p;
  }

  private Map<String, String> env() {
    return Map.of(
        "RABBITMQ_NODENAME", node,
        "RABBITMQ_NODE_PORT", Integer.toString(port),
        "RABBITMQ_DIST_PORT", Integer.toString(distPort),
        "RABBITMQ_MNESIA_BASE", dir.resolve("mnesia").toString(),
        "RABBITMQ_LOG_BASE", dir.resolve("log").toString(),
        "RABBITMQ_ENABLED_PLUGINS_FILE", dir.resolve("enabled_plugins").toString(),
        "RABBITMQ_CONFIG_FILE", dir.resolve("rabbitmq").toString(),
        "RABBITMQ_ADVANCED_CONFIG_FILE", dir.resolve("advanced.config").toString(),
        "RABBITMQ_PID_FILE", dir.resolve("pid").toString(),
        "RABBITMQ_LOGS", "-");
  }

  public int port() {
    return port;
  }

  /** The TLS listener's port, -1 without one. */
  public int tlsPort() {
    return tlsPort;
  }

  public String user() {
    return user;
  }

  public String password() {
    return password;
  }

  /** {@code amqp://127.0.0.1:port/} (the default vhost). */
  public String uri() {
    return "amqp://127.0.0.1:" + port;
  }

  /** Stops the broker as an operator would ({@code rabbitmqctl stop}); its data stays for {@link #start()}. */
  public void stop() throws IOException, InterruptedException {
    Process p = new ProcessBuilder(CTL, "-n", node, "stop").redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException("rabbitmqctl stop failed: " + out);
    }
    if (!server.awaitExit(60_000)) {
      server.kill();
    }
  }

  /** Starts the stopped broker again on the same ports with the same data. */
  public void start() throws IOException {
    server = new Server(env());
  }

  /** Runs {@code rabbitmqctl} against this node. */
  public String ctl(String... args) throws IOException, InterruptedException {
    return RabbitMq.run(CTL, node, args);
  }

  @Override
  public void close() {
    if (server != null) {
      server.close();
    }
    delete();
  }

  private void delete() {
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path f : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(f);
      }
    } catch (IOException ignored) {
      // a temporary directory left behind is harmless
    }
  }
}
