package io.xbosh.warmup;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.EventLoop;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.http.HttpClient;
import io.xbosh.Xbosh;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.xbosh.config.XboshConfig;
import io.xbosh.session.RedisSessionStore;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.OneClientAddress;
import io.xbosh.testing.RedisProcess;
import java.net.URI;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The warm-up before {@code /ready}, against a real redis-server: the pod is not ready until it
 * is over; its sessions go through the pod's own listener and its Redis store (the scripts run)
 * but never to the real XMPP server; afterwards no key of them is left, and a live session of
 * another pod on the same Redis is neither changed nor disturbed. With the warm-up off the pod is
 * ready as soon as it listens.
 */
class WarmupIT {

  private static final String DOMAIN = "real.test";
  private static Vertx vertx;
  private static RedisProcess redis;
  /** Stands where the real XMPP server is (it logs anyone in): the warm-up must never connect to it. */
  private static WarmupXmppServer upstream;
  private static int upstreamPort;

  @BeforeAll
  static void start() throws Exception {
    vertx = Vertx.vertx();
    redis = RedisProcess.start();
    upstream = new WarmupXmppServer(vertx, DOMAIN);
    upstreamPort = upstream.start().await(10, TimeUnit.SECONDS);
  }

  @AfterAll
  static void stop() throws Exception {
    if (upstream != null) {
      upstream.close().await(10, TimeUnit.SECONDS);
    }
    if (redis != null) {
      redis.close();
    }
    if (vertx != null) {
      vertx.close().await(20, TimeUnit.SECONDS);
    }
  }

  private static Xbosh startPod(String nodeId, String... settings) throws Exception {
    Map<String, String> env = new HashMap<>(OneClientAddress.withLimitsOff(Map.of()));
    env.put("XBOSH_HTTP_HOST", "127.0.0.1");
    env.put("XBOSH_HTTP_PORT", "0");
    env.put("XBOSH_NODE_ID", nodeId);
    env.put("XBOSH_EVENT_LOOPS", "2");
    env.put("XBOSH_REDIS_URL", redis.url());
    env.put("XBOSH_UPSTREAM", "127.0.0.1:" + upstreamPort);
    for (int i = 0; i < settings.length; i += 2) {
      env.put(settings[i], settings[i + 1]);
    }
    return Xbosh.start(vertx, XboshConfig.from(env)).await(20, TimeUnit.SECONDS);
  }

  private static String ready(Xbosh pod) throws Exception {
    HttpClient client = vertx.createHttpClient();
    try {
      return client.request(io.vertx.core.http.HttpMethod.GET, pod.port(), "127.0.0.1", "/ready")
          .compose(req -> req.send().compose(res -> res.body().map(b -> res.statusCode() + " " + b)))
          .await(10, TimeUnit.SECONDS);
    } finally {
      client.close().await(10, TimeUnit.SECONDS);
    }
  }

  /** Session keys of the store ({@code xb:{sid}...}), leaving out the deployment's pod records. */
  private static List<String> sessionKeys() throws Exception {
    return Arrays.stream(redis.cli("--scan", "--pattern", "xb:*").split("\n")).map(String::trim)
        .filter(k -> !k.isEmpty() && !k.startsWith("xb:{pods}")).sorted().toList();
  }

  /** Members of every pod's set of owned sessions. */
  private static List<String> ownedSessions() throws Exception {
    List<String> all = new java.util.ArrayList<>();
    for (String key : redis.cli("--scan", "--pattern", "xb:{pods}:owned:*").split("\n")) {
      if (!key.isBlank()) {
        Arrays.stream(redis.cli("SMEMBERS", key.trim()).split("\n")).map(String::trim).filter(m -> !m.isEmpty()).forEach(all::add);
      }
    }
    return all;
  }

  /** A session's hash, field by field. */
  private static Map<String, String> hash(String sid) throws Exception {
    String[] lines = redis.cli("HGETALL", "xb:{" + sid + "}").split("\n", -1);
    Map<String, String> m = new TreeMap<>();
    for (int i = 0; i + 1 < lines.length; i += 2) {
      m.put(lines[i], lines[i + 1]);
    }
    return m;
  }

