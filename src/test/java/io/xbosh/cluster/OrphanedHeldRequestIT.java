package io.xbosh.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.xbosh.testing.BoshSession;
import io.xbosh.testing.ProsodyProcess;
import io.xbosh.testing.RedisProcess;
import io.xbosh.testing.XboshProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A request held on a surviving pod for a session whose owner was killed (kill -9) is answered
 * with the session's end as soon as a survivor reaps the dead pod, not when its wait runs out.
 */
class OrphanedHeldRequestIT {

  static final String DOMAIN = ProsodyProcess.DOMAIN;
  static final int HEARTBEAT_MS = 500;
  static final int DEAD_MS = 2000;
  /** the held request's wait: far above the reap time, so an answer only at its end shows */
  static final int WAIT_S = 30;
  static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  RedisProcess redis;
  ProsodyProcess prosody;
  final List<XboshProcess> pods = new ArrayList<>();

  @AfterEach
  void stop() {
    pods.forEach(p -> {
      p.close();
      System.out.println("---- " + p.nodeId() + "\n" + p.output());
    });
    if (prosody != null) {
      prosody.close();
    }
    if (redis != null) {
      redis.close();
    }
  }

  @Test
  void aRequestHeldOnASurvivorIsAnsweredWhenTheKilledOwnerIsReaped() throws Exception {
    int redisPort = RedisProcess.freePort();
    redis = RedisProcess.start(redisPort);
    prosody = ProsodyProcess.start(Map.of("alice", "alicepw"));
    Map<String, String> env = new HashMap<>();
    env.put("XBOSH_REDIS_URL", "redis://127.0.0.1:" + redisPort);
    env.put("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort());
    env.put("XBOSH_HEARTBEAT_MS", Integer.toString(HEARTBEAT_MS));
    env.put("XBOSH_POD_DEAD_MS", Integer.toString(DEAD_MS));
    env.put("XBOSH_SWEEP_MS", "200");
    for (String id : List.of("orph-a", "orph-b", "orph-c")) {
      pods.add(XboshProcess.start(id, env));
    }
    // every pod judges the others' liveness (the first judgement waits out a grace after start)
    for (XboshProcess p : pods) {
      await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100))
          .until(() -> p.output().contains("judging other pods' liveness"));
    }
    XboshProcess owner = pods.get(0);
    XboshProcess holder = pods.get(1);
    BoshSession s = BoshSession.login(http, List.of(owner.endpoint(), holder.endpoint(), pods.get(2).endpoint()),
        DOMAIN, "alice", "alicepw", "orphan", WAIT_S);
    assertThat(redis.cli("SISMEMBER", "xb:{pods}:owned:orph-a", s.sid)).isEqualTo("1");
    owner.kill();
    long killedAt = System.nanoTime();
    HttpResponse<String> r = BoshSession.post(http, holder.endpoint(), s.nextBody(""));
    long answeredMs = (System.nanoTime() - killedAt) / 1_000_000;
    System.out.println("held request on a survivor answered " + answeredMs + " ms after kill -9 of the owner: " + r.body());
    assertThat(r.body()).contains("type=\"terminate\"").contains("condition=\"internal-server-error\"");
    // the reap comes within the dead time and two heartbeats; the rest is room for a loaded machine,
    // far below the wait
    assertThat(answeredMs).as("kill -9 of the owner to the held request's answer").isLessThan(DEAD_MS + 2L * HEARTBEAT_MS + 5000);
  }
}
