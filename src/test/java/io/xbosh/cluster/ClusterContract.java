package io.xbosh.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.xbosh.testing.BoshSession;
import io.xbosh.testing.ProsodyProcess;
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
import org.junit.jupiter.api.Test;

/**
 * Three xbosh pods, each in a JVM of its own, sharing one Redis, in front of one Prosody. Clients
 * send each request to the next pod in turn, as a load balancer without stickiness does.
 * Subclasses pick the Redis: one server or a Redis Cluster.
 */
abstract class ClusterContract {

  static final String DOMAIN = ProsodyProcess.DOMAIN;

  static ProsodyProcess prosody;
  static String redisUrls;
  static boolean redisCluster;
  static final List<XboshProcess> pods = new ArrayList<>();
  static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  /** Starts Prosody and three pods on the Redis the subclass started. */
  static void startAll(String urls, boolean cluster) throws Exception {
    redisUrls = urls;
    redisCluster = cluster;
    prosody = ProsodyProcess.start(Map.of("alice", "alicepw", "bob", "bobpw", "carol", "carolpw", "dave", "davepw"));
    for (String id : List.of("pod-a", "pod-b", "pod-c")) {
      pods.add(XboshProcess.start(id, env()));
    }
  }

  static Map<String, String> env() {
    Map<String, String> env = new HashMap<>();
    env.put("XBOSH_REDIS_URL", redisUrls);
    env.put("XBOSH_REDIS_CLUSTER", Boolean.toString(redisCluster));
    env.put("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort());
    env.put("XBOSH_SWEEP_MS", "200");
    env.put("XBOSH_DRAIN_SECONDS", "1");
    return env;
  }

  /** Stops the pods and Prosody; subclasses stop their Redis after this. */
  static void stopAll() {
    pods.forEach(XboshProcess::close);
    pods.clear();
    if (prosody != null) {
      prosody.close();
      prosody = null;
    }
  }

  /** The pods' endpoints, starting the rotation at pod {@code first}. */
  static List<URI> rotation(int first) {
    List<URI> all = new ArrayList<>();
    for (int i = 0; i < pods.size(); i++) {
      all.add(pods.get((first + i) % pods.size()).endpoint());
    }
    return all;
  }

  static BoshSession login(int first, String user, String resource) throws Exception {
    return BoshSession.login(http, rotation(first), DOMAIN, user, user + "pw", resource);
  }

  static List<String> numbered(String prefix, int n) {
    return IntStream.range(0, n).mapToObj(i -> prefix + i).toList();
  }

  @Test
  void c01_x04_b21_b25_fiveHundredMessagesEachWayThroughEveryPodInTurnArriveInOrder() throws Exception {
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
  void c02_x04_b28_resentRidIsAnsweredIdenticallyByEveryOtherPod() throws Exception {
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

  @Test
  void c03_x04_b80_b81_aSecondStreamOpenedThroughAnotherPodCarriesItsUsersConversationInOrder() throws Exception {
    int n = 50;
    BoshSession both = login(0, "alice", "first");
    List<String> seen = new ArrayList<>();
    // the request opening the stream, and every one on it, lands on another pod than the owner
    String second = both.openStreamAndLogin(DOMAIN, "bob", "bobpw", "second", seen);
    BoshSession carol = login(1, "carol", "sender");
    BoshSession.sendAll(carol, "bob@" + DOMAIN + "/second", "c2b-", n);
    List<String> got = new ArrayList<>();
    java.util.regex.Pattern body = java.util.regex.Pattern.compile("<body>(c2b-\\d+)</body>");
    for (int i = 0; i < 60 && got.size() < n; i++) {
      String b = both.send("").body();
      java.util.regex.Matcher m = body.matcher(b);
      if (m.find()) {
        assertThat(BoshSession.attr(b, "stream")).isEqualTo(second);
        m.reset();
        while (m.find()) {
          got.add(m.group(1));
        }
      }
    }
    assertThat(got).containsExactlyElementsOf(numbered("c2b-", n));
    // bob answers through his stream; alice's stream is untouched
    both.sendBody("stream='" + second + "'", "<message xmlns='jabber:client' to='carol@" + DOMAIN + "/sender'><body>thanks</body></message>");
    assertThat(carol.awaitBody(b -> b.contains("<body>thanks</body>"), new ArrayList<>())).contains("from=\"bob@" + DOMAIN + "/second\"");
    assertThat(BoshSession.pingResult(both, DOMAIN, "first-ok")).contains("type=\"result\"");
  }

  /**
   * An idle long poll costs one script, its accept: the wait's end is answered empty by the pod that
   * holds it, after its fence, without a release; on one Redis (the pod channel fences) and on a
   * Redis Cluster (the sharded channel of the session's slot on its master fences) alike.
   */
  @Test
  void c08_idleLongPollsEndWithoutARelease() throws Exception {
    List<BoshSession> idle = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      idle.add(login(i, "dave", "idle-" + i));
    }
    // each pod holds a poll of each session first (on a Redis Cluster a pod subscribes to its sharded
    // channel in a slot when it first holds a request there; that one still asks the store)
    poll(idle, pods.size());
    Map<String, Long> before = heldExpired();
    int polls = 6;
    poll(idle, polls);
    Map<String, Long> after = heldExpired();
    long local = after.getOrDefault("local", 0L) - before.getOrDefault("local", 0L);
    long release = after.getOrDefault("release", 0L) - before.getOrDefault("release", 0L);
    System.out.printf("idle polls: %d waits ended by their pod, %d by release%n", local, release);
    assertThat(release).isZero();
    assertThat(local).isEqualTo((long) idle.size() * polls);
  }

  /** {@code rounds} empty polls of every session, the sessions in parallel; each waits out its wait. */
  private static void poll(List<BoshSession> sessions, int rounds) throws Exception {
    List<CompletableFuture<Void>> all = new ArrayList<>();
    for (BoshSession s : sessions) {
      all.add(CompletableFuture.runAsync(() -> {
        try {
          for (int i = 0; i < rounds; i++) {
            HttpResponse<String> r = s.send("");
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body()).doesNotContain("terminate");
          }
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      }));
    }
    for (CompletableFuture<Void> f : all) {
      f.get(120, TimeUnit.SECONDS);
    }
  }

  /** xbosh_held_expired_total of every pod, summed by how the waits were answered. */
  private static Map<String, Long> heldExpired() throws Exception {
    Map<String, Long> sum = new HashMap<>();
    java.util.regex.Pattern line = java.util.regex.Pattern.compile("(?m)^xbosh_held_expired_total\\{[^}]*answer=\"([a-z]+)\"[^}]*\\} ([0-9.eE+]+)$");
    for (XboshProcess pod : pods) {
      String metrics = http.send(java.net.http.HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + pod.port() + "/metrics")).build(),
          HttpResponse.BodyHandlers.ofString()).body();
      java.util.regex.Matcher m = line.matcher(metrics);
      while (m.find()) {
        sum.merge(m.group(1), (long) Double.parseDouble(m.group(2)), Long::sum);
      }
    }
    return sum;
  }
}