  /** Script calls Redis has run so far ({@code INFO commandstats}): functions, and scripts (the pod bus's). */
  private static long scriptCalls() throws Exception {
    Matcher m = Pattern.compile("cmdstat_(?:fcall|evalsha):calls=(\\d+)").matcher(redis.cli("INFO", "commandstats"));
    long calls = 0;
    while (m.find()) {
      calls += Long.parseLong(m.group(1));
    }
    return calls;
  }

  @Test
  void theWarmUpRunsThroughTheRedisStoreLeavesNoKeyAndDoesNotDisturbALiveSession() throws Exception {
    Xbosh live = startPod("live-pod", "XBOSH_WARMUP_SESSIONS", "0");
    Xbosh pod = null;
    java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
    try {
      URI liveUri = URI.create("http://127.0.0.1:" + live.port() + "/http-bind");
      BoshSession alice = BoshSession.login(http, List.of(liveUri), DOMAIN, "alice", "pw", "desk", 1);
      List<String> keysBefore = sessionKeys();
      Map<String, String> aliceBefore = hash(alice.sid);
      assertThat(keysBefore).contains("xb:{" + alice.sid + "}");
      int upstreamConnections = upstream.connections();
      long scriptsBefore = scriptCalls();

      pod = startPod("warm-pod", "XBOSH_WARMUP_SESSIONS", "30", "XBOSH_WARMUP_SECONDS", "120", "XBOSH_WARMUP_CONCURRENCY", "4",
          // a client address gets 1 creation a second: the warm-up's own are not counted
          "XBOSH_CREATES_PER_SECOND", "1");
      // the pod listens (and would serve a client that reached it) but tells the deployment to wait
      assertThat(ready(pod)).isEqualTo("503 warming up");
      Warmup.Report report = pod.warmedUp().await(120, TimeUnit.SECONDS);
      assertThat(report.sessions()).isEqualTo(30);
      assertThat(report.failed()).isZero();
      assertThat(ready(pod)).isEqualTo("200 ready");

      // it ran through the Redis store: create, accept, deliver, release, terminate for each session
      assertThat(scriptCalls() - scriptsBefore).as("scripts the warm-up ran in Redis").isGreaterThan(30L * 20);
      assertThat(pod.pod().metrics().registry().find("xbosh.sessions.created").counters().stream()
          .mapToDouble(c -> c.count()).sum()).isGreaterThanOrEqualTo(30);
      // and left nothing: the keys are those of before, alice's record unchanged, no ownership record
      assertThat(sessionKeys()).as("no session of the warm-up left in the store").isEqualTo(keysBefore);
      assertThat(hash(alice.sid)).isEqualTo(aliceBefore);
      assertThat(ownedSessions()).noneMatch(s -> s.startsWith(WarmupRoute.SID_PREFIX)).contains(alice.sid);
      assertThat(upstream.connections()).as("no connection of the warm-up to the real XMPP server").isEqualTo(upstreamConnections);
      assertThat(pod.pod().ownedSessions()).isZero();

      // alice's session still works: a message to the server comes back through it
      List<String> seen = new java.util.ArrayList<>();
      seen.add(alice.send("<message xmlns='jabber:client' to='echo@" + DOMAIN + "' type='chat'><body>still here</body></message>").body());
      assertThat(alice.awaitBody(b -> b.contains("<body>still here</body>"), seen)).contains("from=\"echo@" + DOMAIN + "/e\"");
    } finally {
      if (pod != null) {
        pod.stop().await(20, TimeUnit.SECONDS);
      }
      live.stop().await(20, TimeUnit.SECONDS);
    }
  }

