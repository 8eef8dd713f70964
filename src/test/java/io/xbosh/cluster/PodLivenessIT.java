package io.xbosh.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.xbosh.testing.BoshSession;
import io.xbosh.testing.ProsodyProcess;
import io.xbosh.testing.RedisProcess;
import io.xbosh.testing.XboshProcess;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Pod liveness judged from evidence that survives a Redis outage: three pods in JVMs of their own
 * on one redis-server that keeps its data, with short heartbeats. Faults of Redis end no session of
 * a live pod; a pod that is really gone (killed, or frozen past the dead time) is reaped every time.
 */
@TestMethodOrder(MethodOrderer.MethodName.class)
class PodLivenessIT {

  static final String DOMAIN = ProsodyProcess.DOMAIN;
  static final int HEARTBEAT_MS = 500;
  static final int DEAD_MS = 3000;
  /** How long after it can judge again a survivor has reaped a dead pod, with room for a loaded machine. */
  static final long REAP_BOUND_MS = DEAD_MS + 2 * HEARTBEAT_MS + 5000;
  /** Redis outages injected last this long after every pod noticed: twice the dead time. */
  static final long OUTAGE_MS = 2 * DEAD_MS;
  /** A blip: shorter than the dead time by more than two heartbeats. */
  static final long BLIP_MS = 600;
  static final String FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

