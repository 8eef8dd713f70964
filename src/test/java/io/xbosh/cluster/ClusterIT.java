package io.xbosh.cluster;

import static org.assertj.core.api.Assertions.assertThat;

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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Three xbosh pods, each in a JVM of its own, sharing one redis-server, in front of one Prosody.
 * Clients send each request to the next pod in turn, as a load balancer without stickiness does.
 */
class ClusterIT {

  private static final String DOMAIN = ProsodyProcess.DOMAIN;

  private static ProsodyProcess prosody;
  private static RedisProcess redis;
  private static final List<XboshProcess> pods = new ArrayList<>();
  private static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  @BeforeAll
  static void start() throws Exception {
    prosody = ProsodyProcess.start(Map.of("alice", "alicepw", "bob", "bobpw", "carol", "carolpw", "dave", "davepw"));
    redis = RedisProcess.start();
    for (String id : List.of("pod-a", "pod-b", "pod-c")) {
      pods.add(startPod(id));
    }
  }

  static XboshProcess startPod(String id) throws Exception {
    return XboshProcess.start(id, env());
  }

  static Map<String, String> env() {
    Map<String, String> env = new HashMap<>();
    env.put("XBOSH_REDIS_URL", redis.url());
    env.put("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort());
    env.put("XBOSH_SWEEP_MS", "200");
    return env;
  }

  @AfterAll
  static void stop() {
    pods.forEach(XboshProcess::close);
    if (redis != null) {
      redis.close();
    }
    if (prosody != null) {
      prosody.close();
    }
  }

  /** The pods' endpoints, starting the rotation at pod {@code first}. */
  private static List<URI> rotation(int first) {
    List<URI> all = new ArrayList<>();
    for (int i = 0; i < pods.size(); i++) {
      all.add(pods.get((first + i) % pods.size()).endpoint());
    }
    return all;
  }

  private static BoshSession login(int first, String user, String resource) throws Exception {
    return BoshSession.login(http, rotation(first), DOMAIN, user, user + "pw", resource);
  }

  private static List<String> numbered(String prefix, int n) {
    return IntStream.range(0, n).mapToObj(i -> prefix + i).toList();
  }

  @Test
  void c01_b21_b25_fiveHundredMessagesEachWayThroughEveryPodInTurnArriveInOrder() throws Exception {
    int n = 500;
    // creation, SASL, restart and bind already land on three different pods
    BoshSession aliceOut = login(0, "alice", "out");
    BoshSession bobOut = login(1, "bob", "out");
    BoshSession aliceIn = login(2, "alice", "in");
    BoshSession bobIn = login(1, "bob", "in");
    CompletableFuture<List<String>> toBob = CompletableFuture.supplyAsync(() -> BoshSession.receive(bobIn, "a2b-", n));
    CompletableFuture<List<String>> toAlice = CompletableFuture.supplyAsync(() -> BoshSession.receive(aliceIn, "b2a-", n));
    CompletableFuture<Void> fromAlice = CompletableFuture.runAsync(() -> BoshSession.sendAll(aliceOut, "bob@" + DOMAIN + "/in", "a2b-", n));
    CompletableFuture<Void> fromBob = CompletableFuture.runAsync(() -> BoshSession.sendAll(bobOut, "alice@" + DOMAIN + "/in", "b2a-", n));
    fromAlice.get(120, TimeUnit.SECONDS);
    fromBob.get(120, TimeUnit.SECONDS);
    assertThat(toBob.get(120, TimeUnit.SECONDS)).containsExactlyElementsOf(numbered("a2b-", n));
    assertThat(toAlice.get(120, TimeUnit.SECONDS)).containsExactlyElementsOf(numbered("b2a-", n));
  }

  @Test
  void c02_b28_resentRidIsAnsweredIdenticallyByEveryOtherPod() throws Exception {
    BoshSession s = login(0, "carol", "resend");
    String body = s.nextBody("<iq xmlns='jabber:client' type='get' id='r1'><ping xmlns='urn:xmpp:ping'/></iq>");
    HttpResponse<String> first = BoshSession.post(http, pods.get(0).endpoint(), body);
    assertThat(first.statusCode()).isEqualTo(200);
    for (XboshProcess other : pods.subList(1, pods.size())) {
      HttpResponse<String> again = BoshSession.post(http, other.endpoint(), body);
      assertThat(again.statusCode()).isEqualTo(200);
      assertThat(again.body()).isEqualTo(first.body());
    }
  }
}
