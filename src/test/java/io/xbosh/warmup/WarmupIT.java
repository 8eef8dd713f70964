package io.xbosh.warmup;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.net.NetServer;
import io.xbosh.Xbosh;
import io.xbosh.config.XboshConfig;
import io.xbosh.testing.OneClientAddress;
import io.xbosh.testing.RedisProcess;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The warm-up before {@code /ready}: the pod is not ready until it is over, it runs its sessions
 * through a throwaway pod of its own (no key of the real store, no connection to the real XMPP
 * server), and with the warm-up off the pod is ready as soon as it listens.
 */
class WarmupIT {

  private static Vertx vertx;
  private static RedisProcess redis;
  /** Stands where the real XMPP server would be: the warm-up must never connect to it. */
  private static NetServer upstream;
  private static final AtomicInteger upstreamConnections = new AtomicInteger();

  @BeforeAll
  static void start() throws Exception {
    vertx = Vertx.vertx();
    redis = RedisProcess.start();
    upstream = vertx.createNetServer().connectHandler(s -> {
      upstreamConnections.incrementAndGet();
      s.close();
    }).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS);
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
    env.put("XBOSH_UPSTREAM", "127.0.0.1:" + upstream.actualPort());
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
        .filter(k -> !k.isEmpty() && !k.startsWith("xb:{pods}")).toList();
  }

  @Test
  void readinessStaysFalseUntilTheWarmUpIsOverAndNothingRealIsTouched() throws Exception {
    Xbosh pod = startPod("warm-pod", "XBOSH_WARMUP_SESSIONS", "30", "XBOSH_WARMUP_SECONDS", "120", "XBOSH_WARMUP_CONCURRENCY", "4");
    try {
      // the pod listens (and would serve a client that reached it) but tells the deployment to wait
      assertThat(ready(pod)).isEqualTo("503 warming up");
      assertThat(pod.warmedUp().isComplete()).isFalse();
      Warmup.Report report = pod.warmedUp().await(120, TimeUnit.SECONDS);
      assertThat(report.sessions()).isEqualTo(30);
      assertThat(report.failed()).isZero();
      assertThat(ready(pod)).isEqualTo("200 ready");
      assertThat(sessionKeys()).as("no session of the warm-up in the real store").isEmpty();
      assertThat(upstreamConnections.get()).as("no connection to the real XMPP server").isZero();
      assertThat(pod.pod().ownedSessions()).isZero();
    } finally {
      pod.stop().await(20, TimeUnit.SECONDS);
    }
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
  void aWarmUpStoppedWithThePodEndsEarly() throws Exception {
    Xbosh pod = startPod("stopped-pod", "XBOSH_WARMUP_SESSIONS", "100000", "XBOSH_WARMUP_SECONDS", "600");
    pod.stop().await(60, TimeUnit.SECONDS);
    Warmup.Report report = pod.warmedUp().await(10, TimeUnit.SECONDS);
    assertThat(report.sessions()).isLessThan(100000);
    assertThat(upstreamConnections.get()).isZero();
  }
}
