package io.xbosh.websocket;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonObject;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.ProsodyProcess;
import io.xbosh.testing.RedisProcess;
import io.xbosh.testing.StropheClients;
import java.net.http.HttpClient;
import java.time.Duration;
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
 * Strophe.js 5 in Node over its RFC 7395 WebSocket transport (the {@code ws} package) on one pod,
 * talking with a BOSH user on a second pod; both pods share one redis-server and a real Prosody.
 */
class StropheWebSocketIT {

  private static final String DOMAIN = ProsodyProcess.DOMAIN;
  private static final int N = 200;

  private static RedisProcess redis;
  private static ProsodyProcess prosody;
  private static InProcessXbosh wsPod;
  private static InProcessXbosh boshPod;
  private static HttpClient http;

  @BeforeAll
  static void start() throws Exception {
    redis = RedisProcess.start();
    prosody = ProsodyProcess.start(Map.of("alice", "alicepw", "bob", "bobpw"));
    Map<String, String> common = Map.of("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(), "XBOSH_REDIS_URL", redis.url());
    wsPod = InProcessXbosh.start(with(common, "XBOSH_NODE_ID", "strophe-ws-a"));
    boshPod = InProcessXbosh.start(with(common, "XBOSH_NODE_ID", "strophe-ws-b"));
    http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  }

  private static Map<String, String> with(Map<String, String> base, String key, String value) {
    Map<String, String> m = new HashMap<>(base);
    m.put(key, value);
    return m;
  }

  @AfterAll
  static void stop() throws Exception {
    if (wsPod != null) {
      wsPod.close();
    }
    if (boshPod != null) {
      boshPod.close();
    }
    if (prosody != null) {
      prosody.close();
    }
    if (redis != null) {
      redis.close();
    }
  }

  @Test
  void w02_w03_w04_stropheOverWebSocketLogsInWithPlainAndExchanges200MessagesEachWayInOrderWithABoshUserOnAnotherPod()
      throws Exception {
    BoshSession bob = BoshSession.login(http, List.of(boshPod.endpoint()), DOMAIN, "bob", "bobpw", "bosh");
    try (StropheClients strophe = StropheClients.start()) {
      String aliceJid = "alice@" + DOMAIN + "/strophe-ws";
      strophe.connect("alice", "ws://127.0.0.1:" + wsPod.port() + "/xmpp-websocket", aliceJid, "alicepw", List.of("PLAIN"));
      JsonObject connected = strophe.awaitStatus("alice", "CONNECTED", Duration.ofSeconds(30));
      assertThat(connected.getString("jid")).isEqualTo(aliceJid);
      assertThat(strophe.find(e -> "auth".equals(e.getString("ev")))).extracting(e -> e.getString("mechanism"))
          .containsExactly("PLAIN");
      // the stream is a WebSocket one, held by the first pod; the BOSH session is the second pod's
      assertThat(wsPod.xbosh().webSockets().count()).isEqualTo(1);
      assertThat(boshPod.xbosh().webSockets().count()).isZero();

      // WebSocket → BOSH
      CompletableFuture<List<String>> atBob = CompletableFuture.supplyAsync(() -> BoshSession.receive(bob, "w2b-", N));
      for (int i = 0; i < N; i++) {
        strophe.message("alice", "bob@" + DOMAIN + "/bosh", "w2b-" + i, "w2b-" + i);
      }
      assertThat(atBob.get(90, TimeUnit.SECONDS)).containsExactlyElementsOf(bodies("w2b-"));

      // BOSH → WebSocket
      BoshSession.sendAll(bob, aliceJid, "b2w-", N);
      strophe.awaitEvent(e -> "message".equals(e.getString("ev")) && ("b2w-" + (N - 1)).equals(e.getString("body")),
          Duration.ofSeconds(60));
      List<JsonObject> atAlice = strophe.messages("alice");
      assertThat(atAlice).extracting(m -> m.getString("body")).containsExactlyElementsOf(bodies("b2w-"));
      assertThat(atAlice).extracting(m -> m.getString("from")).containsOnly("bob@" + DOMAIN + "/bosh");

      strophe.disconnect("alice");
      strophe.awaitStatus("alice", "DISCONNECTED", Duration.ofSeconds(30));
      assertThat(strophe.find(e -> "error".equals(e.getString("ev")))).isEmpty();
    } finally {
      bob.sendBody("type='terminate'", "");
    }
  }

  private static List<String> bodies(String prefix) {
    return IntStream.range(0, N).mapToObj(i -> prefix + i).toList();
  }
}
