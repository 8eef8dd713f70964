package io.xbosh.websocket;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Vertx;
import io.vertx.core.http.WebSocketClient;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.HaproxyProcess;
import io.xbosh.testing.ProsodyProcess;
import io.xbosh.testing.RedisProcess;
import io.xbosh.testing.XboshProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Three pods behind the sample HAProxy configuration: the WebSocket upgrade passes through, BOSH goes round robin beside it. */
class WebSocketHaproxyIT {

  private static final String DOMAIN = ProsodyProcess.DOMAIN;
  private static final Pattern WS_GAUGE = Pattern.compile("xbosh_sessions_transport\\{transport=\"websocket\"} ([0-9.]+)");

  private static RedisProcess redis;
  private static ProsodyProcess prosody;
  private static final List<XboshProcess> pods = new ArrayList<>();
  private static HaproxyProcess haproxy;
  private static Vertx vertx;
  private static WebSocketClient client;
  private static HttpClient http;

  @BeforeAll
  static void start() throws Exception {
    redis = RedisProcess.start();
    prosody = ProsodyProcess.start(Map.of("alice", "alicepw", "bob", "bobpw", "carol", "carolpw", "dave", "davepw"));
    for (String id : List.of("ws-a", "ws-b", "ws-c")) {
      pods.add(XboshProcess.start(id, Map.of("XBOSH_REDIS_URL", redis.url(), "XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(),
          "XBOSH_DRAIN_SECONDS", "1")));
    }
    haproxy = HaproxyProcess.start(pods);
    vertx = Vertx.vertx();
    client = vertx.createWebSocketClient();
    http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  }

  @AfterAll
  static void stop() throws Exception {
    if (vertx != null) {
      WsClient.await(vertx.close());
    }
    if (haproxy != null) {
      haproxy.close();
    }
    pods.forEach(XboshProcess::close);
    if (prosody != null) {
      prosody.close();
    }
    if (redis != null) {
      redis.close();
    }
  }

  private static double webSocketsOn(XboshProcess pod) throws Exception {
    URI metrics = URI.create("http://127.0.0.1:" + pod.port() + "/metrics");
    String text = http.send(HttpRequest.newBuilder(metrics).build(), HttpResponse.BodyHandlers.ofString()).body();
    Matcher m = WS_GAUGE.matcher(text);
    assertThat(m.find()).as(text).isTrue();
    return Double.parseDouble(m.group(1));
  }

  @Test
  void w11_threeWebSocketUsersThroughHaproxyTalkWithABoshUserRoundRobinedOverThreePods() throws Exception {
    int n = 20;
    BoshSession dave = BoshSession.login(http, List.of(haproxy.endpoint()), DOMAIN, "dave", "davepw", "bosh");
    List<WsClient> users = new ArrayList<>();
    try {
      for (String user : List.of("alice", "bob", "carol")) {
        WsClient c = WsClient.connect(client, WsClient.options(haproxy.port(), "/xmpp-websocket"));
        users.add(c);
        c.login(DOMAIN, user, user + "pw", "ws");
      }
      // three upgrades in a row, round robin: one stream on each pod, each with its own upstream link
      for (XboshProcess pod : pods) {
        assertThat(webSocketsOn(pod)).as(pod.nodeId()).isEqualTo(1.0);
      }

      CompletableFuture<List<String>> atDave = CompletableFuture.supplyAsync(() -> BoshSession.receive(dave, "to-dave-", 3 * n));
      for (int u = 0; u < 3; u++) {
        for (int i = 0; i < n; i++) {
          users.get(u).send("<message xmlns='jabber:client' to='dave@" + DOMAIN + "/bosh' type='chat'><body>to-dave-" + (u * 1000 + i)
              + "</body></message>");
        }
      }
      List<String> received = atDave.get(60, java.util.concurrent.TimeUnit.SECONDS);
      assertThat(received).hasSize(3 * n).doesNotHaveDuplicates();
      for (int u = 0; u < 3; u++) {
        int user = u;
        // in order per sender
        assertThat(received.stream().filter(b -> Integer.parseInt(b.substring("to-dave-".length())) / 1000 == user).toList())
            .containsExactlyElementsOf(java.util.stream.IntStream.range(0, n).mapToObj(i -> "to-dave-" + (user * 1000 + i)).toList());
      }
      String[] names = {"alice", "bob", "carol"};
      for (int u = 0; u < 3; u++) {
        BoshSession.sendAll(dave, names[u] + "@" + DOMAIN + "/ws", "from-dave-" + u + "-", n);
      }
      for (int u = 0; u < 3; u++) {
        for (int i = 0; i < n; i++) {
          String m = users.get(u).until(x -> x.startsWith("<message"));
          assertThat(m).contains("<body>from-dave-" + u + "-" + i + "</body>");
        }
      }
    } finally {
      users.forEach(WsClient::close);
      dave.sendBody("type='terminate'", "");
    }
  }
}
