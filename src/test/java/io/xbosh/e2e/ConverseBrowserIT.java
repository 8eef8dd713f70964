package io.xbosh.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.vertx.core.json.JsonObject;
import io.xbosh.pod.Pod;
import io.xbosh.testing.ConverseBrowser;
import io.xbosh.testing.HaproxyProcess;
import io.xbosh.testing.ProsodyProcess;
import io.xbosh.testing.RedisProcess;
import io.xbosh.testing.XboshProcess;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The web chat users run: Converse.js 14 (its prebuilt dist/, as an ES module) in Debian's Chromium,
 * page served from another origin than xbosh, two users in two browser contexts, through the sample
 * HAProxy configuration (round robin per request) in front of three pods in JVMs of their own, one
 * Redis and a real Prosody. The steps build on each other: login, a conversation, two more users
 * over WebSocket (RFC 7395, the upgrade passing through HAProxy), a reload, a pod killed. The reload
 * step runs with the WebSocket users online: a reloaded page's first request can reach the
 * store (through another pod) before the closed request's abandon, which once ended the session with
 * policy-violation (see BoshHttpContract's b43 tests and BoshHandler.ABANDON_GRACE_MS).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ConverseBrowserIT {

  private static final String DOMAIN = ProsodyProcess.DOMAIN;
  private static final String ALICE = "alice@" + DOMAIN;
  private static final String BOB = "bob@" + DOMAIN;
  private static final String CAROL = "carol@" + DOMAIN;
  private static final String DAVE = "dave@" + DOMAIN;
  private static final java.util.regex.Pattern WS_GAUGE =
      java.util.regex.Pattern.compile("xbosh_sessions_transport\\{transport=\"websocket\"} ([0-9.]+)");
  private static final Duration CONNECT = Duration.ofSeconds(30);
  private static final Duration SHOWN = Duration.ofSeconds(30);
  private static final int RELOADS = 5;

  private static ConverseBrowser browser;
  private static ProsodyProcess prosody;
  private static RedisProcess redis;
  private static final List<XboshProcess> pods = new ArrayList<>();
  private static HaproxyProcess lb;

  /** Why this machine cannot run the test, or null. */
  private static String missing;

  @BeforeAll
  static void start() throws Exception {
    // first, so a machine without Chromium or node skips before anything else starts (each test
    // is then reported skipped with the reason: an assumption here would hide them)
    missing = ConverseBrowser.missing();
    if (missing != null) {
      System.out.println("ConverseBrowserIT: " + missing);
      return;
    }
    browser = ConverseBrowser.start();
    prosody = ProsodyProcess.startForWebClients(Map.of("alice", "alicepw", "bob", "bobpw", "carol", "carolpw", "dave", "davepw"));
    redis = RedisProcess.start();
    for (String id : List.of("web-a", "web-b", "web-c")) {
      Map<String, String> env = new HashMap<>();
      env.put("XBOSH_REDIS_URL", redis.url());
      env.put("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort());
      env.put("XBOSH_CORS_ORIGINS", browser.origin());
      env.put("XBOSH_SWEEP_MS", "200");
      pods.add(XboshProcess.start(id, env));
    }
    lb = HaproxyProcess.start(pods);
    HttpClient http = HttpClient.newHttpClient();
    URI ready = URI.create("http://127.0.0.1:" + lb.port() + "/ready");
    await().atMost(Duration.ofSeconds(20)).until(() -> http.send(HttpRequest.newBuilder(ready).build(),
        HttpResponse.BodyHandlers.discarding()).statusCode() == 200);
  }

  @AfterAll
  static void stop() {
    if (browser != null) {
      browser.close();
    }
    if (lb != null) {
      lb.close();
    }
    pods.forEach(XboshProcess::close);
    pods.clear();
    if (redis != null) {
      redis.close();
    }
    if (prosody != null) {
      prosody.close();
    }
  }

  @BeforeEach
  void browserAvailable() {
    assumeTrue(missing == null, missing);
  }

  /** Keeps what the pages showed after each step. */
  @AfterEach
  void evidence(TestInfo info) {
    if (browser != null) {
      String name = info.getTestMethod().map(m -> m.getName()).orElse("step");
      for (String user : name.contains("WebSocket") ? List.of("carol", "dave") : List.of("alice", "bob")) {
        try {
          browser.screenshot(user, Path.of("target", "browser", name + "-" + user + ".png"));
        } catch (IOException ignored) {
          // no page yet
        }
      }
    }
  }

  private static String bosh() {
    return lb.endpoint().toString();
  }

  @Test
  @Order(1)
  void e01_twoUsersLogInThroughTheLoginFormFromAnotherOrigin() throws Exception {
    browser.open("alice", bosh());
    browser.open("bob", bosh());
    browser.login("alice", ALICE, "alicepw");
    browser.login("bob", BOB, "bobpw");
    awaitConnected("alice");
    awaitConnected("bob");
    // each sees the other online (presence through the roster)
    await().atMost(CONNECT).until(() -> "online".equals(browser.presence("alice", BOB)));
    await().atMost(CONNECT).until(() -> "online".equals(browser.presence("bob", ALICE)));
  }

  @Test
  @Order(2)
  void e02_b21_b25_thirtyMessagesEachWayAreOnScreenInOrder() throws Exception {
    browser.openChat("alice", BOB);
    browser.openChat("bob", ALICE);
    int n = 30;
    for (int i = 0; i < n; i++) {
      browser.send("alice", BOB, "a2b-" + i);
      browser.send("bob", ALICE, "b2a-" + i);
    }
    List<String> toBob = numbered("a2b-", n);
    List<String> toAlice = numbered("b2a-", n);
    awaitShown("bob", ALICE, "a2b-", toBob);
    awaitShown("alice", BOB, "b2a-", toAlice);
    // and each sender's own screen has them in the order typed
    assertThat(withPrefix(browser.shown("alice", BOB), "a2b-")).containsExactlyElementsOf(toBob);
    assertThat(withPrefix(browser.shown("bob", ALICE), "b2a-")).containsExactlyElementsOf(toAlice);
  }

  /**
   * Two more users whose Converse talks XMPP over WebSocket ({@code websocket_url}) to the same
   * load balancer: the upgrade passes through HAProxy to a pod, each stream lives on the pod that
   * took it, and thirty messages each way are on both screens in the order typed.
   */
  @Test
  @Order(3)
  void e05_w04_w11_twoUsersOverWebSocketThroughThePodsSeeThirtyMessagesEachWayInOrder() throws Exception {
    String ws = "ws://127.0.0.1:" + lb.port() + "/xmpp-websocket";
    browser.openWebSocket("carol", ws);
    browser.openWebSocket("dave", ws);
    browser.login("carol", CAROL, "carolpw");
    browser.login("dave", DAVE, "davepw");
    assertThat(awaitConnected("carol").getString("service")).isEqualTo(ws);
    assertThat(awaitConnected("dave").getString("service")).isEqualTo(ws);
    // each stream on a pod of its own choosing, none in the session store
    await().atMost(CONNECT).until(() -> webSocketsOnThePods() == 2);
    await().atMost(CONNECT).until(() -> "online".equals(browser.presence("carol", DAVE)));
    browser.openChat("carol", DAVE);
    browser.openChat("dave", CAROL);
    int n = 30;
    for (int i = 0; i < n; i++) {
      browser.send("carol", DAVE, "c2d-" + i);
      browser.send("dave", CAROL, "d2c-" + i);
    }
    List<String> toDave = numbered("c2d-", n);
    List<String> toCarol = numbered("d2c-", n);
    awaitShown("dave", CAROL, "c2d-", toDave);
    awaitShown("carol", DAVE, "d2c-", toCarol);
    assertThat(withPrefix(browser.shown("carol", DAVE), "c2d-")).containsExactlyElementsOf(toDave);
    assertThat(withPrefix(browser.shown("dave", CAROL), "d2c-")).containsExactlyElementsOf(toCarol);
    // the BOSH users beside them were not disturbed
    assertThat(browser.state("alice").getBoolean("connected")).isTrue();
    assertThat(browser.state("bob").getBoolean("connected")).isTrue();
  }

  /** WebSocket streams held by the three pods now, from each pod's own gauge. */
  private static double webSocketsOnThePods() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    double sum = 0;
    for (XboshProcess pod : pods) {
      String text = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + pod.port() + "/metrics")).build(),
          HttpResponse.BodyHandlers.ofString()).body();
      java.util.regex.Matcher m = WS_GAUGE.matcher(text);
      sum += m.find() ? Double.parseDouble(m.group(1)) : 0;
    }
    return sum;
  }

  /**
   * Five times: a message, and a reload as soon as it has gone out and the page holds its next
   * request (a fraction of a second later: the receipt comes back); Converse's keepalive stored
   * sid and rid, and the reloaded page continues the same BOSH session with the next rid, within
   * {@code polling} of the request the closed page left held. A message sent to the page while it
   * is away reaches it after the reload.
   */
  @Test
  @Order(4)
  void e03_b42_aReloadRightAfterSendingKeepsTheSessionAndLosesNothing() throws Exception {
    String sid = loggedIn("alice", ALICE, "alicepw").getString("sid");
    int ended = browser.terminations("alice").size();
    List<String> fromAlice = new ArrayList<>();
    List<String> fromBob = new ArrayList<>();
    for (int i = 0; i < RELOADS; i++) {
      fromAlice.add("ra-" + i);
      fromBob.add("rb-" + i);
      browser.sendAndSettle("alice", BOB, "ra-" + i);
      browser.reload("alice");
      browser.send("bob", ALICE, "rb-" + i);
      await().atMost(CONNECT).pollInterval(Duration.ofMillis(200)).until(() -> browser.state("alice"),
          st -> st.getBoolean("connected", false) || st.getBoolean("loginForm", false));
      browser.openChat("alice", BOB);
      awaitShown("bob", ALICE, "ra-", fromAlice);
      awaitShown("alice", BOB, "rb-", fromBob);
      // attaching says "connected" at once: whether the session lived is known once it has answered
      JsonObject after = browser.state("alice");
      List<String> terminations = browser.terminations("alice");
      assertThat(after.getString("sid"))
          .as("BOSH session after reload %d of %d; the page was told: %s", i + 1, RELOADS,
              terminations.subList(ended, terminations.size()))
          .isEqualTo(sid);
      assertThat(after.getBoolean("loginForm")).isFalse();
    }
    // and the conversation goes on in the same session
    browser.send("alice", BOB, "ra-last");
    browser.send("bob", ALICE, "rb-last");
    fromAlice.add("ra-last");
    fromBob.add("rb-last");
    awaitShown("bob", ALICE, "ra-", fromAlice);
    awaitShown("alice", BOB, "rb-", fromBob);
    assertThat(withPrefix(browser.shown("alice", BOB), "ra-")).containsExactlyElementsOf(fromAlice);
    assertThat(browser.state("alice").getString("sid")).isEqualTo(sid);
    assertThat(browser.terminations("alice")).hasSize(ended);
  }

  @Test
  @Order(5)
  void e04_b51_whenTheOwnerPodIsKilledConverseReconnectsByItselfAndLosesNothing() throws Exception {
    // independent of the steps before: whoever is logged out logs in again
    String aliceSid = loggedIn("alice", ALICE, "alicepw").getString("sid");
    String bobSid = loggedIn("bob", BOB, "bobpw").getString("sid");
    XboshProcess owner = ownerOf(aliceSid);
    boolean bobToo = owner == ownerOf(bobSid);
    owner.kill();
    long killedAt = System.nanoTime();
    if (!bobToo) {
      // Prosody saw alice's stream go with the pod; a message to her now waits in offline storage
      await().atMost(CONNECT).until(() -> "offline".equals(browser.presence("bob", ALICE)));
      browser.send("bob", ALICE, "kb-away");
    }
    // no one touches the page: Converse sees the session end and logs in again on its own
    JsonObject again = await().atMost(CONNECT).pollInterval(Duration.ofMillis(200)).until(() -> browser.state("alice"),
        s -> s.getBoolean("connected", false) && !aliceSid.equals(s.getString("sid")) || s.getBoolean("loginForm", false));
    assertThat(again.getBoolean("loginForm")).as("login form shown instead of a reconnect: %s", again.getString("feedback"))
        .isFalse();
    long reconnectMs = (System.nanoTime() - killedAt) / 1_000_000;
    List<String> told = browser.terminations("alice");
    assertThat(told).as("what ended the session").isNotEmpty();
    assertThat(told.get(told.size() - 1)).contains("condition=\"" + Pod.OWNER_LOST.wireName() + "\"");
    if (bobToo) {
      await().atMost(CONNECT).until(() -> browser.state("bob"),
          s -> s.getBoolean("connected", false) && !bobSid.equals(s.getString("sid")));
    }
    browser.openChat("alice", BOB);
    browser.openChat("bob", ALICE);
    browser.send("alice", BOB, "ka-0");
    browser.send("bob", ALICE, "kb-0");
    awaitShown("bob", ALICE, "ka-", List.of("ka-0"));
    awaitShown("alice", BOB, "kb-", bobToo ? List.of("kb-0") : List.of("kb-away", "kb-0"));
    System.out.printf("owner pod %s killed (%s); Converse reconnected by itself after %d ms%n", owner.nodeId(),
        bobToo ? "both users' sessions" : "alice's session", reconnectMs);
  }

  /** The pod whose {@code xb:{pods}:owned:<id>} set (see RedisPodBus) holds the session. */
  private static XboshProcess ownerOf(String sid) throws Exception {
    for (XboshProcess pod : pods) {
      Process p = new ProcessBuilder("redis-cli", "-p", Integer.toString(redis.port()), "sismember",
          "xb:{pods}:owned:" + pod.nodeId(), sid).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      p.waitFor(10, TimeUnit.SECONDS);
      if (out.equals("1")) {
        return pod;
      }
    }
    throw new AssertionError("no pod owns " + sid);
  }

  private static List<String> numbered(String prefix, int n) {
    return IntStream.range(0, n).mapToObj(i -> prefix + i).toList();
  }

  private static List<String> withPrefix(List<String> shown, String prefix) {
    return shown.stream().filter(s -> s.startsWith(prefix)).toList();
  }

  private static void awaitShown(String user, String with, String prefix, List<String> expected) {
    await().atMost(SHOWN).pollInterval(Duration.ofMillis(200)).untilAsserted(() ->
        assertThat(withPrefix(browser.shown(user, with), prefix)).containsExactlyElementsOf(expected));
  }

  private static JsonObject loggedIn(String user, String jid, String password) throws Exception {
    JsonObject s = await().atMost(CONNECT).pollInterval(Duration.ofMillis(200)).until(() -> browser.state(user),
        st -> st.getBoolean("connected", false) || st.getBoolean("loginForm", false));
    if (!s.getBoolean("connected", false)) {
      browser.login(user, jid, password);
      s = awaitConnected(user);
    }
    return s;
  }

  private static JsonObject awaitConnected(String user) {
    return await().atMost(CONNECT).pollInterval(Duration.ofMillis(200)).until(() -> browser.state(user),
        s -> s.getBoolean("connected", false));
  }
}
