package io.xbosh.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * A throwaway redis-server on a free port, nothing persisted. Its working directory is its own
 * (deleted on close): in a shared temporary directory it would load whatever dump.rdb another run
 * left there.
 */
public final class RedisProcess extends ExternalProcess {

  private final int port;
  private final Path dir;

  private RedisProcess(int port, List<String> extra) throws IOException {
    this(port, Files.createTempDirectory("xbosh-redis"), true, extra);
  }

  private RedisProcess(int port, Path dir, List<String> extra) throws IOException {
    this(port, dir, false, extra);
  }

  /** @param ownsDir whether {@code dir} is this server's own, deleted on close (not a directory kept across restarts) */
  private RedisProcess(int port, Path dir, boolean ownsDir, List<String> extra) throws IOException {
    super("redis-server", command(port, dir, extra), line -> line.contains("Ready to accept connections"), 20_000);
    this.port = port;
    this.dir = ownsDir ? dir : null;
  }

  private static List<String> command(int port, Path dir, List<String> extra) {
    List<String> c = new ArrayList<>(List.of("redis-server", "--port", Integer.toString(port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", dir.toString()));
    c.addAll(extra);
    return c;
  }

  @Override
  public void close() {
    super.close();
    if (dir != null) {
      try (Stream<Path> files = Files.walk(dir)) {
        for (Path f : files.sorted(Comparator.reverseOrder()).toList()) {
          Files.deleteIfExists(f);
        }
      } catch (IOException ignored) {
        // a temporary directory left behind is harmless
      }
    }
  }

  public static RedisProcess start() throws IOException {
    return start(freePort());
  }

  /** A server on a given port: a restart of one that was closed. */
  public static RedisProcess start(int port) throws IOException {
    return new RedisProcess(port, List.of());
  }

  /** A server with these further arguments (they override the defaults above). */
  public static RedisProcess start(List<String> extra) throws IOException {
    return new RedisProcess(freePort(), extra);
  }

  /**
   * A server speaking TLS only, on {@link #port()}, with this certificate; {@code clientCa} non-null
   * requires clients to present a certificate it issued.
   */
  public static RedisProcess startTls(Path cert, Path key, Path clientCa, List<String> extra) throws IOException {
    int port = freePort();
    List<String> args = new ArrayList<>(List.of("--port", "0", "--tls-port", Integer.toString(port),
        "--tls-cert-file", cert.toString(), "--tls-key-file", key.toString()));
    if (clientCa != null) {
      args.addAll(List.of("--tls-ca-cert-file", clientCa.toString(), "--tls-auth-clients", "yes"));
    } else {
      // redis-server wants a CA file even when it does not check clients
      args.addAll(List.of("--tls-ca-cert-file", cert.toString(), "--tls-auth-clients", "no"));
    }
    args.addAll(extra);
    return new RedisProcess(port, args);
  }

  /**
   * A server that keeps its data in {@code dir} (append-only file; a SIGTERM writes it out), so that a
   * restart on the same port and directory finds every key again; {@code extra} are further
   * command-line options ({@code --maxmemory}, …).
   */
  public static RedisProcess startPersistent(int port, Path dir, List<String> extra) throws IOException {
    List<String> all = new ArrayList<>(List.of("--appendonly", "yes", "--appendfsync", "everysec"));
    all.addAll(extra);
    return new RedisProcess(port, dir, all);
  }

  /**
   * A server that keeps its data in an append-only file in {@code dir}: closing it (SIGTERM) and
   * starting it again on the same port and directory is a restart with the data kept.
   */
  public static RedisProcess startKeepingData(int port, Path dir) throws IOException {
    return new RedisProcess(port, dir, List.of("--appendonly", "yes"));
  }

  /** A node for a Redis Cluster; its cluster state file goes to {@code dir}. */
  static RedisProcess startClusterNode(Path dir) throws IOException {
    return startClusterNode(dir, 2000);
  }

  /** A node for a Redis Cluster with this {@code cluster-node-timeout}. */
  static RedisProcess startClusterNode(Path dir, int nodeTimeoutMs) throws IOException {
    int port = freePort();
    // its own directory: a dump.rdb another server left in the temp directory would make it "not empty"
    return new RedisProcess(port, dir, List.of("--cluster-enabled", "yes",
        "--cluster-config-file", dir.resolve("nodes-" + port + ".conf").toString(),
        "--cluster-node-timeout", Integer.toString(nodeTimeoutMs),
        // the masters that still have their replicas keep serving while one shard fails over
        "--cluster-require-full-coverage", "no"));
  }

  /** Runs redis-cli against this server and returns its output. */
  public String cli(String... args) throws IOException, InterruptedException {
    List<String> c = new ArrayList<>(List.of("redis-cli", "-p", Integer.toString(port)));
    c.addAll(List.of(args));
    Process p = new ProcessBuilder(c).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    if (!p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException("redis-cli " + String.join(" ", args) + " did not finish");
    }
    return out.strip();
  }

  public int port() {
    return port;
  }

  public String url() {
    return "redis://127.0.0.1:" + port;
  }
}
