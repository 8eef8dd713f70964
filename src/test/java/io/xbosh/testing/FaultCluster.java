package io.xbosh.testing;

import static org.awaitility.Awaitility.await;

import io.vertx.core.Vertx;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The fault suite's deployment, all real processes: a redis-server (or a Redis Cluster with
 * replicas), Prosody, three xbosh pods (each {@code java -jar target/xbosh.jar}), HAProxy round
 * robin in front ({@code docs/load-balancer/haproxy.cfg}), and a {@link FaultLoad} of paired BOSH
 * clients through HAProxy. Faults are injected on the processes (kill -9, SIGSTOP, SIGTERM) and on
 * Redis ({@code redis-cli}).
 *
 * <p>Scale and timing come from system properties so that the same scenarios run small in the
 * suite and large for a release check ({@code src/bench/fault-run.sh}):
 * {@code xbosh.fault.sessions} (100), {@code xbosh.fault.rate} (messages per second in total, 60),
 * {@code xbosh.fault.phaseMs} (traffic before and after each fault, 3000),
 * {@code xbosh.fault.heartbeatMs} (500) and {@code xbosh.fault.deadMs} (2000), passed to the pods
 * as {@code XBOSH_HEARTBEAT_MS} and {@code XBOSH_POD_DEAD_MS}.
 */
public final class FaultCluster implements AutoCloseable {

  public enum Store {
    /** One redis-server with an append-only file, so a restart keeps every key. */
    PERSISTENT,
    /** A Redis Cluster of three masters with one replica each. */
    CLUSTER
  }

  public static final int SESSIONS = Integer.getInteger("xbosh.fault.sessions", 100);
  public static final double RATE = Double.parseDouble(System.getProperty("xbosh.fault.rate", "60"));
  public static final long PHASE_MS = Long.getLong("xbosh.fault.phaseMs", 3000);
  public static final int HEARTBEAT_MS = Integer.getInteger("xbosh.fault.heartbeatMs", 500);
  public static final int DEAD_MS = Integer.getInteger("xbosh.fault.deadMs", 2000);
  /** The BOSH {@code wait} the clients ask for: longer than any detection bound, so a bound met is not a wait running out. */
  public static final int WAIT_SECONDS = 20;
  public static final int DRAIN_SECONDS = 2;
  public static final String DOMAIN = ProsodyProcess.DOMAIN;
  public static final String PASSWORD = "pw";
  public static final List<String> IDS = List.of("pod-1", "pod-2", "pod-3");

  /**
   * The documented bound for telling a dead pod's sessions: the dead-time, two heartbeats (the
   * last renewal and the reaper's reading) and 3 s for a loaded machine and the client's resend.
   */
  public static long detectionBoundMs() {
    return DEAD_MS + 2L * HEARTBEAT_MS + 3000;
  }

  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  private final Store store;
  private final Map<String, String> extraEnv;
  private final Path dir;
  private final XboshProcess[] pods = new XboshProcess[3];
  private final int[] podPorts = new int[3];
  private final Vertx vertx = Vertx.vertx();
  private RedisProcess redis;
  private int redisPort;
  private RedisClusterProcess cluster;
  private ProsodyProcess prosody;
  private HaproxyProcess lb;
  private final List<FaultLoad> loads = new ArrayList<>();
  private long scenarioNanos = System.nanoTime();

  private FaultCluster(Store store, Map<String, String> extraEnv) throws IOException {
    this.store = store;
    this.extraEnv = Map.copyOf(extraEnv);
    this.dir = Files.createTempDirectory("xbosh-fault");
  }

  /**
   * Starts everything; {@code extraEnv} is added to every pod's environment, {@code redisArgs} to
   * the redis-server command line (single server only), {@code users} are Prosody accounts besides
   * the load's ({@code u0…}).
   */
  public static FaultCluster start(Store store, Map<String, String> extraEnv, List<String> redisArgs, Map<String, String> users)
      throws Exception {
    FaultCluster c = new FaultCluster(store, extraEnv);
    try {
      c.startAll(redisArgs, users);
      return c;
    } catch (Exception | Error e) {
      c.close();
      throw e;
    }
  }

