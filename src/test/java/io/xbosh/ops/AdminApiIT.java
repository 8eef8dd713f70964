package io.xbosh.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.ProsodyProcess;
import io.xbosh.testing.RedisProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The management port: probes and metrics off the BOSH port, and the admin API behind its token:
 * list (with the bound JID and the requests held), show and end this pod's sessions, list the
 * deployment's pods, drain the pod.
 */
class AdminApiIT {

  private static final String TOKEN = "an-admin-token-of-some-length";
  private static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  private static HttpResponse<String> call(String method, URI uri, String token) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(uri).method(method, HttpRequest.BodyPublishers.noBody());
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void operatorsListShowAndEndSessionsAndDrainThePodOnTheManagementPortOnly() throws Exception {
    Path tokenFile = Files.createTempFile("xbosh-admin", ".token");
    try (ProsodyProcess prosody = ProsodyProcess.start(Map.of("alice", "alicepw"))) {
      Files.writeString(tokenFile, TOKEN + "\n");
      try (InProcessXbosh x = InProcessXbosh.start(Map.of("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(),
          "XBOSH_MANAGEMENT_PORT", "0", "XBOSH_ADMIN_TOKEN_FILE", tokenFile.toString(), "XBOSH_DRAIN_SECONDS", "30"))) {
        String bosh = "http://127.0.0.1:" + x.port();
        String mgmt = "http://127.0.0.1:" + x.xbosh().managementPort();
        assertThat(x.xbosh().managementPort()).isPositive().isNotEqualTo(x.port());
        // probes and metrics moved off the public port
        for (String path : List.of("/metrics", "/ready", "/health", "/admin/sessions")) {
          assertThat(call("GET", URI.create(bosh + path), TOKEN).statusCode()).as(path + " on the BOSH port").isEqualTo(404);
        }
        assertThat(call("GET", URI.create(mgmt + "/ready"), null).statusCode()).isEqualTo(200);
        assertThat(call("GET", URI.create(mgmt + "/metrics"), null).body()).contains("xbosh_sessions_owned");
        // the admin API wants the token
        URI sessions = URI.create(mgmt + "/admin/sessions");
        assertThat(call("GET", sessions, null).statusCode()).isEqualTo(401);
        assertThat(call("GET", sessions, "wrong-token-wrong-token").statusCode()).isEqualTo(401);

        // wait=60: a request sent with nothing to answer stays held until the end
        BoshSession s = BoshSession.login(http, List.of(x.endpoint()), ProsodyProcess.DOMAIN, "alice", "alicepw", "admin", 60);
        String jid = "alice@" + ProsodyProcess.DOMAIN + "/admin";
        // the bind answer has gone out: nothing is held any more
        await().atMost(Duration.ofSeconds(10)).until(() -> new JsonArray(call("GET", sessions, TOKEN).body()).getJsonObject(0).getInteger("held") == 0);
        HttpResponse<String> list = call("GET", sessions, TOKEN);
        assertThat(list.statusCode()).isEqualTo(200);
        JsonArray all = new JsonArray(list.body());
        assertThat(all).hasSize(1);
        JsonObject one = all.getJsonObject(0);
        assertThat(one.getString("sid")).isEqualTo(s.sid);
        assertThat(one.getString("pod")).isEqualTo(x.xbosh().pod().id());
        assertThat(one.getString("jid")).as("the JID the server bound").isEqualTo(jid);
        assertThat(one.getString("client")).isEqualTo("127.0.0.1");
        assertThat(one.getInteger("streams")).isEqualTo(1);
        assertThat(one.getLong("age_seconds")).isNotNegative();
        assertThat(one.containsKey("stream_jids")).isFalse();

        // an empty request with nothing to answer is held: the list counts it
        java.util.concurrent.CompletableFuture<HttpResponse<String>> heldRequest = s.sendAsync("");
        await().atMost(Duration.ofSeconds(10)).until(() -> new JsonArray(call("GET", sessions, TOKEN).body()).getJsonObject(0).getInteger("held") == 1);
        HttpResponse<String> shownResponse = call("GET", URI.create(mgmt + "/admin/sessions/" + s.sid), TOKEN);
        JsonObject shown = new JsonObject(shownResponse.body());
        assertThat(shown.getString("sid")).isEqualTo(s.sid);
        assertThat(shown.getString("pod")).isEqualTo(x.xbosh().pod().id());
        assertThat(shown.getString("jid")).isEqualTo(jid);
        assertThat(shown.getInteger("held")).isEqualTo(1);
        // the deployment's pods: here the only one
        HttpResponse<String> pods = call("GET", URI.create(mgmt + "/admin/pods"), TOKEN);
        assertThat(pods.statusCode()).isEqualTo(200);
        assertThat(new JsonObject(pods.body()).getString("pod")).isEqualTo(x.xbosh().pod().id());
        assertThat(new JsonObject(pods.body()).getJsonArray("pods").stream().map(Object::toString).toList())
            .containsExactly(x.xbosh().pod().id());
        assertThat(call("GET", URI.create(mgmt + "/admin/pods"), null).statusCode()).isEqualTo(401);
        // nothing of the session's content, SASL least of all (neither the password nor the PLAIN message)
        String plain = java.util.Base64.getEncoder().encodeToString("\0alice\0alicepw".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        for (String answer : List.of(list.body(), shownResponse.body(), pods.body())) {
          assertThat(answer).doesNotContain("alicepw").doesNotContain(plain).doesNotContain("auth").doesNotContain("sasl")
              .doesNotContain("<");
        }
        assertThat(call("GET", URI.create(mgmt + "/admin/sessions/nosuchsid"), TOKEN).statusCode()).isEqualTo(404);

        // ending it: the held request and the next one carry the condition to the client
        assertThat(call("DELETE", URI.create(mgmt + "/admin/sessions/" + s.sid + "?condition=nonsense"), TOKEN).statusCode())
            .isEqualTo(400);
        HttpResponse<String> ended = call("DELETE", URI.create(mgmt + "/admin/sessions/" + s.sid + "?condition=see-other-uri"), TOKEN);
        assertThat(ended.statusCode()).isEqualTo(200);
        assertThat(new JsonObject(ended.body()).getString("ended")).isEqualTo("see-other-uri");
        assertThat(heldRequest.get(30, java.util.concurrent.TimeUnit.SECONDS).body()).contains("type=\"terminate\"")
            .contains("condition=\"see-other-uri\"");
        String next = s.send("").body();
        assertThat(next).contains("type=\"terminate\"").contains("condition=\"see-other-uri\"");
        await().atMost(Duration.ofSeconds(10)).until(() -> new JsonArray(call("GET", sessions, TOKEN).body()).isEmpty());
        assertThat(call("DELETE", URI.create(mgmt + "/admin/sessions/" + s.sid), TOKEN).statusCode()).isEqualTo(404);

        // drain: the pod leaves the load balancer, the process stays
        assertThat(call("POST", URI.create(mgmt + "/admin/drain"), null).statusCode()).isEqualTo(401);
        assertThat(call("POST", URI.create(mgmt + "/admin/drain"), TOKEN).statusCode()).isEqualTo(202);
        assertThat(call("GET", URI.create(mgmt + "/ready"), null).statusCode()).isEqualTo(503);
        assertThat(call("GET", URI.create(mgmt + "/health"), null).statusCode()).isEqualTo(200);
      }
    } finally {
      Files.deleteIfExists(tokenFile);
    }
  }

  /**
   * WebSocket streams live on the pod that holds the socket, with nothing in the store: that pod
   * lists them beside its BOSH sessions (transport, bound JID, client, age, streams, state), shows
   * one, and ends one with a stream error or with see-other-uri; the other pod knows nothing of them.
   */
  @Test
  void w13_webSocketStreamsAreListedShownAndEndedByThePodHoldingTheirSocket() throws Exception {
    Path tokenFile = Files.createTempFile("xbosh-admin", ".token");
    io.vertx.core.Vertx vertx = io.vertx.core.Vertx.vertx();
    try (ProsodyProcess prosody = ProsodyProcess.start(Map.of("alice", "alicepw", "bob", "bobpw", "carol", "carolpw"));
        RedisProcess redis = RedisProcess.start()) {
      Files.writeString(tokenFile, TOKEN + "\n");
      Map<String, String> common = Map.of("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(), "XBOSH_REDIS_URL",
          "redis://127.0.0.1:" + redis.port(), "XBOSH_MANAGEMENT_PORT", "0", "XBOSH_ADMIN_TOKEN_FILE", tokenFile.toString());
      Map<String, String> a = new java.util.HashMap<>(common);
      a.put("XBOSH_NODE_ID", "ws-admin-a");
      Map<String, String> b = new java.util.HashMap<>(common);
      b.put("XBOSH_NODE_ID", "ws-admin-b");
      try (InProcessXbosh xa = InProcessXbosh.start(a); InProcessXbosh xb = InProcessXbosh.start(b)) {
        String mgmtA = "http://127.0.0.1:" + xa.xbosh().managementPort();
        String mgmtB = "http://127.0.0.1:" + xb.xbosh().managementPort();
        io.vertx.core.http.WebSocketClient client = vertx.createWebSocketClient();
        // each opens its stream at once (a socket without <open/> for XBOSH_CONNECT_TIMEOUT_MS is ended)
        AdminWs alice = AdminWs.connect(client, xa.port());
        alice.login("alice", "alicepw", "ws");
        AdminWs carol = AdminWs.connect(client, xa.port());
        carol.login("carol", "carolpw", "ws");
        BoshSession bob = BoshSession.login(http, List.of(xa.endpoint()), ProsodyProcess.DOMAIN, "bob", "bobpw", "bosh");

        JsonArray all = new JsonArray(call("GET", URI.create(mgmtA + "/admin/sessions"), TOKEN).body());
        assertThat(all).hasSize(3);
        List<JsonObject> ws = all.stream().map(o -> (JsonObject) o).filter(o -> "websocket".equals(o.getString("transport"))).toList();
        List<JsonObject> bosh = all.stream().map(o -> (JsonObject) o).filter(o -> "bosh".equals(o.getString("transport"))).toList();
        assertThat(bosh).hasSize(1);
        assertThat(bosh.get(0).getString("sid")).isEqualTo(bob.sid);
        assertThat(ws).hasSize(2);
        assertThat(ws).extracting(o -> o.getString("jid"))
            .containsExactlyInAnyOrder("alice@" + ProsodyProcess.DOMAIN + "/ws", "carol@" + ProsodyProcess.DOMAIN + "/ws");
        for (JsonObject o : ws) {
          assertThat(o.getString("sid")).startsWith("ws-");
          assertThat(o.getString("pod")).isEqualTo("ws-admin-a");
          assertThat(o.getString("client")).isEqualTo("127.0.0.1");
          assertThat(o.getLong("age_seconds")).isNotNegative();
          // the first stream header and the restart after SASL
          assertThat(o.getInteger("streams")).isEqualTo(2);
          assertThat(o.getString("state")).isEqualTo("open");
        }
        assertThat(new JsonArray(call("GET", URI.create(mgmtA + "/admin/sessions?transport=websocket"), TOKEN).body())).hasSize(2);
        assertThat(new JsonArray(call("GET", URI.create(mgmtA + "/admin/sessions?transport=bosh"), TOKEN).body())).hasSize(1);
        assertThat(call("GET", URI.create(mgmtA + "/admin/sessions?transport=carrier-pigeon"), TOKEN).statusCode()).isEqualTo(400);
        // nothing of the streams' content, SASL least of all
        assertThat(all.encode()).doesNotContain("alicepw").doesNotContain("carolpw").doesNotContain("sasl").doesNotContain("<");
        // the other pod holds neither socket
        assertThat(new JsonArray(call("GET", URI.create(mgmtB + "/admin/sessions?transport=websocket"), TOKEN).body())).isEmpty();
        // sessions by transport, as each pod counts them
        assertThat(call("GET", URI.create(mgmtA + "/metrics"), null).body())
            .containsPattern("(?m)^xbosh_sessions_transport\\{transport=\"websocket\"} 2\\.0$")
            .containsPattern("(?m)^xbosh_sessions_transport\\{transport=\"bosh\"} 1\\.0$");
        assertThat(call("GET", URI.create(mgmtB + "/metrics"), null).body())
            .containsPattern("(?m)^xbosh_sessions_transport\\{transport=\"websocket\"} 0\\.0$");

        JsonObject aliceRow = ws.stream().filter(o -> o.getString("jid").startsWith("alice@")).findFirst().orElseThrow();
        JsonObject carolRow = ws.stream().filter(o -> o.getString("jid").startsWith("carol@")).findFirst().orElseThrow();
        String aliceId = aliceRow.getString("sid");
        String carolId = carolRow.getString("sid");
        HttpResponse<String> shown = call("GET", URI.create(mgmtA + "/admin/sessions/" + aliceId), TOKEN);
        assertThat(shown.statusCode()).isEqualTo(200);
        assertThat(new JsonObject(shown.body()).getString("jid")).isEqualTo(aliceRow.getString("jid"));
        assertThat(new JsonObject(shown.body()).getString("transport")).isEqualTo("websocket");
        assertThat(call("GET", URI.create(mgmtB + "/admin/sessions/" + aliceId), TOKEN).statusCode()).isEqualTo(404);
        assertThat(call("DELETE", URI.create(mgmtB + "/admin/sessions/" + aliceId), TOKEN).statusCode()).isEqualTo(404);

        // ending: a stream error condition of RFC 6120, then <close/>
        assertThat(call("DELETE", URI.create(mgmtA + "/admin/sessions/" + aliceId + "?condition=nonsense"), TOKEN).statusCode())
            .isEqualTo(400);
        HttpResponse<String> ended = call("DELETE", URI.create(mgmtA + "/admin/sessions/" + aliceId + "?condition=reset"), TOKEN);
        assertThat(ended.statusCode()).isEqualTo(200);
        assertThat(new JsonObject(ended.body()).getString("ended")).isEqualTo("reset");
        assertThat(alice.until(m -> m.startsWith("<stream:error"))).contains("<reset ");
        assertThat(alice.until(m -> m.startsWith("<close"))).isEqualTo("<close xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\"/>");
        // or RFC 7395 §3.6.1: see-other-uri, which needs a WebSocket URI
        assertThat(call("DELETE", URI.create(mgmtA + "/admin/sessions/" + carolId + "?condition=see-other-uri"), TOKEN).statusCode())
            .isEqualTo(400);
        String other = "wss://chat.example.org/xmpp-websocket";
        HttpResponse<String> moved = call("DELETE", URI.create(mgmtA + "/admin/sessions/" + carolId + "?condition=see-other-uri&uri="
            + java.net.URLEncoder.encode(other, java.nio.charset.StandardCharsets.UTF_8)), TOKEN);
        assertThat(moved.statusCode()).isEqualTo(200);
        assertThat(carol.until(m -> m.startsWith("<close"))).isEqualTo("<close xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\" see-other-uri=\""
            + other + "\"/>");
        // both gone from the list; the BOSH user beside them goes on
        await().atMost(Duration.ofSeconds(10)).until(() ->
            new JsonArray(call("GET", URI.create(mgmtA + "/admin/sessions?transport=websocket"), TOKEN).body()).isEmpty());
        List<String> seen = new java.util.ArrayList<>();
        seen.add(bob.send("<iq xmlns='jabber:client' type='get' id='p1' to='" + ProsodyProcess.DOMAIN + "'><ping xmlns='urn:xmpp:ping'/></iq>")
            .body());
        assertThat(bob.awaitBody(r -> r.contains("p1"), seen)).contains("type=\"result\"");
        bob.sendBody("type='terminate'", "");
      }
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(20, java.util.concurrent.TimeUnit.SECONDS);
      Files.deleteIfExists(tokenFile);
    }
  }

  /** A small RFC 7395 client for the admin test: login, then the messages as they come. */
  private static final class AdminWs {
    final io.vertx.core.http.WebSocket ws;
    final java.util.concurrent.LinkedBlockingQueue<String> in = new java.util.concurrent.LinkedBlockingQueue<>();

    private AdminWs(io.vertx.core.http.WebSocket ws) {
      this.ws = ws;
      ws.textMessageHandler(in::add);
    }

    static AdminWs connect(io.vertx.core.http.WebSocketClient client, int port) throws Exception {
      return new AdminWs(client.connect(new io.vertx.core.http.WebSocketConnectOptions().setHost("127.0.0.1").setPort(port)
          .setURI("/xmpp-websocket").addSubProtocol("xmpp")).toCompletionStage().toCompletableFuture()
          .get(20, java.util.concurrent.TimeUnit.SECONDS));
    }

    void send(String text) {
      ws.writeTextMessage(text);
    }

    String until(java.util.function.Predicate<String> p) throws Exception {
      while (true) {
        String m = in.poll(20, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(m).as("a message within 20 s").isNotNull();
        if (p.test(m)) {
          return m;
        }
      }
    }

    void login(String user, String password, String resource) throws Exception {
      String open = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='" + ProsodyProcess.DOMAIN + "' version='1.0'/>";
      send(open);
      until(m -> m.contains("<mechanism>PLAIN</mechanism>"));
      send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + java.util.Base64.getEncoder().encodeToString(
          ("\0" + user + "\0" + password).getBytes(java.nio.charset.StandardCharsets.UTF_8)) + "</auth>");
      until(m -> m.startsWith("<success"));
      send(open);
      until(m -> m.contains("urn:ietf:params:xml:ns:xmpp-bind"));
      send("<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + resource
          + "</resource></bind></iq>");
      until(m -> m.contains("<jid>"));
    }
  }

  /**
   * Two pods on one Redis: each names both pods, lists the sessions it owns with their JIDs, and
   * knows nothing of the other's; the store's pool state is on /metrics.
   */
  @Test
  void everyPodNamesTheDeploymentsPodsAndListsOnlyItsOwnSessions() throws Exception {
    Path tokenFile = Files.createTempFile("xbosh-admin", ".token");
    try (ProsodyProcess prosody = ProsodyProcess.start(Map.of("alice", "alicepw", "bob", "bobpw"));
        RedisProcess redis = RedisProcess.start()) {
      Files.writeString(tokenFile, TOKEN + "\n");
      Map<String, String> common = Map.of("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(), "XBOSH_REDIS_URL",
          "redis://127.0.0.1:" + redis.port(), "XBOSH_MANAGEMENT_PORT", "0", "XBOSH_ADMIN_TOKEN_FILE", tokenFile.toString());
      Map<String, String> a = new java.util.HashMap<>(common);
      a.put("XBOSH_NODE_ID", "admin-a");
      Map<String, String> b = new java.util.HashMap<>(common);
      b.put("XBOSH_NODE_ID", "admin-b");
      try (InProcessXbosh xa = InProcessXbosh.start(a); InProcessXbosh xb = InProcessXbosh.start(b)) {
        String mgmtA = "http://127.0.0.1:" + xa.xbosh().managementPort();
        String mgmtB = "http://127.0.0.1:" + xb.xbosh().managementPort();
        for (String mgmt : List.of(mgmtA, mgmtB)) {
          await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(
              new JsonObject(call("GET", URI.create(mgmt + "/admin/pods"), TOKEN).body()).getJsonArray("pods").stream()
                  .map(Object::toString).toList()).containsExactly("admin-a", "admin-b"));
        }
        BoshSession alice = BoshSession.login(http, List.of(xa.endpoint()), ProsodyProcess.DOMAIN, "alice", "alicepw", "web");
        BoshSession bob = BoshSession.login(http, List.of(xb.endpoint()), ProsodyProcess.DOMAIN, "bob", "bobpw", "phone");
        JsonArray onA = new JsonArray(call("GET", URI.create(mgmtA + "/admin/sessions"), TOKEN).body());
        JsonArray onB = new JsonArray(call("GET", URI.create(mgmtB + "/admin/sessions"), TOKEN).body());
        assertThat(onA).hasSize(1);
        assertThat(onB).hasSize(1);
        assertThat(onA.getJsonObject(0).getString("sid")).isEqualTo(alice.sid);
        assertThat(onA.getJsonObject(0).getString("pod")).isEqualTo("admin-a");
        assertThat(onA.getJsonObject(0).getString("jid")).isEqualTo("alice@" + ProsodyProcess.DOMAIN + "/web");
        assertThat(onB.getJsonObject(0).getString("sid")).isEqualTo(bob.sid);
        assertThat(onB.getJsonObject(0).getString("jid")).isEqualTo("bob@" + ProsodyProcess.DOMAIN + "/phone");
        assertThat(onA.encode() + onB.encode()).doesNotContain("alicepw").doesNotContain("bobpw").doesNotContain("sasl");
        assertThat(call("GET", URI.create(mgmtB + "/admin/sessions/" + alice.sid), TOKEN).statusCode()).isEqualTo(404);
        assertThat(call("DELETE", URI.create(mgmtB + "/admin/sessions/" + alice.sid), TOKEN).statusCode()).isEqualTo(404);
        // the Redis pool as the store sees it
        String metrics = call("GET", URI.create(mgmtA + "/metrics"), null).body();
        assertThat(metrics).containsPattern("(?m)^xbosh_redis_pool_connections 32\\.0$").containsPattern("(?m)^xbosh_redis_inflight \\d")
            .containsPattern("(?m)^xbosh_redis_pool_busy_total 0\\.0$");
      }
    } finally {
      Files.deleteIfExists(tokenFile);
    }
  }
}
