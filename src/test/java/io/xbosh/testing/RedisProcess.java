package io.xbosh.testing;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A throwaway redis-server on a free port, nothing persisted. */
public final class RedisProcess extends ExternalProcess {

  private final int port;

  private RedisProcess(int port, List<String> extra) throws IOException {
    super("redis-server", command(port, extra), line -> line.contains("Ready to accept connections"), 20_000);
    this.port = port;
  }

  private static List<String> command(int port, List<String> extra) {
    List<String> c = new ArrayList<>(List.of("redis-server", "--port", Integer.toString(port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", System.getProperty("java.io.tmpdir")));
    c.addAll(extra);
    return c;
  }

  public static RedisProcess start() throws IOException {
    return start(freePort());
  }

  /** A server on a given port: a restart of one that was closed. */
  public static RedisProcess start(int port) throws IOException {
    return new RedisProcess(port, List.of());
  }

  /**
   * A server that keeps its data in an append-only file in {@code dir}: closing it (SIGTERM) and
   * starting it again on the same port and directory is a restart with the data kept.
   */
  public static RedisProcess startKeepingData(int port, Path dir) throws IOException {
    return new RedisProcess(port, List.of("--appendonly", "yes", "--dir", dir.toString()));
  }

  /** A node for a Redis Cluster; its cluster state file goes to {@code dir}. */
  static RedisProcess startClusterNode(Path dir) throws IOException {
    int port = freePort();
    return new RedisProcess(port, List.of("--cluster-enabled", "yes",
        "--cluster-config-file", dir.resolve("nodes-" + port + ".conf").toString(), "--cluster-node-timeout", "2000",
        // the masters that still have their replicas keep serving while one shard fails over
        "--cluster-require-full-coverage", "no", "--dir", dir.toString()));
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
