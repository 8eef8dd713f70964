package io.xbosh.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.json.JsonObject;
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
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.AfterEach;

/**
 * The web chat users run: Converse.js 14 (its prebuilt dist/, as an ES module) in Debian's Chromium,
 * page served from another origin than xbosh, two users in two browser contexts, through the sample
 * HAProxy configuration (round robin per request) in front of three pods in JVMs of their own, one
 * Redis and a real Prosody. The steps build on each other: login, a conversation, a reload, a pod
 * killed.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ConverseBrowserIT {

  private static final String DOMAIN = ProsodyProcess.DOMAIN;
  private static final String ALICE = "alice@" + DOMAIN;
  private static final String BOB = "bob@" + DOMAIN;
  private static final Duration CONNECT = Duration.ofSeconds(30);
  private static final Duration SHOWN = Duration.ofSeconds(30);

  private static ConverseBrowser browser;
  private static ProsodyProcess prosody;
  private static RedisProcess redis;
  private static final List<XboshProcess> pods = new ArrayList<>();
  private static HaproxyProcess lb;

  @BeforeAll
  static void start() throws Exception {
    // first, so a machine without Chromium or node skips before anything else starts
    browser = ConverseBrowser.start();
    prosody = ProsodyProcess.startForWebClients(Map.of("alice", "alicepw", "bob", "bobpw"));
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

  /** Keeps what the pages said, and what they showed, when a step fails. */
  @AfterEach
  void evidence(TestInfo info) {
    if (browser != null) {
      String name = info.getTestMethod().map(m -> m.getName()).orElse("step");
      try {
        browser.screenshot("alice", Path.of("target", "browser", name + "-alice.png"));
        browser.screenshot("bob", Path.of("target", "browser", name + "-bob.png"));
      } catch (IOException ignored) {
        // no page yet
      }
    }
  }

  private static String bosh() {
    return lb.endpoint().toString();
  }

  @Test
  @Order(1)
  void e01_b21_twoUsersLogInThroughTheLoginFormAcrossOrigins() throws Exception {
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

  private static JsonObject awaitConnected(String user) {
    return await().atMost(CONNECT).pollInterval(Duration.ofMillis(200)).until(() -> browser.state(user),
        s -> s.getBoolean("connected", false));
  }
}
