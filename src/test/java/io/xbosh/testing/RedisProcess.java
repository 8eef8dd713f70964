package io.xbosh.testing;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A throwaway redis-server on a free port, nothing persisted. */
public final class RedisProcess extends ExternalProcess {

  private final int port;

  private RedisProcess(int port, List<String> extra) throws IOException {
    this(port, Path.of(System.getProperty("java.io.tmpdir")), extra);
  }

  private RedisProcess(int port, Path dir, List<String> extra) throws IOException {
    super("redis-server", command(port, dir, extra), line -> line.contains("Ready to accept connections"), 20_000);
    this.port = port;
  }

  private static List<String> command(int port, Path dir, List<String> extra) {
    List<String> c = new ArrayList<>(List.of("redis-server", "--port", Integer.toString(port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", dir.toString()));
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
   * A server that keeps its data in {@code dir} (append-only file; a SIGTERM writes it out), so that a
   * restart on the same port and directory finds every key again; {@code extra} are further
   * command-line options ({@code --maxmemory}, …).
   */
  public static RedisProcess startPersistent(int port, Path dir, List<String> extra) throws IOException {
    List<String> all = new ArrayList<>(List.of("--appendonly", "yes", "--appendfsync", "everysec"));
    all.addAll(extra);
    return new RedisProcess(port, dir, all);
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
        "--cluster-node-timeout", Integer.toString(nodeTimeoutMs)));
  }

  public int port() {
    return port;
  }

  public String url() {
    return "redis://127.0.0.1:" + port;
  }
}