  public static FaultCluster start(Store store) throws Exception {
    return start(store, Map.of(), List.of(), Map.of());
  }

  /** Accounts besides the load's, for scenarios that log in more clients: {@code v0…v29}, {@code sma}, {@code smb}. */
  public static final int EXTRA_SESSIONS = 30;

  private static final Map<Store, FaultCluster> SHARED = new java.util.EnumMap<>(Store.class);
  private static boolean hooked;

  /**
   * The deployment scenarios share (starting three JVMs, Prosody and HAProxy costs more than most
   * scenarios): started on first use, brought back to three running, ready pods before each
   * scenario, stopped when the test JVM exits. A scenario that fails {@link #release}s it as
   * broken, so the next one starts afresh.
   */
  public static synchronized FaultCluster acquire(Store store) throws Exception {
    // one deployment at a time on the machine
    for (Store other : Store.values()) {
      if (other != store && SHARED.containsKey(other)) {
        SHARED.remove(other).close();
      }
    }
    FaultCluster c = SHARED.remove(store);
    if (c != null) {
      try {
        c.prepare();
        SHARED.put(store, c);
        return c;
      } catch (Exception | Error e) {
        c.log("shared deployment unusable, starting another: " + e);
        c.close();
      }
    }
    Map<String, String> users = new HashMap<>();
    for (int i = 0; i < EXTRA_SESSIONS; i++) {
      users.put("v" + i, PASSWORD);
    }
    users.put("sma", PASSWORD);
    users.put("smb", PASSWORD);
    c = start(store, Map.of(), List.of(), users);
    SHARED.put(store, c);
    if (!hooked) {
      hooked = true;
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        synchronized (FaultCluster.class) {
          SHARED.values().forEach(FaultCluster::close);
          SHARED.clear();
        }
      }));
    }
    return c;
  }

  /** Ends a scenario: its loads are closed; a deployment a failed scenario used is stopped. */
  public synchronized void release(boolean passed) {
    loads.forEach(FaultLoad::close);
    loads.clear();
    if (!passed) {
      synchronized (FaultCluster.class) {
        SHARED.values().remove(this);
      }
      close();
    }
  }

  /** Three running, unfrozen pods, all in the load balancer, and Redis up. */
  private void prepare() throws Exception {
    scenarioNanos = System.nanoTime();
    if (store == Store.PERSISTENT && (redis == null || !redis.isAlive())) {
      startRedis(List.of());
    }
    for (int i = 0; i < 3; i++) {
      if (pods[i] == null || !pods[i].isAlive()) {
        startPod(i);
      } else {
        pods[i].signal("CONT");
      }
    }
    awaitAllInLoadBalancer();
    log("shared deployment ready: " + store);
  }

  private void startAll(List<String> redisArgs, Map<String, String> users) throws Exception {
    switch (store) {
      case PERSISTENT -> {
        redisPort = ExternalProcess.freePort();
        redis = RedisProcess.startPersistent(redisPort, dir, redisArgs);
      }
      case CLUSTER -> cluster = RedisClusterProcess.start(1, 1000);
    }
    Map<String, String> accounts = new HashMap<>(users);
    for (int i = 0; i < SESSIONS; i++) {
      accounts.put("u" + i, PASSWORD);
    }
    prosody = ProsodyProcess.start(accounts);
    List<CompletableFuture<XboshProcess>> starting = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      podPorts[i] = ExternalProcess.freePort();
      int n = i;
      starting.add(CompletableFuture.supplyAsync(() -> {
        try {
          return XboshProcess.start(IDS.get(n), podPorts[n], env());
        } catch (IOException e) {
          throw new IllegalStateException(e);
        }
      }));
    }
    for (int i = 0; i < 3; i++) {
      pods[i] = starting.get(i).get(120, TimeUnit.SECONDS);
    }
    lb = HaproxyProcess.start(List.of(pods));
    awaitAllInLoadBalancer();
    log("deployment up: " + store + ", 3 pods, HAProxy on " + lb.port());
  }

  /** The environment of every pod. */
  public Map<String, String> env() {
    Map<String, String> env = new HashMap<>();
    env.put("XBOSH_REDIS_URL", store == Store.CLUSTER ? cluster.urls() : "redis://127.0.0.1:" + redisPort);
    env.put("XBOSH_REDIS_CLUSTER", Boolean.toString(store == Store.CLUSTER));
    env.put("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort());
    env.put("XBOSH_HEARTBEAT_MS", Integer.toString(HEARTBEAT_MS));
    env.put("XBOSH_POD_DEAD_MS", Integer.toString(DEAD_MS));
    env.put("XBOSH_SWEEP_MS", "500");
    env.put("XBOSH_DRAIN_SECONDS", Integer.toString(DRAIN_SECONDS));
    env.put("XBOSH_TOMBSTONE_SECONDS", "30");
    env.put("XBOSH_MAX_WAIT", "30");
    env.putAll(extraEnv);
    return env;
  }

  // ---- the load

  /** Logs {@link #SESSIONS} clients ({@code u0…}) in through HAProxy and records which pod owns each. */
  public FaultLoad loginLoad() {
    return loginLoad("u", SESSIONS, WAIT_SECONDS);
  }

  /**
   * Logs in another load through HAProxy: {@code sessions} clients named {@code prefix0…} (Prosody
   * accounts given at start with {@link #PASSWORD}), asking for this {@code wait}.
   */
  public FaultLoad loginLoad(String prefix, int sessions, int waitSeconds) {
    FaultLoad load = new FaultLoad(vertx, new FaultLoad.Options(lb.endpoint(), DOMAIN, sessions, prefix, PASSWORD, waitSeconds, 60_000));
    loads.add(load);
    load.login(20);
    load.owners(owners());
    log("logged in " + sessions + " sessions " + prefix + "*");
    return load;
  }

  /** The first load. */
  public FaultLoad load() {
    return loads.get(0);
  }

  /** Prints a step of the scenario with the time since the deployment was created. */
  public void log(String step) {
    String load = loads.isEmpty() ? "" : String.format(" load +%dms", loads.get(0).elapsedMs());
    System.out.printf("[fault +%.1fs%s] %s%n", (System.nanoTime() - scenarioNanos) / 1e9, load, step);
  }

  /** Sends messages for {@code ms} of traffic: waits until that many messages at the set rate went out. */
  public void traffic(long ms) {
    FaultLoad load = load();
    long target = load.sent() + (long) (RATE * ms / 1000);
    await().atMost(Duration.ofMillis(ms * 3 + 10_000)).pollInterval(Duration.ofMillis(50)).until(() -> load.sent() >= target);
  }

  /**
   * Keeps a fault in place for its length: the outage, pause or freeze the scenario is about. This
   * is the experiment's input, not a wait for a result.
   */
  public static void faultLastsFor(Duration d) {
    long end = System.nanoTime() + d.toNanos();
    await().atMost(d.plusSeconds(5)).pollInterval(Duration.ofMillis(20)).until(() -> System.nanoTime() >= end);
  }

  /** Stops sending, then waits (bounded) until everything accepted for a live recipient has arrived. */
  public FaultLoad.Report settle(Duration atMost) {
    return settle(load(), atMost);
  }

  /** {@link #settle(Duration)} for one of the loads. */
  public FaultLoad.Report settle(FaultLoad load, Duration atMost) {
    load.stopMessages();
    try {
      await().atMost(atMost).pollInterval(Duration.ofMillis(200)).until(load::settled);
    } catch (org.awaitility.core.ConditionTimeoutException e) {
      // the report says what is missing
    }
    log("settled");
    return load.report(5000);
  }

  /** Which pod's {@code xb:{pods}:owned:<id>} lists each sid. */
  public Map<String, String> owners() {
    Map<String, String> out = new HashMap<>();
    for (String id : IDS) {
      for (String sid : lines(cli("SMEMBERS", "xb:{pods}:owned:" + id))) {
        out.put(sid, id);
      }
    }
    return out;
  }

  // ---- pods

  public XboshProcess pod(int i) {
    return pods[i];
  }

  public String id(int i) {
    return IDS.get(i);
  }

  /** kill -9 of a pod; returns when it happened (System.nanoTime). */
  public long killPod(int i) throws InterruptedException {
    pods[i].kill();
    long at = System.nanoTime();
    pods[i] = null;
    log("kill -9 " + IDS.get(i));
    return at;
  }

  /** Starts a pod again under the same id and port (HAProxy names it by address). */
  public void startPod(int i) throws IOException {
    pods[i] = XboshProcess.start(IDS.get(i), podPorts[i], env());
    log("started " + IDS.get(i) + " again");
  }

  private interface Step {
    void run() throws Exception;
  }

  private static void quietly(Step step) {
    try {
      step.run();
    } catch (Exception | LinkageError e) {
      System.out.println("[fault] while stopping: " + e);
    }
  }

  /** HAProxy's endpoint. */
  public URI lbEndpoint() {
    return lb.endpoint();
  }

  /** A pod's BOSH endpoint (whether or not it runs). */
  public URI podEndpoint(int i) {
    return URI.create("http://127.0.0.1:" + podPorts[i] + "/http-bind");
  }

  /** SIGTERM, then waits for the pod to exit; returns when the signal was sent. */
  public long terminatePod(int i, Duration atMost) throws InterruptedException {
    long at = signalTerm(i);
    awaitExit(i, atMost);
    return at;
  }

  /** SIGTERM without waiting: the pod drains. Returns when the signal was sent. */
  public long signalTerm(int i) {
    pods[i].terminate();
    log("SIGTERM " + IDS.get(i));
    return System.nanoTime();
  }

  /** Waits for a pod that was sent SIGTERM to exit. */
  public void awaitExit(int i, Duration atMost) throws InterruptedException {
    if (!pods[i].awaitExit(atMost.toMillis())) {
      throw new AssertionError(IDS.get(i) + " did not exit within " + atMost + " of SIGTERM:\n" + tail(pods[i].output()));
    }
    pods[i] = null;
  }

  public long freezePod(int i) throws IOException, InterruptedException {
    pods[i].signal("STOP");
    log("SIGSTOP " + IDS.get(i));
    return System.nanoTime();
  }

  public void thawPod(int i) throws IOException, InterruptedException {
    pods[i].signal("CONT");
    log("SIGCONT " + IDS.get(i));
  }

  /** The ids of the pods running now. */
  public Set<String> runningPods() {
    Set<String> out = new TreeSet<>();
    for (int i = 0; i < 3; i++) {
      if (pods[i] != null && pods[i].isAlive()) {
        out.add(IDS.get(i));
      }
    }
    return out;
  }

  /** A gauge or counter of a pod's /metrics (summed over tags), or NaN when the pod does not answer. */
  public double metric(int i, String name) {
    try {
      String text = get(URI.create("http://127.0.0.1:" + podPorts[i] + "/metrics")).body();
      double sum = 0;
      boolean found = false;
      Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + "(\\{[^}]*\\})? ([0-9.eE+-]+)$").matcher(text);
      while (m.find()) {
        sum += Double.parseDouble(m.group(2));
        found = true;
      }
      return found ? sum : Double.NaN;
    } catch (Exception e) {
      return Double.NaN;
    }
  }

  public int ready(int i) {
    try {
      return get(URI.create("http://127.0.0.1:" + podPorts[i] + "/ready")).statusCode();
    } catch (Exception e) {
      return -1;
    }
  }

  /** Waits until HAProxy sends requests to every running pod (their /ready passed its health check). */
  public void awaitAllInLoadBalancer() {
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).until(() -> {
      for (int i = 0; i < 3; i++) {
        if (pods[i] != null && ready(i) != 200) {
          return false;
        }
      }
      return lb == null || get(URI.create("http://127.0.0.1:" + lb.port() + "/ready")).statusCode() == 200;
    });
    // HAProxy's check interval is 1 s with rise 1: one more interval and every ready pod is in
    faultLastsFor(Duration.ofMillis(1200));
  }

  private static HttpResponse<String> get(URI uri) throws IOException, InterruptedException {
    return HTTP.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** The last lines of a process's output, for failure messages. */
  public static String tail(String output) {
    String[] lines = output.split("\n");
    return String.join("\n", java.util.Arrays.copyOfRange(lines, Math.max(0, lines.length - 40), lines.length));
  }

  /** Lines of every pod's output that contain {@code text}, prefixed with the pod's id. */
  public List<String> podLog(String text) {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      if (pods[i] != null) {
        for (String l : pods[i].output().split("\n")) {
          if (l.contains(text)) {
            out.add(IDS.get(i) + ": " + l);
          }
        }
      }
    }
    return out;
  }

  // ---- Redis

  public Store store() {
    return store;
  }

  public int redisPort() {
    return redisPort;
  }

  public RedisProcess redis() {
    return redis;
  }

  public RedisClusterProcess redisCluster() {
    return cluster;
  }

  /** Stops the redis-server (SIGTERM: it writes its data); returns when it was gone. */
  public long stopRedis() throws InterruptedException {
    redis.close();
    return System.nanoTime();
  }

  /** Starts the redis-server again on its port and directory, with what it persisted. */
  public void startRedis(List<String> extra) throws IOException {
    redis = RedisProcess.startPersistent(redisPort, dir, extra);
  }

  /** A command on the single server, or on the cluster (following redirects). */
  public String cli(String... args) {
    int port = store == Store.CLUSTER ? anyMaster() : redisPort;
    List<String> c = new ArrayList<>(List.of("redis-cli", "-c", "-p", Integer.toString(port)));
    c.addAll(List.of(args));
    return run(c, null);
  }

  /** A command on one node. */
  public static String cliAt(int port, String... args) {
    List<String> c = new ArrayList<>(List.of("redis-cli", "-p", Integer.toString(port)));
    c.addAll(List.of(args));
    return run(c, null);
  }

  private int anyMaster() {
    try {
      return cluster.masterPorts().get(0);
    } catch (IOException | InterruptedException e) {
      throw new IllegalStateException(e);
    }
  }

  private List<Integer> scanPorts() {
    if (store != Store.CLUSTER) {
      return List.of(redisPort);
    }
    try {
      return cluster.masterPorts();
    } catch (IOException | InterruptedException e) {
      throw new IllegalStateException(e);
    }
  }

  static String run(List<String> command, String stdin) {
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      if (stdin != null) {
        p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
      }
      p.getOutputStream().close();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(30, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IllegalStateException(String.join(" ", command) + " timed out");
      }
      return out;
    } catch (IOException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private static List<String> lines(String out) {
    return Stream.of(out.split("\n")).map(String::trim).filter(s -> !s.isEmpty()).toList();
  }

  /**
   * What is left in Redis that should not be: an {@code xb:*} key without a TTL (other than
   * {@code xb:{pods}} and the live pods' {@code xb:{pods}:owned:<id>}), one whose TTL is longer than
   * {@code maxTtlSeconds}, an {@code xb:{pods}:owned:<id>} of a pod not running or (with
   * {@code sessionsEnded}) still listing sids, an {@code xb:{pods}} member not running.
   */
  public List<String> leftovers(boolean sessionsEnded, long maxTtlSeconds) {
    return leftovers(scanPorts(), runningPods(), sessionsEnded, maxTtlSeconds);
  }

  /** {@link #leftovers(boolean, long)} on the Redis servers at {@code ports}, with these pods running. */
  public static List<String> leftovers(List<Integer> ports, Set<String> running, boolean sessionsEnded, long maxTtlSeconds) {
    List<String> problems = new ArrayList<>();
    for (int port : ports) {
      List<String> keys = lines(cliAt(port, "--scan", "--pattern", "xb:*"));
      for (String k : keys) {
        if (!k.startsWith("xb:")) {
          throw new IllegalStateException("redis-cli --scan on port " + port + " answered: " + keys);
        }
      }
      if (keys.isEmpty()) {
        continue;
      }
      StringBuilder ttlCommands = new StringBuilder();
      keys.forEach(k -> ttlCommands.append("TTL \"").append(k).append("\"\n"));
      List<String> ttls = lines(run(List.of("redis-cli", "-p", Integer.toString(port)), ttlCommands.toString()));
      Map<String, Long> ttl = new LinkedHashMap<>();
      if (ttls.size() != keys.size()) {
        problems.add("redis-cli answered " + ttls.size() + " TTLs for " + keys.size() + " keys: " + ttls);
      }
      for (int i = 0; i < keys.size() && i < ttls.size(); i++) {
        try {
          ttl.put(keys.get(i), Long.parseLong(ttls.get(i)));
        } catch (NumberFormatException e) {
          problems.add("TTL " + keys.get(i) + " answered " + ttls.get(i));
        }
      }
      for (var e : ttl.entrySet()) {
        String k = e.getKey();
        long t = e.getValue();
        if (k.equals("xb:{pods}")) {
          for (String member : lines(cliAt(port, "ZRANGE", "xb:{pods}", "0", "-1"))) {
            if (!running.contains(member)) {
              problems.add("xb:{pods} still lists " + member + ", which is not running");
            }
          }
        } else if (k.startsWith("xb:{pods}:owned:")) {
          String pod = k.substring("xb:{pods}:owned:".length());
          List<String> sids = lines(cliAt(port, "SMEMBERS", k));
          if (!running.contains(pod)) {
            problems.add(k + " of a pod not running still lists " + sids.size() + " sids");
          } else if (sessionsEnded && sids.stream().anyMatch(sid -> !liveOnAny(ports, sid))) {
            // a session still live (another scenario's on the shared deployment) is rightly listed
            long ended = sids.stream().filter(sid -> !liveOnAny(ports, sid)).count();
            problems.add(k + " still lists " + ended + " sids after every session ended");
          }
        } else if (t == -1) {
          problems.add("no TTL: " + k);
        } else if (t > maxTtlSeconds) {
          problems.add("TTL " + t + " s > " + maxTtlSeconds + " s: " + k);
        }
      }
    }
    return problems;
  }

  /** Whether the session's record is live on one of the servers (on a Cluster, the one serving its slot answers). */
  private static boolean liveOnAny(List<Integer> ports, String sid) {
    for (int port : ports) {
      if ("1".equals(cliAt(port, "HEXISTS", "xb:{" + sid + "}", "hi").trim())) {
        return true;
      }
    }
    return false;
  }

  /** Waits (bounded) until nothing is left behind; fails naming what is. */
  public void assertNothingLeftBehind(boolean sessionsEnded, Duration atMost) {
    if (sessionsEnded) {
      loads.forEach(FaultLoad::endAll);
      log("every session ended");
    }
    List<List<String>> last = new ArrayList<>(List.of(List.of()));
    try {
      await().atMost(atMost).pollInterval(Duration.ofMillis(500)).until(() -> {
        last.set(0, leftovers(sessionsEnded, 130));
        return last.get(0).isEmpty();
      });
    } catch (org.awaitility.core.ConditionTimeoutException e) {
      throw new AssertionError("keys left behind in Redis, still there after " + atMost.toMillis() + " ms"
          + (sessionsEnded ? " once every session had ended" : "") + ": " + last.get(0));
    }
  }

  @Override
  public void close() {
    // every step on its own: a failing one must not leave processes running
    quietly(() -> loads.forEach(FaultLoad::close));
    quietly(vertx::close);
    if (lb != null) {
      quietly(lb::close);
    }
    for (int i = 0; i < 3; i++) {
      XboshProcess pod = pods[i];
      if (pod != null) {
        quietly(() -> pod.signal("CONT"));
        quietly(pod::close);
      }
    }
    if (prosody != null) {
      quietly(prosody::close);
    }
    if (redis != null) {
      quietly(redis::close);
    }
    if (cluster != null) {
      quietly(cluster::close);
    }
    try (Stream<Path> files = Files.walk(dir)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // temp dir; best effort
    }
  }
}
