package io.xbosh.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.xbosh.bench.LoadGenerator;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.HaproxyProcess;
import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.ProsodyProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * BOSH over HTTP/2 without TLS (h2c, {@code XBOSH_HTTP2_CLEARTEXT=true}) to a real Prosody: from an
 * HTTP/2 client with prior knowledge, many sessions' held requests on one connection; from the
 * load generator's h2c mode; and through HAProxy's {@code proto h2}
 * ({@code docs/load-balancer/haproxy-h2.cfg}) in front of the pod, the clients on HTTP/1.1.
 */
class Http2CleartextIT {

  private static final String DOMAIN = ProsodyProcess.DOMAIN;
  private static final String B = BoshSession.B;
  private static final Pattern CONNECTIONS = Pattern.compile("xbosh_http_connections_total\\{[^}]*protocol=\"([^\"]+)\"[^}]*} ([0-9.]+)");

  private static final Pattern HELD = Pattern.compile("(?m)^xbosh_requests_held(?:\\{[^}]*})? ([0-9.]+)");

  private static ProsodyProcess prosody;
  private static InProcessXbosh xbosh;
  private static Vertx vertx;

  @BeforeAll
  static void start() throws Exception {
    Map<String, String> users = new HashMap<>();
    for (String u : List.of("alice", "bob", "carol", "dave", "erin", "frank")) {
      users.put(u, u + "pw");
    }
    for (int i = 0; i < 6; i++) {
      users.put("u" + i, "pw");
    }
    prosody = ProsodyProcess.start(users);
    xbosh = InProcessXbosh.start(Map.of("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(), "XBOSH_NODE_ID", "h2c-pod",
        "XBOSH_HTTP2_CLEARTEXT", "true", "XBOSH_TRUST_FORWARDED_FOR", "true"));
    vertx = Vertx.vertx();
  }

  @AfterAll
  static void stop() throws Exception {
    if (vertx != null) {
      await(vertx.close());
    }
    if (xbosh != null) {
      xbosh.close();
    }
    if (prosody != null) {
      prosody.close();
    }
  }

