package io.xbosh.testing;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A throwaway Sentinel deployment on free ports: a master, one replica and three sentinels
 * (quorum 2) watching master {@link #MASTER}.
 */
public final class RedisSentinelProcess implements AutoCloseable {

  public static final String MASTER = "xbosh-master";

  private final Path dir;
  private final List<RedisProcess> servers = new ArrayList<>();
  private final List<Sentinel> sentinels = new ArrayList<>();

  private static final class Sentinel extends ExternalProcess {
    final int port;

    Sentinel(int port, Path config) throws IOException {
      super("redis-sentinel", List.of("redis-sentinel", config.toString()), line -> line.contains("+monitor master"), 20_000);
      this.port = port;
    }
  }

  private RedisSentinelProcess(Path dir) {
    this.dir = dir;
  }

  public static RedisSentinelProcess start() throws IOException {
    RedisSentinelProcess s = new RedisSentinelProcess(Files.createTempDirectory("xbosh-sentinel"));
    try {
      RedisProcess master = RedisProcess.start(s.serverArgs("master"));
      s.servers.add(master);
      List<String> replica = new ArrayList<>(s.serverArgs("replica"));
      replica.addAll(List.of("--replicaof", "127.0.0.1", Integer.toString(master.port())));
      s.servers.add(RedisProcess.start(replica));
      for (int i = 0; i < 3; i++) {
        int port = ExternalProcess.freePort();
        Path config = s.dir.resolve("sentinel-" + port + ".conf");
        Files.writeString(config, String.join("\n",
            "port " + port,
            "bind 127.0.0.1",
            "dir " + s.dir,
            "sentinel monitor " + MASTER + " 127.0.0.1 " + master.port() + " 2",
            "sentinel down-after-milliseconds " + MASTER + " 1000",
            "sentinel failover-timeout " + MASTER + " 10000",
            "sentinel parallel-syncs " + MASTER + " 1", ""), StandardCharsets.UTF_8);
        s.sentinels.add(new Sentinel(port, config));
      }
      // ready when every sentinel knows the replica (in sync) and the two other sentinels
      s.awaitReplicaInSync();
      for (Sentinel sentinel : s.sentinels) {
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).until(() ->
            cli(sentinel.port, "SENTINEL", "REPLICAS", MASTER).contains("slave")
                && cli(sentinel.port, "SENTINEL", "SENTINELS", MASTER).lines().filter("runid"::equals).count() == 2);
      }
      return s;
    } catch (IOException | RuntimeException e) {
      s.close();
      throw e;
    }
  }

  /** Replication snapshots go to this deployment's directory, not the shared temporary one. */
  private List<String> serverArgs(String name) {
    return List.of("--dir", dir.toString(), "--dbfilename", name + ".rdb", "--repl-diskless-sync", "yes",
        "--repl-diskless-sync-delay", "0");
  }

  /** The sentinels as a comma-separated list of redis:// URLs. */
  public String sentinelUrls() {
    return sentinels.stream().map(x -> "redis://127.0.0.1:" + x.port).collect(Collectors.joining(","));
  }

  /** The port of the current master, as the first sentinel sees it. */
  public int masterPort() throws IOException {
    String[] addr = cli(sentinels.get(0).port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER).split("\n");
    return Integer.parseInt(addr[1].trim());
  }

  /** Waits until a replica of the current master reports its link up and its offset caught up. */
  public void awaitReplicaInSync() {
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).until(() -> {
      int master = masterPort();
      String info = cli(master, "INFO", "replication");
      return info.contains("connected_slaves:1") && info.contains("state=online");
    });
  }

  /** {@code SENTINEL FAILOVER}; returns once every sentinel names the new master and it accepts writes. */
  public int failover() throws IOException {
    int old = masterPort();
    cli(sentinels.get(0).port, "SENTINEL", "FAILOVER", MASTER);
    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).until(() -> {
      for (Sentinel sentinel : sentinels) {
        String[] addr = cli(sentinel.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER).split("\n");
        if (addr.length < 2 || Integer.parseInt(addr[1].trim()) == old) {
          return false;
        }
      }
      return cli(masterPort(), "INFO", "replication").contains("role:master");
    });
    return masterPort();
  }

  /** SIGKILL to the current master; returns once the sentinels have promoted the replica. */
  public int killMaster() throws IOException, InterruptedException {
    int old = masterPort();
    for (RedisProcess server : servers) {
      if (server.port() == old) {
        server.kill();
      }
    }
    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).until(() -> {
      for (Sentinel sentinel : sentinels) {
        String[] addr = cli(sentinel.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER).split("\n");
        if (addr.length < 2 || Integer.parseInt(addr[1].trim()) == old) {
          return false;
        }
      }
      return cli(masterPort(), "INFO", "replication").contains("role:master");
    });
    return masterPort();
  }

  /** One redis-cli command against a port; its raw output. */
  public static String cli(int port, String... args) throws IOException {
    List<String> command = new ArrayList<>(List.of("redis-cli", "-h", "127.0.0.1", "-p", Integer.toString(port)));
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new IOException(String.join(" ", command) + " failed:\n" + out);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(e);
    }
    return out;
  }

  @Override
  public void close() {
    sentinels.forEach(ExternalProcess::close);
    servers.forEach(RedisProcess::close);
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path f : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(f);
      }
    } catch (IOException ignored) {
      // a temporary directory left behind is harmless
    }
  }
}