  static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();
  static ProsodyProcess prosody;
  static Path dataDir;
  static int redisPort;
  static RedisProcess redis;
  static final List<XboshProcess> pods = new ArrayList<>();
  static final List<BoshSession> sessions = new ArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    dataDir = Files.createTempDirectory("xbosh-liveness");
    redisPort = RedisProcess.freePort();
    redis = RedisProcess.startKeepingData(redisPort, dataDir);
    prosody = ProsodyProcess.start(Map.of("alice", "alicepw", "bob", "bobpw", "carol", "carolpw", "dave", "davepw"));
    for (String id : List.of("live-a", "live-b", "live-c")) {
      pods.add(XboshProcess.start(id, env()));
    }
    // one session owned by each pod (its creation goes to the owner), used across every test
    String[] users = {"alice", "bob", "carol"};
    for (int i = 0; i < pods.size(); i++) {
      sessions.add(BoshSession.login(http, rotation(i), DOMAIN, users[i], users[i] + "pw", "live-" + i, 5));
    }
    for (XboshProcess pod : pods) {
      awaitJudging(pod, 1);
    }
  }

  @AfterAll
  static void stop() throws IOException {
    pods.forEach(p -> {
      p.close();
      System.out.println("---- " + p.nodeId() + "\n" + p.output());
    });
    pods.clear();
    if (prosody != null) {
      prosody.close();
    }
    if (redis != null) {
      redis.close();
    }
    try (var files = Files.walk(dataDir)) {
      for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(f);
      }
    }
  }

  /** After each fault: no pod reaped a live pod, and every live pod's session still answers. */
  @AfterEach
  void liveSessionsSurvived() throws Exception {
    for (XboshProcess p : extra) {
      p.close();
      System.out.println("---- " + p.nodeId() + "\n" + p.output());
    }
    extra.clear();
    for (XboshProcess pod : pods) {
      assertThat(pod.output()).as(pod.nodeId() + " reaped a live pod").doesNotContainPattern("pod live-. \\(incarnation");
      assertThat(pod.output()).as(pod.nodeId() + " was declared dead").doesNotContain("was declared dead");
    }
    for (int i = 0; i < sessions.size(); i++) {
      assertThat(ping(sessions.get(i))).as("session owned by " + pods.get(i).nodeId()).contains("type=\"result\"");
    }
  }

  /**
   * An XMPP ping, polling until its answer; a request that failed on the way (a refused 503, a
   * keep-alive connection closed under it) is resent with the same rid, as a client does.
   */
  static String ping(BoshSession s) throws Exception {
    String id = "p" + System.nanoTime();
    String payload = "<iq xmlns='jabber:client' type='get' id='" + id + "'><ping xmlns='urn:xmpp:ping'/></iq>";
    long deadline = System.nanoTime() + 30_000_000_000L;
    while (System.nanoTime() < deadline) {
      HttpResponse<String> r;
      try {
        r = BoshSession.post(http, s.nextEndpoint(), s.nextBody(payload));
      } catch (IOException e) {
        s.rid--;
        continue;
      }
      if (r.statusCode() != 200) {
        s.rid--;
        continue;
      }
      assertThat(r.body()).doesNotContain("type=\"terminate\"");
      if (r.body().contains("id=\"" + id + "\"")) {
        return r.body();
      }
      payload = "";
    }
    throw new AssertionError("no answer to the ping of " + s.sid);
  }

  static Map<String, String> env() {
    Map<String, String> env = new HashMap<>();
    env.put("XBOSH_REDIS_URL", "redis://127.0.0.1:" + redisPort);
    env.put("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort());
    env.put("XBOSH_SWEEP_MS", "200");
    env.put("XBOSH_DRAIN_SECONDS", "1");
    env.put("XBOSH_HEARTBEAT_MS", Integer.toString(HEARTBEAT_MS));
    env.put("XBOSH_POD_DEAD_MS", Integer.toString(DEAD_MS));
    // the three shared sessions sit unpolled while a test runs, which on a loaded machine (a
    // pod under libfaketime starts slowly) can pass the default 60 s of inactivity
    env.put("XBOSH_INACTIVITY", "600");
    return env;
  }

  static List<URI> rotation(int first) {
    List<URI> all = new ArrayList<>();
    for (int i = 0; i < pods.size(); i++) {
      all.add(pods.get((first + i) % pods.size()).endpoint());
    }
    return all;
  }

  static int count(XboshProcess pod, String text) {
    Matcher m = Pattern.compile(Pattern.quote(text)).matcher(pod.output());
    int n = 0;
    while (m.find()) {
      n++;
    }
    return n;
  }

  static final String JUDGING = "judging other pods' liveness";

  static final List<XboshProcess> extra = new ArrayList<>();

  /** A pod a test starts of its own; its log goes to the test output afterwards. */
  static XboshProcess extraPod(String id, Map<String, String> env) throws IOException {
    XboshProcess p = XboshProcess.start(id, env);
    extra.add(p);
    return p;
  }

  /** Waits until the pod has logged that it judges the others for the {@code n}th time. */
  static void awaitJudging(XboshProcess pod, int n) {
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).until(() -> count(pod, JUDGING) >= n);
  }

  static int status(URI uri) {
    try {
      return http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5)).GET().build(),
          HttpResponse.BodyHandlers.ofString()).statusCode();
    } catch (Exception e) {
      return -1;
    }
  }

  static URI ready(XboshProcess pod) {
    return URI.create("http://127.0.0.1:" + pod.port() + "/ready");
  }

  /** Polls through the given pod until a terminate comes back; returns it. */
  static String pollUntilTerminate(BoshSession s, URI via, long timeoutMs) throws Exception {
    long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
    while (System.nanoTime() < deadline) {
      HttpResponse<String> r = BoshSession.post(http, via, s.nextBody(""));
      if (r.body().contains("type=\"terminate\"")) {
        return r.body();
      }
      if (r.statusCode() != 200) {
        s.rid--; // a retriable refusal: the client resends the same rid
      }
    }
    throw new AssertionError("no terminate within " + timeoutMs + " ms");
  }

  /** Each pod's count of a log line, to wait for one more of each after a fault. */
  static int[] counts(String text) {
    return pods.stream().mapToInt(p -> count(p, text)).toArray();
  }

  static void awaitEachLogged(String text, int[] before) {
    for (int i = 0; i < pods.size(); i++) {
      int idx = i;
      await().atMost(Duration.ofSeconds(40)).pollInterval(Duration.ofMillis(100))
          .until(() -> count(pods.get(idx), text) > before[idx]);
    }
  }

  @Test
  void l00_aSubSecondRedisBlipTakesNoPodOutOfTheLoadBalancer() throws Exception {
    java.util.concurrent.atomic.AtomicInteger unready = new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.atomic.AtomicBoolean sampling = new java.util.concurrent.atomic.AtomicBoolean(true);
    Thread sampler = new Thread(() -> {
      while (sampling.get()) {
        pods.forEach(p -> {
          if (status(ready(p)) != 200) {
            unready.incrementAndGet();
          }
        });
      }
    });
    sampler.start();
    long downMs;
    try {
      long downAt = System.nanoTime();
      redis.close();
      // down for a good part of a second (the length of the blip is the fault injected)
      await().during(Duration.ofMillis(BLIP_MS)).atMost(Duration.ofSeconds(5)).until(() -> !redis.isAlive());
      redis = RedisProcess.startKeepingData(redisPort, dataDir);
      downMs = (System.nanoTime() - downAt) / 1_000_000;
      // every pod has beaten again since the restart (its score is from after it)
      long restartedAt = redisMillis();
      for (XboshProcess pod : pods) {
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(100)).until(() ->
            (long) Double.parseDouble(redis.cli("ZSCORE", "xb:{pods}", pod.nodeId())) - DEAD_MS > restartedAt);
      }
    } finally {
      sampling.set(false);
      sampler.join();
    }
    org.junit.jupiter.api.Assumptions.assumeTrue(downMs < DEAD_MS - 2 * HEARTBEAT_MS,
        "the restart took " + downMs + " ms on this machine: not a blip");
    assertThat(unready.get()).as("failed /ready samples during a " + downMs + " ms blip").isZero();
    System.out.println("redis blip of " + downMs + " ms: every pod stayed ready");
  }

  @Test
  void l01_redisRestartedWithItsDataKeptEndsNoSessionOfALivePod() throws Exception {
    int[] judged = counts(JUDGING);
    redis.close();
    long downAt = System.nanoTime();
    try {
      // every pod notices and leaves the load balancer; the outage then lasts well past the dead time
      await().atMost(Duration.ofSeconds(20)).until(() -> pods.stream().allMatch(p -> status(ready(p)) == 503));
      await().during(Duration.ofMillis(OUTAGE_MS)).atMost(Duration.ofSeconds(20))
          .until(() -> pods.stream().allMatch(p -> status(ready(p)) == 503));
    } finally {
      redis = RedisProcess.startKeepingData(redisPort, dataDir);
    }
    long downMs = (System.nanoTime() - downAt) / 1_000_000;
    assertThat(downMs).isGreaterThan(OUTAGE_MS);
    // every pod has beaten long enough after the restart to judge the others again: none was reaped
    awaitEachLogged(JUDGING, judged);
    for (XboshProcess pod : pods) {
      assertThat(status(ready(pod))).isEqualTo(200);
    }
    System.out.println("redis down " + downMs + " ms: no live pod's session ended");
  }

  @Test
  void l02_clientPauseOfFiveSecondsEndsNoSessionOfALivePod() throws Exception {
    int[] judged = counts(JUDGING);
    int[] gaps = counts("between two heartbeats on Redis' clock");
    assertThat(redis.cli("CLIENT", "PAUSE", "5000", "ALL")).isEqualTo("OK");
    // each pod saw the gap in its own beats, and judged the others again only after the grace
    awaitEachLogged("between two heartbeats on Redis' clock", gaps);
    awaitEachLogged(JUDGING, judged);
  }

  @Test
  void l03_aCrashLoopingPodIsReapedOnEveryDeathAndLeavesNoKeys() throws Exception {
    for (int round = 1; round <= 2; round++) {
      long reapMs;
      try (XboshProcess looping = extraPod("looping", env())) {
        List<URI> viaLooping = List.of(looping.endpoint(), pods.get(0).endpoint(), pods.get(1).endpoint());
        BoshSession victim = BoshSession.login(http, viaLooping, DOMAIN, "dave", "davepw", "loop-" + round, 5);
        assertThat(redis.cli("SISMEMBER", "xb:{pods}:owned:looping", victim.sid)).isEqualTo("1");
        looping.kill();
        long killedAt = System.nanoTime();
        String end = pollUntilTerminate(victim, pods.get(1).endpoint(), REAP_BOUND_MS + 5000);
        reapMs = (System.nanoTime() - killedAt) / 1_000_000;
        assertThat(end).contains("condition=\"internal-server-error\"");
      }
      assertThat(reapMs).as("round " + round + ": kill -9 to the session's end").isLessThan(REAP_BOUND_MS);
      // nothing of the dead incarnation is left but the reaped marker, which expires
      assertThat(redis.cli("EXISTS", "xb:{pods}:owned:looping")).isEqualTo("0");
      assertThat(redis.cli("ZSCORE", "xb:{pods}", "looping")).isEmpty();
      assertThat(redis.cli("HEXISTS", "xb:{pods}:inc", "looping")).isEqualTo("0");
      long markerTtl = Long.parseLong(redis.cli("PTTL", "xb:{pods}:reaped:looping"));
      assertThat(markerTtl).isBetween(1L, 60_000L);
      System.out.println("crash loop round " + round + ": session ended " + reapMs + " ms after kill -9");
    }
  }

  @Test
  void l04_aPodFrozenPastTheDeadTimeIsReapedAndOnWakingClosesItsLinksAndRejoins() throws Exception {
    try (XboshProcess frozen = extraPod("frozen", env())) {
      List<URI> viaFrozen = List.of(frozen.endpoint(), pods.get(0).endpoint(), pods.get(1).endpoint());
      BoshSession victim = BoshSession.login(http, viaFrozen, DOMAIN, "dave", "davepw", "frozen", 5);
      assertThat(ownedSessions(frozen)).isEqualTo(1);
      frozen.freeze();
      long frozenAt = System.nanoTime();
      String end;
      try {
        end = pollUntilTerminate(victim, pods.get(2).endpoint(), REAP_BOUND_MS + 5000);
      } finally {
        frozen.thaw();
      }
      long reapMs = (System.nanoTime() - frozenAt) / 1_000_000;
      assertThat(end).contains("condition=\"internal-server-error\"");
      // on waking it learns it was declared dead, closes the link and joins again as a new incarnation
      await().atMost(Duration.ofSeconds(20)).until(() -> frozen.output().contains("was declared dead"));
      await().atMost(Duration.ofSeconds(20)).until(() -> ownedSessions(frozen) == 0);
      await().atMost(Duration.ofSeconds(20)).until(() -> status(ready(frozen)) == 200);
      assertThat(count(frozen, "joined as incarnation")).isEqualTo(2);
      // and serves again: a new session owned by it works
      BoshSession fresh = BoshSession.login(http, viaFrozen, DOMAIN, "dave", "davepw", "thawed", 5);
      assertThat(BoshSession.pingResult(fresh, DOMAIN, "thawed-ping")).contains("type=\"result\"");
      System.out.println("frozen pod's session ended " + reapMs + " ms after SIGSTOP");
    }
  }

  @Test
  void l05_aPodKilledDuringARedisOutageIsReapedSoonAfterRedisReturns() throws Exception {
    int[] judged = counts(JUDGING);
    long backAt;
    BoshSession victim;
    try (XboshProcess doomed = extraPod("doomed", env())) {
      List<URI> viaDoomed = List.of(doomed.endpoint(), pods.get(0).endpoint(), pods.get(1).endpoint());
      victim = BoshSession.login(http, viaDoomed, DOMAIN, "dave", "davepw", "doomed", 5);
      redis.close();
      try {
        for (XboshProcess pod : pods) {
          await().atMost(Duration.ofSeconds(20)).until(() -> status(ready(pod)) == 503);
        }
        doomed.kill();
      } finally {
        redis = RedisProcess.startKeepingData(redisPort, dataDir);
      }
      backAt = System.nanoTime();
    }
    String end = pollUntilTerminate(victim, pods.get(2).endpoint(), REAP_BOUND_MS + 10_000);
    long afterMs = (System.nanoTime() - backAt) / 1_000_000;
    assertThat(end).contains("condition=\"internal-server-error\"");
    assertThat(afterMs).as("Redis back to the dead pod's session ended").isLessThan(REAP_BOUND_MS);
    awaitEachLogged(JUDGING, judged);
    System.out.println("pod killed during a Redis outage: its session ended " + afterMs + " ms after Redis came back");
  }

  /** A pod restarted under its id before anyone reaped it ends its previous run's sessions itself. */
  @Test
  void l07_aPodRestartedUnderItsIdBeforeItWasReapedEndsItsPreviousRunsSessions() throws Exception {
    Map<String, String> env = env();
    env.put("XBOSH_POD_DEAD_MS", "60000"); // nobody reaps it within the test
    BoshSession before;
    try (XboshProcess first = extraPod("restarting", env)) {
      before = BoshSession.login(http, List.of(first.endpoint(), pods.get(0).endpoint()), DOMAIN, "dave", "davepw", "run-1", 5);
      first.kill();
    }
    try (XboshProcess second = extraPod("restarting", env)) {
      long startedAt = System.nanoTime();
      String end = pollUntilTerminate(before, pods.get(1).endpoint(), 20_000);
      assertThat(end).contains("condition=\"internal-server-error\"");
      assertThat(second.output()).contains("1 sessions were owned by a previous run of pod restarting");
      assertThat(redis.cli("SISMEMBER", "xb:{pods}:owned:restarting", before.sid)).isEqualTo("0");
      System.out.println("restarted pod ended its previous run's session " + (System.nanoTime() - startedAt) / 1_000_000
          + " ms after it was listening");
    }
  }

  /**
   * Two processes given one pod id: the second ends the sessions the first owned as it joins; the
   * first finds another incarnation registered under its id, closes its links and stays unready.
   */
  @Test
  void l08_aSecondProcessUnderOnePodIdTakesOverAndTheFirstStepsAside() throws Exception {
    try (XboshProcess older = extraPod("twin", env())) {
      BoshSession first = BoshSession.login(http, List.of(older.endpoint(), pods.get(0).endpoint()), DOMAIN, "dave",
          "davepw", "twin-1", 5);
      try (XboshProcess newer = extraPod("twin", env())) {
        String end = pollUntilTerminate(first, pods.get(1).endpoint(), 20_000);
        assertThat(end).contains("condition=\"internal-server-error\"");
        await().atMost(Duration.ofSeconds(20)).until(() -> older.output().contains("another process joined under pod id twin"));
        await().atMost(Duration.ofSeconds(20)).until(() -> ownedSessions(older) == 0 && status(ready(older)) == 503);
        BoshSession second = BoshSession.login(http, List.of(newer.endpoint(), pods.get(0).endpoint()), DOMAIN, "dave",
            "davepw", "twin-2", 5);
        assertThat(ping(second)).contains("type=\"result\"");
        assertThat(status(ready(newer))).isEqualTo(200);
        assertThat(status(ready(older))).isEqualTo(503);
      }
    }
  }

  /**
   * A pod whose wall clock is 10 s behind (libfaketime) is judged like any other: its heartbeat is
   * scored on Redis' clock, so no pod reaps it and it reaps nobody.
   */
  @Test
  void l06_aPodsWallClockIsIrrelevantToLiveness() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(Path.of(FAKETIME)), "libfaketime is not installed");
    Map<String, String> env = env();
    env.put("LD_PRELOAD", FAKETIME);
    env.put("FAKETIME", "-10s");
    env.put("DONT_FAKE_MONOTONIC", "1");
    try (XboshProcess skewed = extraPod("skewed", env)) {
      List<URI> viaSkewed = List.of(skewed.endpoint(), pods.get(0).endpoint(), pods.get(1).endpoint());
      BoshSession owned = BoshSession.login(http, viaSkewed, DOMAIN, "dave", "davepw", "skewed", 5);
      // its score is Redis' time plus the dead time, whatever its own clock says
      long redisNow = Long.parseLong(redis.cli("TIME").lines().findFirst().orElseThrow()) * 1000;
      long score = (long) Double.parseDouble(redis.cli("ZSCORE", "xb:{pods}", "skewed"));
      assertThat(score - DEAD_MS).isBetween(redisNow - 3000, redisNow + 3000);
      // for three dead times with every pod judging, nobody is reaped
      try {
        awaitJudging(skewed, 1);
        await().during(Duration.ofMillis(3L * DEAD_MS)).atMost(Duration.ofSeconds(20)).until(() ->
            pods.stream().noneMatch(p -> p.output().contains("pod skewed (incarnation"))
                && !skewed.output().contains("(incarnation"));
      } catch (org.awaitility.core.ConditionTimeoutException e) {
        throw new AssertionError("a pod was reaped:\n" + skewed.output(), e);
      }
      assertThat(BoshSession.pingResult(owned, DOMAIN, "skewed-ping")).contains("type=\"result\"");
    }
  }

  /** Redis' clock, in ms. */
  static long redisMillis() throws Exception {
    List<String> t = redis.cli("TIME").lines().toList();
    return Long.parseLong(t.get(0)) * 1000 + Long.parseLong(t.get(1)) / 1000;
  }

  static final Pattern OWNED = Pattern.compile("(?m)^xbosh_sessions_owned(?:\\{[^}]*\\})? ([0-9.]+)");

  static int ownedSessions(XboshProcess pod) throws Exception {
    String metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + pod.port() + "/metrics")).GET().build(),
        HttpResponse.BodyHandlers.ofString()).body();
    Matcher m = OWNED.matcher(metrics);
    if (!m.find()) {
      throw new AssertionError("no xbosh_sessions_owned in\n" + metrics);
    }
    return (int) Double.parseDouble(m.group(1));
  }
}