  private static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
  }

  /** Connections the pod accepted, by protocol, from its metrics. */
  private static Map<String, Double> connections() {
    Map<String, Double> by = new HashMap<>();
    Matcher m = CONNECTIONS.matcher(xbosh.xbosh().pod().metrics().scrape());
    while (m.find()) {
      by.merge(m.group(1), Double.parseDouble(m.group(2)), Double::sum);
    }
    return by;
  }

  /** Requests the pod holds now, from its metrics. */
  private static double held() {
    Matcher m = HELD.matcher(xbosh.xbosh().pod().metrics().scrape());
    return m.find() ? Double.parseDouble(m.group(1)) : 0;
  }

  /** A BOSH client on an HTTP/2 connection it shares with others; every answer must have come over HTTP/2. */
  private static final class H2Session {
    final HttpClientAgent http;
    String sid;
    long rid = 1_000_000 + (long) (Math.random() * 1_000_000);

    H2Session(HttpClientAgent http) {
      this.http = http;
    }

    Future<String> post(String body) {
      return http.request(new RequestOptions().setMethod(HttpMethod.POST).setAbsoluteURI(xbosh.endpoint().toString())
              .putHeader("Content-Type", "text/xml; charset=utf-8"))
          .compose(req -> req.send(Buffer.buffer(body)))
          .compose(res -> res.body().map(b -> {
            assertThat(res.version()).isEqualTo(HttpVersion.HTTP_2);
            assertThat(res.statusCode()).isEqualTo(200);
            return b.toString(StandardCharsets.UTF_8);
          }));
    }

    String send(String payload) throws Exception {
      return await(sendAsync(payload));
    }

    synchronized Future<String> sendAsync(String payload) {
      return post("<body " + B + " sid='" + sid + "' rid='" + (++rid) + "'>" + payload + "</body>");
    }

    void login(String user, String password) throws Exception {
      String created = await(post("<body " + B + " " + BoshSession.X + " rid='" + rid + "' to='" + DOMAIN
          + "' xml:lang='en' wait='20' hold='1' ver='1.11' xmpp:version='1.0'/>"));
      assertThat(created).contains("<mechanism>PLAIN</mechanism>");
      sid = BoshSession.attr(created, "sid");
      String auth = Base64.getEncoder().encodeToString(("\0" + user + "\0" + password).getBytes(StandardCharsets.UTF_8));
      assertThat(send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth>")).contains("<success");
      assertThat(await(post("<body " + B + " " + BoshSession.X + " sid='" + sid + "' rid='" + (++rid) + "' to='" + DOMAIN
          + "' xmpp:restart='true'/>"))).contains("urn:ietf:params:xml:ns:xmpp-bind");
      assertThat(send("<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
          + "<resource>h2</resource></bind></iq>")).contains("<jid>" + user + "@" + DOMAIN + "/h2</jid>");
    }
  }

  @Test
  void sessionsOverOneH2cConnectionLogInAndTheirHeldRequestsCarryMessages() throws Exception {
    double h2Before = connections().getOrDefault("h2c", 0.0);
    HttpClientAgent http = vertx.createHttpClient(new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
        .setHttp2ClearTextUpgrade(false), new PoolOptions().setHttp2MaxSize(1));
    try {
      H2Session alice = new H2Session(http);
      H2Session bob = new H2Session(http);
      alice.login("alice", "alicepw");
      bob.login("bob", "bobpw");
      alice.send("<presence xmlns='jabber:client'/>");
      bob.send("<presence xmlns='jabber:client'/>");
      for (int i = 0; i < 5; i++) {
        // alice's poll is held on the shared connection until bob's message reaches it
        List<String> seen = new ArrayList<>();
        String marker = "<body>over-h2c-" + i + "</body>";
        CompletableFuture<String> atAlice = CompletableFuture.supplyAsync(() -> {
          try {
            String got = "";
            for (int polls = 0; polls < 10 && !got.contains(marker); polls++) {
              got = alice.send("");
              seen.add(got);
            }
            return got;
          } catch (Exception e) {
            throw new IllegalStateException(e);
          }
        });
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> held() >= 1);
        bob.send("<message xmlns='jabber:client' to='alice@" + DOMAIN + "/h2' type='chat'><body>over-h2c-" + i + "</body></message>");
        assertThat(atAlice.get(60, TimeUnit.SECONDS)).contains(marker);
      }
      // hold=1: a newer request of alice's releases her held one, both on the shared connection
      Future<String> heldPoll = alice.sendAsync("");
      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> held() >= 1);
      // with a payload: two empty requests in a row would be overactivity (XEP-0124 §12)
      Future<String> next = alice.sendAsync("<message xmlns='jabber:client' to='bob@" + DOMAIN + "/h2' type='chat'><body>release</body></message>");
      assertThat(heldPoll.toCompletionStage().toCompletableFuture().get(20, TimeUnit.SECONDS)).doesNotContain("<message");
      bob.send("<message xmlns='jabber:client' to='alice@" + DOMAIN + "/h2' type='chat'><body>after-release</body></message>");
      assertThat(next.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS)).contains("after-release");
      // every request of both sessions on the one HTTP/2 connection
      assertThat(connections().getOrDefault("h2c", 0.0) - h2Before).isEqualTo(1.0);
    } finally {
      await(http.close());
    }
  }

  @Test
  void theLoadGeneratorsH2cModeCountsEveryMessageOnce() throws Exception {
    double h2Before = connections().getOrDefault("h2c", 0.0);
    LoadGenerator gen = new LoadGenerator(vertx, new LoadGenerator.Options(List.of(xbosh.endpoint()), DOMAIN, 6, "u", "pw", 10, 6,
        LoadGenerator.WsFraming.RFC7395, 2));
    try {
      await(gen.login());
      LoadGenerator.Result r = await(gen.phase(40, 2000, 10_000));
      assertThat(r.failedLogins()).isZero();
      assertThat(r.sent()).isGreaterThanOrEqualTo(60L);
      assertThat(r.received()).isEqualTo(r.sent());
      assertThat(r.duplicated()).isZero();
      assertThat(r.errors()).isEmpty();
    } finally {
      await(gen.close());
    }
    // six sessions, each with a held poll, on at most the two connections asked for
    assertThat(connections().getOrDefault("h2c", 0.0) - h2Before).isBetween(1.0, 2.0);
  }

  @Test
  void clientsOnHttp11StraightToTheH2cListenerAreAnsweredAndCarryMessages() throws Exception {
    // Vert.x makes such a connection while it decodes the first request: the pipeline must be left
    // as it is then, or the request's body is lost and it ends in a timeout (408) instead of an answer
    double http1Before = connections().getOrDefault("http/1.x", 0.0);
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
    exchange(http, List.of(xbosh.endpoint()), "erin", "frank", "h1", "over-h1-", 10);
    assertThat(connections().getOrDefault("http/1.x", 0.0)).isGreaterThan(http1Before);
  }

  @Test
  void haproxyWithProtoH2CarriesBoshClientsOnHttp11ToThePodOverH2c() throws Exception {
    double http1Before = connections().getOrDefault("http/1.x", 0.0);
    try (HaproxyProcess haproxy = HaproxyProcess.start("docs/load-balancer/haproxy-h2.cfg", List.of(xbosh.port()))) {
      HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
      List<URI> lb = List.of(haproxy.endpoint());
      // HAProxy sends requests once its health check over h2c has found the pod ready (warmed up)
      URI ready = URI.create("http://127.0.0.1:" + haproxy.port() + "/ready");
      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).until(() ->
          http.send(java.net.http.HttpRequest.newBuilder(ready).build(), java.net.http.HttpResponse.BodyHandlers.ofString()).statusCode() == 200);
      exchange(http, lb, "carol", "dave", "lb", "via-h2-", 20);
      // HAProxy spoke HTTP/2 to the pod, its health checks too: no HTTP/1.x connection reached it
      assertThat(connections().getOrDefault("h2c", 0.0)).isPositive();
      assertThat(connections().getOrDefault("http/1.x", 0.0)).isEqualTo(http1Before);
    }
  }

  /** Two users log in (password: the name + "pw"); the first sends the second n messages, each arrives once. */
  private static void exchange(HttpClient http, List<URI> endpoints, String from, String to, String resource,
      String prefix, int n) throws Exception {
    BoshSession sender = BoshSession.login(http, endpoints, DOMAIN, from, from + "pw", resource);
    BoshSession receiver = BoshSession.login(http, endpoints, DOMAIN, to, to + "pw", resource);
    sender.send("<presence xmlns='jabber:client'/>");
    receiver.send("<presence xmlns='jabber:client'/>");
    CompletableFuture<List<String>> received = CompletableFuture.supplyAsync(() -> BoshSession.receive(receiver, prefix, n));
    BoshSession.sendAll(sender, to + "@" + DOMAIN + "/" + resource, prefix, n);
    assertThat(received.get(60, TimeUnit.SECONDS)).hasSize(n).doesNotHaveDuplicates();
  }
}
