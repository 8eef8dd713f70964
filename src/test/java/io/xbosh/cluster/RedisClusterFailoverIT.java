package io.xbosh.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.xbosh.testing.BoshSession;
import io.xbosh.testing.ProsodyProcess;
import io.xbosh.testing.RedisClusterProcess;
import io.xbosh.testing.RedisProcess;
import io.xbosh.testing.XboshProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A Redis Cluster of three masters with a replica each, three pods in JVMs of their own: kill -9 of
 * a master touches only the sessions of its slots while its replica takes over; the pods stay
 * ready, their channels and heartbeats move on, and no session ends.
 */
class RedisClusterFailoverIT {

  static final String DOMAIN = ProsodyProcess.DOMAIN;
  static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();
  static RedisClusterProcess cluster;
  static ProsodyProcess prosody;
  static final List<XboshProcess> pods = new ArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    cluster = RedisClusterProcess.startWithReplicas();
    prosody = ProsodyProcess.start(Map.of("alice", "alicepw", "bob", "bobpw", "carol", "carolpw", "dave", "davepw"));
    Map<String, String> env = new HashMap<>();
    env.put("XBOSH_REDIS_URL", cluster.urls());
    env.put("XBOSH_REDIS_CLUSTER", "true");
    env.put("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort());
    env.put("XBOSH_SWEEP_MS", "200");
    env.put("XBOSH_HEARTBEAT_MS", "500");
    env.put("XBOSH_POD_DEAD_MS", "3000");
    for (String id : List.of("fo-a", "fo-b", "fo-c")) {
      pods.add(XboshProcess.start(id, env));
    }
  }

  @AfterAll
  static void stop() {
    pods.forEach(p -> {
      p.close();
      System.out.println("---- " + p.nodeId() + "\n" + p.output());
    });
    if (prosody != null) {
      prosody.close();
    }
    if (cluster != null) {
      cluster.close();
    }
  }

  static List<URI> rotation(int first) {
    List<URI> all = new ArrayList<>();
    for (int i = 0; i < pods.size(); i++) {
      all.add(pods.get((first + i) % pods.size()).endpoint());
    }
    return all;
  }

  static int status(URI uri) {
    try {
      return http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5)).GET().build(),
          HttpResponse.BodyHandlers.ofString()).statusCode();
    } catch (Exception e) {
      return -1;
    }
  }

  /** The node each pod's channel is subscribed on (CLIENT LIST of every live node). */
  static Set<RedisProcess> channelNodes() throws Exception {
    Set<RedisProcess> on = new LinkedHashSet<>();
    for (RedisProcess n : cluster.nodes()) {
      if (n.isAlive() && java.util.regex.Pattern.compile(" sub=[1-9]").matcher(n.cli("client", "list")).find()) {
        on.add(n);
      }
    }
    return on;
  }

  /** Whether a running master serves the key's slot (while the cluster fails over, none does). */
  static boolean servedByLiveMaster(String key) {
    try {
      return cluster.masterOf(key).isAlive();
    } catch (Exception e) {
      return false;
    }
  }

  /**
   * An XMPP ping, polling until its answer: a request refused with a retriable 503 (its slot is
   * failing over) is resent with the same rid, as a client does. Returns the body with the answer.
   */
  static String ping(BoshSession s) throws Exception {
    String id = "p" + System.nanoTime();
    String payload = "<iq xmlns='jabber:client' type='get' id='" + id + "'><ping xmlns='urn:xmpp:ping'/></iq>";
    long deadline = System.nanoTime() + 30_000_000_000L;
    while (System.nanoTime() < deadline) {
      HttpResponse<String> r = BoshSession.post(http, s.nextEndpoint(), s.nextBody(payload));
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

  /** Channel subscriptions on the nodes still running. */
  static int subscriptions() throws Exception {
    int n = 0;
    for (RedisProcess node : cluster.nodes()) {
      if (node.isAlive()) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(" sub=([0-9]+)").matcher(node.cli("client", "list"));
        while (m.find()) {
          n += Integer.parseInt(m.group(1));
        }
      }
    }
    return n;
  }

  @Test
  void killingMastersTouchesOnlyTheirSlotsAndEndsNoSession() throws Exception {
    String[] users = {"alice", "bob", "carol", "dave"};
    List<BoshSession> sessions = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      sessions.add(BoshSession.login(http, rotation(i % 3), DOMAIN, users[i % 4], users[i % 4] + "pw", "fo-" + i, 5));
    }
    // the worst masters to lose: the one with the pods' heartbeats, then one with their channels
    List<RedisProcess> victims = new ArrayList<>(List.of(cluster.masterOf("xb:{pods}")));
    for (RedisProcess n : channelNodes()) {
      if (!victims.contains(n) && n.cli("info", "replication").contains("role:master")) {
        victims.add(n);
        break;
      }
    }
    for (RedisProcess victim : victims) {
      List<BoshSession> elsewhere = new ArrayList<>();
      List<BoshSession> onVictim = new ArrayList<>();
      for (BoshSession s : sessions) {
        (cluster.masterOf("xb:{" + s.sid + "}") == victim ? onVictim : elsewhere).add(s);
      }
      boolean channelThere = channelNodes().contains(victim);
      AtomicInteger unready = new AtomicInteger();
      AtomicReference<Boolean> sampling = new AtomicReference<>(true);
      Thread sampler = new Thread(() -> {
        while (sampling.get()) {
          for (XboshProcess p : pods) {
            if (status(URI.create("http://127.0.0.1:" + p.port() + "/ready")) != 200) {
              unready.incrementAndGet();
            }
          }
        }
      });
      sampler.start();
      victim.kill();
      long killedAt = System.nanoTime();
      long okElsewhereMs;
      long failoverMs;
      try {
        // sessions whose slots live on the other masters go on at once
        for (BoshSession s : elsewhere) {
          assertThat(ping(s)).contains("type=\"result\"");
        }
        okElsewhereMs = (System.nanoTime() - killedAt) / 1_000_000;
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100))
            .until(() -> servedByLiveMaster("xb:{pods}")
                && onVictim.stream().allMatch(s -> servedByLiveMaster("xb:{" + s.sid + "}")));
        failoverMs = (System.nanoTime() - killedAt) / 1_000_000;
        // the sessions of the failed shard work again once its replica has taken over
        for (BoshSession s : onVictim) {
          assertThat(ping(s)).as("a session on the failed shard").contains("type=\"result\"");
        }
        // the channels moved off a dead node
        await().atMost(Duration.ofSeconds(20)).until(() -> subscriptions() == pods.size());
      } finally {
        sampling.set(false);
        sampler.join();
      }
      assertThat(unready.get()).as("readiness samples that failed during the failover").isZero();
      for (BoshSession s : sessions) {
        assertThat(ping(s)).contains("type=\"result\"");
      }
      for (XboshProcess p : pods) {
        assertThat(p.output()).doesNotContain("(incarnation").doesNotContain("was declared dead");
      }
      System.out.printf("master on port %d killed (heartbeats there: %b, channels there: %b): %d sessions elsewhere answered "
              + "within %d ms, %d on its slots worked again after failover (%d ms); pods stayed ready%n",
          victim.port(), victims.get(0) == victim, channelThere, elsewhere.size(), okElsewhereMs, onVictim.size(), failoverMs);
    }
  }
}
