package io.xbosh.testing;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.time.Duration;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/** A throwaway Redis Cluster on free ports: three masters, with or without a replica each. */
public final class RedisClusterProcess implements AutoCloseable {

  private final Path dir;
  private final List<RedisProcess> nodes = new ArrayList<>();

  private RedisClusterProcess(Path dir) {
    this.dir = dir;
  }

  public static RedisClusterProcess start() throws IOException, InterruptedException {
    return start(0, 2000);
  }

  /**
   * Three masters with a replica each; returns once every replica is in sync, so that killing a
   * master makes its replica take over.
   */
  public static RedisClusterProcess startWithReplicas() throws IOException, InterruptedException {
    return start(1, 2000);
  }

  /**
   * Three masters with {@code replicas} replicas each, and this {@code cluster-node-timeout} (how
   * long a master may be unreachable before its replica takes over).
   */
  public static RedisClusterProcess start(int replicas, int nodeTimeoutMs) throws IOException, InterruptedException {
    RedisClusterProcess c = new RedisClusterProcess(Files.createTempDirectory("xbosh-redis-cluster"));
    try {
      for (int i = 0; i < 3 * (1 + replicas); i++) {
        c.nodes.add(RedisProcess.startClusterNode(c.dir, nodeTimeoutMs));
      }
      List<String> create = new ArrayList<>(List.of("redis-cli", "--cluster", "create"));
      c.nodes.forEach(n -> create.add("127.0.0.1:" + n.port()));
      create.addAll(List.of("--cluster-replicas", Integer.toString(replicas), "--cluster-yes"));
      run(create);
      c.nodes.forEach(c::awaitClusterOk);
      if (replicas > 0) {
        for (RedisProcess n : c.nodes) {
          await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).until(() -> {
            String info = n.cli("info", "replication");
            return info.contains("role:master") || info.contains("master_link_status:up");
          });
        }
      }
      return c;
    } catch (IOException | InterruptedException | RuntimeException e) {
      c.close();
      throw e;
    }
  }

  /** The cluster state converges over the cluster bus after creation. */
  private void awaitClusterOk(RedisProcess node) {
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200))
        .until(() -> run(List.of("redis-cli", "-p", Integer.toString(node.port()), "cluster", "info")).contains("cluster_state:ok"));
  }

  private static String run(List<String> command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException(String.join(" ", command) + " failed:\n" + out);
    }
    return out;
  }

  /** The master serving the slot of {@code key} right now, asked of any node still running. */
  public RedisProcess masterOf(String key) throws IOException, InterruptedException {
    RedisProcess any = nodes.stream().filter(RedisProcess::isAlive).findFirst().orElseThrow();
    int slot = Integer.parseInt(any.cli("cluster", "keyslot", key));
    for (String line : any.cli("cluster", "nodes").split("\n")) {
      String[] f = line.trim().split(" ");
      if (f.length < 9 || !f[2].contains("master") || f[2].contains("fail")) {
        continue;
      }
      for (int i = 8; i < f.length; i++) {
        String[] range = f[i].split("-");
        if (range[0].startsWith("[")) {
          continue;
        }
        int from = Integer.parseInt(range[0]);
        int to = range.length > 1 ? Integer.parseInt(range[1]) : from;
        if (slot >= from && slot <= to) {
          int port = Integer.parseInt(f[1].substring(f[1].indexOf(':') + 1, f[1].indexOf('@')));
          return nodes.stream().filter(n -> n.port() == port).findFirst().orElseThrow();
        }
      }
    }
    throw new IOException("no master serves slot " + slot);
  }

  /** Every node started, masters and replicas, in start order. */
  public List<RedisProcess> nodes() {
    return List.copyOf(nodes);
  }

  /** The ports of the nodes that are masters now (as the first live node reports it). */
  public List<Integer> masterPorts() throws IOException, InterruptedException {
    for (RedisProcess n : nodes) {
      if (!n.isAlive()) {
        continue;
      }
      List<Integer> ports = new ArrayList<>();
      for (String line : run(List.of("redis-cli", "-p", Integer.toString(n.port()), "cluster", "nodes")).split("\n")) {
        String[] f = line.split(" ");
        if (f.length > 7 && f[2].contains("master") && !f[2].contains("fail") && "connected".equals(f[7])) {
          ports.add(Integer.parseInt(f[1].substring(f[1].indexOf(':') + 1, f[1].indexOf('@'))));
        }
      }
      return ports;
    }
    throw new IOException("no live node");
  }

  /** The live node on this port. */
  public RedisProcess node(int port) {
    return nodes.stream().filter(n -> n.port() == port).findFirst().orElseThrow();
  }

  /** Waits until every live node reports {@code cluster_state:ok} (after a failover, for instance). */
  public void awaitOk(Duration timeout) {
    await().atMost(timeout).pollInterval(Duration.ofMillis(200)).until(() -> nodes.stream().filter(RedisProcess::isAlive)
        .allMatch(n -> {
          try {
            return run(List.of("redis-cli", "-p", Integer.toString(n.port()), "cluster", "info")).contains("cluster_state:ok");
          } catch (IOException e) {
            return false;
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
          }
        }));
  }

  /** Whether every slot is served again (after a master was killed, once its replica took over). */
  public boolean ok() {
    try {
      RedisProcess any = nodes.stream().filter(RedisProcess::isAlive).findFirst().orElseThrow();
      return any.cli("cluster", "info").contains("cluster_state:ok");
    } catch (IOException | InterruptedException e) {
      return false;
    }
  }

  /** The nodes as a comma-separated list of redis:// URLs. */
  public String urls() {
    return nodes.stream().map(RedisProcess::url).collect(Collectors.joining(","));
  }

  @Override
  public void close() {
    nodes.forEach(RedisProcess::close);
    try (var files = Files.list(dir)) {
      for (Path f : files.toList()) {
        Files.deleteIfExists(f);
      }
      Files.deleteIfExists(dir);
    } catch (IOException ignored) {
      // a temp directory left behind is harmless
    }
  }
}