  /**
   * The pool's connections are opened on the listeners' event loops, a share each, so that a
   * script sent from a listener's loop goes over a connection of that loop (the pool lends one of
   * the caller's own loop first) and crosses no thread. Before, the warm-up opened them all from its
   * own loop: with the pool full, a listener whose own connections were busy borrowed one of those,
   * and about half the scripts of a warm pod crossed threads twice.
   */
  @Test
  void theWarmUpOpensThePoolOnTheListenersEventLoops() throws Exception {
    // 10: five per listener, less the one or two the pod's heartbeat holds; the clean-up's twelve
    // DELs at once would fill the pool from the loop they are sent from
    Xbosh pod = startPod("pool-pod", "XBOSH_WARMUP_SESSIONS", "12", "XBOSH_WARMUP_CONCURRENCY", "2", "XBOSH_REDIS_POOL_SIZE", "10");
    try {
      pod.warmedUp().await(60, TimeUnit.SECONDS);
      Redis redis = storeClient(pod);
      List<Context> loops = pod.eventLoops();
      assertThat(loops).hasSize(2);
      for (Context loop : loops) {
        // two at once (a loop has four or five of its own; before, one or none): both the loop's own
        List<EventLoop> lent = leaseAtOnce(loop, redis, 2);
        assertThat(lent).as("event loops of the connections lent to a listener's loop").hasSize(2)
            .allMatch(l -> l == ((ContextInternal) loop).nettyEventLoop());
      }
    } finally {
      pod.stop().await(20, TimeUnit.SECONDS);
    }
  }

  /** The pod's pooled Redis client (the store keeps it to itself). */
  private static Redis storeClient(Xbosh pod) throws Exception {
    java.lang.reflect.Field f = RedisSessionStore.class.getDeclaredField("redis");
    f.setAccessible(true);
    return (Redis) f.get(pod.pod().store());
  }

  /**
   * Leases {@code n} pooled connections at once from {@code loop} and gives them back; the event
   * loop each belongs to, read from the client's connection (which keeps it to itself).
   */
  private static List<EventLoop> leaseAtOnce(Context loop, Redis redis, int n) throws Exception {
    io.vertx.core.Promise<List<EventLoop>> lent = io.vertx.core.Promise.promise();
    loop.runOnContext(v -> {
      List<Future<RedisConnection>> leases = new java.util.ArrayList<>();
      for (int i = 0; i < n; i++) {
        leases.add(redis.connect());
      }
      Future.all(leases).onComplete(ar -> {
        List<EventLoop> where = new java.util.ArrayList<>();
        try {
          for (Future<RedisConnection> c : leases) {
            if (c.succeeded()) {
              Object actual = ((io.vertx.redis.client.impl.PooledRedisConnection) c.result()).actual();
              java.lang.reflect.Field ctx = actual.getClass().getDeclaredField("context");
              ctx.setAccessible(true);
              where.add(((ContextInternal) ctx.get(actual)).nettyEventLoop());
              c.result().close();
            }
          }
          lent.complete(where);
        } catch (ReflectiveOperationException e) {
          lent.fail(e);
        }
      });
    });
    return lent.future().await(10, TimeUnit.SECONDS);
  }

  @Test
  void aPodWithTheWarmUpOffIsReadyAtOnce() throws Exception {
    Xbosh pod = startPod("cold-pod", "XBOSH_WARMUP_SESSIONS", "0");
    try {
      assertThat(pod.warmedUp().isComplete()).isTrue();
      assertThat(ready(pod)).isEqualTo("200 ready");
    } finally {
      pod.stop().await(20, TimeUnit.SECONDS);
    }
  }

  @Test
  void aWarmUpStoppedWithThePodEndsEarlyAndLeavesNoKey() throws Exception {
    List<String> keysBefore = sessionKeys();
    int upstreamConnections = upstream.connections();
    Xbosh pod = startPod("stopped-pod", "XBOSH_WARMUP_SESSIONS", "100000", "XBOSH_WARMUP_SECONDS", "600");
    // stopped while its sessions are under way, their records in Redis
    org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(60)).pollInterval(java.time.Duration.ofMillis(10))
        .until(() -> pod.pod().ownedSessions() > 0 && sessionKeys().stream().anyMatch(k -> k.startsWith("xb:{" + WarmupRoute.SID_PREFIX)));
    pod.stop().await(60, TimeUnit.SECONDS);
    Warmup.Report report = pod.warmedUp().await(10, TimeUnit.SECONDS);
    assertThat(report.sessions()).isLessThan(100000);
    assertThat(upstream.connections()).isEqualTo(upstreamConnections);
    assertThat(sessionKeys()).isEqualTo(keysBefore);
  }
}
