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

/** A throwaway Redis Cluster: three masters, no replicas, on free ports. */
public final class RedisClusterProcess implements AutoCloseable {

  private final Path dir;
  private final List<RedisProcess> nodes = new ArrayList<>();

  private RedisClusterProcess(Path dir) {
    this.dir = dir;
  }

  public static RedisClusterProcess start() throws IOException, InterruptedException {
    RedisClusterProcess c = new RedisClusterProcess(Files.createTempDirectory("xbosh-redis-cluster"));
    try {
      for (int i = 0; i < 3; i++) {
        c.nodes.add(RedisProcess.startClusterNode(c.dir));
      }
      List<String> create = new ArrayList<>(List.of("redis-cli", "--cluster", "create"));
      c.nodes.forEach(n -> create.add("127.0.0.1:" + n.port()));
      create.addAll(List.of("--cluster-replicas", "0", "--cluster-yes"));
      run(create);
      c.nodes.forEach(c::awaitClusterOk);
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
