package io.xbosh.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.xbosh.testing.BoshSession;
import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.ProsodyProcess;
import io.xbosh.testing.RedisSentinelProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Two pods on a Sentinel deployment (master, replica, three sentinels): a session begun before a
 * {@code SENTINEL FAILOVER} and a kill of the next master goes on through both pods after each,
 * and new sessions start.
 */
class RedisSentinelIT {

  private static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  @Test
  void sessionsContinueAcrossAFailoverAndAKilledMaster() throws Exception {
    try (RedisSentinelProcess sentinel = RedisSentinelProcess.start();
        ProsodyProcess prosody = ProsodyProcess.start(Map.of("alice", "alicepw", "bob", "bobpw"))) {
      Map<String, String> env = new HashMap<>();
      env.put("XBOSH_REDIS_URL", sentinel.sentinelUrls());
      env.put("XBOSH_REDIS_SENTINEL", RedisSentinelProcess.MASTER);
      env.put("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort());
      // a pod that cannot renew its heartbeat while the master changes must not be declared dead
      env.put("XBOSH_POD_DEAD_MS", "15000");
      env.put("XBOSH_NODE_ID", "sentinel-a");
      try (InProcessXbosh a = InProcessXbosh.start(env)) {
        env.put("XBOSH_NODE_ID", "sentinel-b");
        try (InProcessXbosh b = InProcessXbosh.start(env)) {
          List<URI> both = List.of(a.endpoint(), b.endpoint());
          BoshSession s = BoshSession.login(http, both, ProsodyProcess.DOMAIN, "alice", "alicepw", "before");
          assertThat(BoshSession.pingResult(s, ProsodyProcess.DOMAIN, "p0")).contains("type=\"result\"");

          sentinel.awaitReplicaInSync();
          int first = sentinel.masterPort();
          int promoted = sentinel.failover();
          assertThat(promoted).isNotEqualTo(first);
          // the old master stays up, a master still, until Sentinel next looks at it (up to ten
          // seconds, when it kills its clients): both pods' channels and commands must move on the
          // switch itself, or notices published on the new master and writes made on the old one
          // are lost meanwhile (a write there stalled the session: its next rids parked for ever)
          await().atMost(Duration.ofSeconds(4)).pollInterval(Duration.ofMillis(100)).until(() ->
              subscribed(promoted, "sentinel-a") && subscribed(promoted, "sentinel-b"));
          continues(s, both, "p1");

          sentinel.awaitReplicaInSync();
          int afterKill = sentinel.killMaster();
          assertThat(afterKill).isEqualTo(first);
          continues(s, both, "p2");
          BoshSession fresh = BoshSession.login(http, List.of(b.endpoint(), a.endpoint()), ProsodyProcess.DOMAIN, "bob", "bobpw",
              "after");
          assertThat(BoshSession.pingResult(fresh, ProsodyProcess.DOMAIN, "p3")).contains("type=\"result\"");
          await().atMost(Duration.ofSeconds(20)).until(() -> a.xbosh().pod().ready() && b.xbosh().pod().ready());
        }
      }
    }
  }

  /** Whether the pod's channel has a subscriber on the Redis at that port. */
  private static boolean subscribed(int port, String pod) throws Exception {
    String out = RedisSentinelProcess.cli(port, "PUBSUB", "NUMSUB", io.xbosh.cluster.RedisPodBus.channelOf(pod));
    return out.strip().endsWith("1");
  }

  /**
   * The session's next requests, one through each pod: each is resent (same rid, as a BOSH client
   * does) while the pods answer with a retriable error or drop the connection, then an XMPP ping
   * crosses both.
   */
  private static void continues(BoshSession s, List<URI> pods, String pingId) throws Exception {
    for (URI pod : pods) {
      String body = s.nextBody("");
      AtomicReference<HttpResponse<String>> answer = new AtomicReference<>();
      // a dropped connection (the pod gave up the request while Redis changed hands) is resent too
      await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(250)).ignoreExceptions().until(() -> {
        answer.set(BoshSession.post(http, pod, body));
        return answer.get().statusCode() == 200;
      });
      assertThat(answer.get().body()).doesNotContain("type=\"terminate\"");
    }
    assertThat(BoshSession.pingResult(s, ProsodyProcess.DOMAIN, pingId)).contains("type=\"result\"");
  }
}
