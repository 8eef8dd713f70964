package io.xbosh.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Vertx;
import io.vertx.core.net.NetServer;
import io.xbosh.Xbosh;
import io.xbosh.config.XboshConfig;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.ExternalProcess;
import io.xbosh.testing.ProsodyProcess;
import java.io.DataInputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Black-box HTTP tests: raw BOSH bodies through xbosh to a real Prosody. Subclasses pick the store.
 */
abstract class BoshHttpContract {

  static final String B = BoshSession.B;
  static final String X = BoshSession.X;

  static ProsodyProcess prosody;
  static Vertx vertx;
  static Xbosh xbosh;
  static NetServer flakyServer;
  static Map<String, String> baseEnv;
  static int refusedPort;
  /** The last stream header the fake server received. */
  static final java.util.concurrent.atomic.AtomicReference<String> lastHeader = new java.util.concurrent.atomic.AtomicReference<>();
  static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  /** Starts Prosody, a server that drops clients once they send presence, and xbosh with extra settings. */
  static void startAll(Map<String, String> extra) throws Exception {
    prosody = ProsodyProcess.start(Map.of("alice", "alicepw", "bob", "bobpw"));
    vertx = Vertx.vertx();
    flakyServer = vertx.createNetServer().connectHandler(sock -> sock.handler(buf -> {
      String s = buf.toString();
      if (s.contains("<stream:stream")) {
        lastHeader.set(s);
        sock.write("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
            + " id='f1' from='flaky.test' version='1.0'><stream:features/>");
      }
      if (s.contains("last-words-and-close")) {
        // Prosody on a resource conflict: the last stanza, the stream error, the stream end and the
        // FIN in one go, while the link is still handing the stanza to the store
        sock.end(io.vertx.core.buffer.Buffer.buffer("<message xmlns='jabber:client' from='flaky.test'><body>last words</body></message>"
            + "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"));
        return;
      }
      if (s.contains("<presence")) {
        sock.close(); // the server goes away mid-session
      }
      if (s.contains("<message")) {
        // a stanza, then a stream error and the end of the stream
        sock.write("<message xmlns='jabber:client' from='flaky.test'><body>last words</body></message>"
            + "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>replaced</text>"
            + "</stream:error></stream:stream>");
      }
      if (s.contains("<iq")) {
        sock.write("</stream:stream>"); // a clean end from the server's side
      }
    })).listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    refusedPort = ExternalProcess.freePort();
    Map<String, String> env = new HashMap<>(Map.of(
        "XBOSH_HTTP_HOST", "127.0.0.1",
        "XBOSH_HTTP_PORT", "0",
        "XBOSH_EVENT_LOOPS", "2",
        "XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(),
        "XBOSH_UPSTREAM_HOSTS", "refused.test=127.0.0.1:" + refusedPort + ",flaky.test=127.0.0.1:" + flakyServer.actualPort(),
        "XBOSH_DOMAINS", "localhost,refused.test,flaky.test",
        "XBOSH_MAX_BODY_BYTES", "4096",
        "XBOSH_NODE_ID", "test-pod",
        "XBOSH_SWEEP_MS", "200",
        "XBOSH_CORS_ORIGINS", "https://app.example.org"));
    env.putAll(extra);
    env = new HashMap<>(io.xbosh.testing.OneClientAddress.withLimitsOff(env));
    baseEnv = Map.copyOf(env);
    xbosh = Xbosh.start(vertx, XboshConfig.from(env)).toCompletionStage().toCompletableFuture().get(20, TimeUnit.SECONDS);
  }

  @AfterAll
  static void stopAll() throws Exception {
    // idempotent: subclasses call it before stopping what xbosh depends on
    if (xbosh != null) {
      xbosh.stop().toCompletionStage().toCompletableFuture().get(20, TimeUnit.SECONDS);
      xbosh = null;
    }
    if (vertx != null) {
      vertx.close().toCompletionStage().toCompletableFuture().get(20, TimeUnit.SECONDS);
      vertx = null;
    }
    if (prosody != null) {
      prosody.close();
      prosody = null;
    }
  }

  /** A second pod beside the suite's, on the same store settings with some changed; closing stops it. */
  record ExtraPod(Xbosh xbosh) implements AutoCloseable {

    static ExtraPod start(String nodeId, String... settings) throws Exception {
      Map<String, String> env = new HashMap<>(baseEnv);
      env.put("XBOSH_NODE_ID", nodeId);
      for (int i = 0; i < settings.length; i += 2) {
        env.put(settings[i], settings[i + 1]);
      }
      return new ExtraPod(Xbosh.start(vertx, XboshConfig.from(env)).toCompletionStage().toCompletableFuture().get(20, TimeUnit.SECONDS));
    }

    URI endpoint() {
      return URI.create("http://127.0.0.1:" + xbosh.port() + "/http-bind");
    }

    io.xbosh.pod.Pod pod() {
      return xbosh.pod();
    }

    @Override
    public void close() throws Exception {
      xbosh.stop().toCompletionStage().toCompletableFuture().get(20, TimeUnit.SECONDS);
    }
  }

  static URI uri() {
    return URI.create("http://127.0.0.1:" + xbosh.port() + "/http-bind");
  }

  static HttpResponse<String> post(String body) throws Exception {
    return BoshSession.post(http, uri(), body);
  }

  static HttpResponse<String> send(HttpRequest req) throws Exception {
    return http.send(req, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  static String attr(String xml, String name) {
    return BoshSession.attr(xml, name);
  }

  static BoshSession login(String user, String password, String resource) throws Exception {
    return login(uri(), user, password, resource);
  }

  static BoshSession login(URI endpoint, String user, String password, String resource) throws Exception {
    return BoshSession.login(http, List.of(endpoint), "localhost", user, password, resource);
  }

  // ---- the walk

  @Test
  void b10_b14_b17_b18_b19_b20_b22_b26_b50_b60_walkCreationSaslRestartBindMessageTerminate() throws Exception {
    HttpResponse<String> created = post("<body " + B + " " + X + " rid='4242' to='localhost' xml:lang='en' wait='2' hold='1'"
        + " ver='1.11' ack='1' xmpp:version='1.0'/>");
    String body = created.body();
    assertThat(created.statusCode()).isEqualTo(200);
    assertThat(created.headers().firstValue("content-type")).hasValue("text/xml; charset=utf-8");
    assertThat(attr(body, "sid")).hasSizeGreaterThanOrEqualTo(22);
    assertThat(attr(body, "wait")).isEqualTo("2");
    assertThat(attr(body, "requests")).isEqualTo("2");
    assertThat(attr(body, "hold")).isEqualTo("1");
    assertThat(attr(body, "maxpause")).isEqualTo("120");
    assertThat(attr(body, "ver")).isEqualTo("1.11");
    assertThat(attr(body, "ack")).isEqualTo("4242");
    assertThat(attr(body, "xmpp:version")).isEqualTo("1.0");
    assertThat(attr(body, "xmpp:restartlogic")).isEqualTo("true");
    assertThat(attr(body, "authid")).isNotBlank();
    assertThat(attr(body, "accept")).isEqualTo("gzip,deflate");
    assertThat(attr(body, "from")).isEqualTo("localhost");
    assertThat(attr(body, "secure")).isEqualTo("false");
    assertThat(body).contains("<stream:features>").doesNotContain("starttls");

    BoshSession alice = login("alice", "alicepw", "walk");
    // a message to oneself comes back through the held poll
    HttpResponse<String> sent = alice.send("<message xmlns='jabber:client' to='alice@localhost/walk' id='m1'>"
        + "<body>caf\u00e9 &amp; \uD83D\uDE00</body></message>");
    String echoed = sent.body().contains("id=\"m1\"") ? sent.body() : alice.send("").body();
    assertThat(echoed).contains("<message xmlns=\"jabber:client\"").contains("<body>caf\u00e9 &amp; \uD83D\uDE00</body>");

    HttpResponse<String> bye = alice.send("<presence xmlns='jabber:client' type='unavailable'/>".replace("<presence", "<presence")
        .substring(0, 0)); // poll
    assertThat(bye.statusCode()).isEqualTo(200);
    HttpResponse<String> terminated = post("<body " + B + " sid='" + alice.sid + "' rid='" + (++alice.rid)
        + "' type='terminate'><presence xmlns='jabber:client' type='unavailable'/></body>");
    assertThat(terminated.body()).contains("type=\"terminate\"").doesNotContain("condition=");
    assertThat(alice.send("").body()).contains("type=\"terminate\"");
  }

  @Test
  void b03_everyResponseHasContentLengthAndIsNotChunked() throws Exception {
    for (String req : new String[] {
        "<body " + B + " rid='10' to='localhost' wait='1' hold='1' ver='1.6'/>",
        "<body " + B + " rid='10' sid='unknown'/>",
        "<nope/>"}) {
      HttpResponse<String> r = post(req);
      assertThat(r.headers().firstValue("content-length")).as(req).hasValue(Integer.toString(r.body().getBytes(StandardCharsets.UTF_8).length));
      assertThat(r.headers().firstValue("transfer-encoding")).as(req).isEmpty();
    }
  }

  @Test
  void b05_requestContentTypeIgnored() throws Exception {
    for (String type : new String[] {"text/plain", "application/x-www-form-urlencoded", "application/xml"}) {
      HttpResponse<String> r = send(HttpRequest.newBuilder(uri()).header("Content-Type", type)
          .POST(HttpRequest.BodyPublishers.ofString("<body " + B + " rid='7' to='localhost' wait='1' hold='1' ver='1.6'/>")).build());
      assertThat(attr(r.body(), "sid")).as(type).isNotNull();
    }
  }

  @Test
  void b16_contentAttributeIsTheResponseContentType() throws Exception {
    HttpResponse<String> r = post("<body " + B + " rid='7' to='localhost' wait='1' hold='1' ver='1.6' content='text/html; charset=utf-8'/>");
    assertThat(r.headers().firstValue("content-type")).hasValue("text/html; charset=utf-8");
    HttpResponse<String> poll = post("<body " + B + " rid='8' sid='" + attr(r.body(), "sid") + "'/>");
    assertThat(poll.headers().firstValue("content-type")).hasValue("text/html; charset=utf-8");
  }

  @Test
  void b23_emptyBodyWhenWaitRunsOut() throws Exception {
    BoshSession s = login("bob", "bobpw", "wait");
    long start = System.nanoTime();
    HttpResponse<String> r = s.send("");
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertThat(r.body()).isEqualTo("<body xmlns=\"http://jabber.org/protocol/httpbind\" xmlns:stream=\"http://etherx.jabber.org/streams\"/>");
    assertThat(ms).isGreaterThanOrEqualTo(1500);
  }

  @Test
  void b24_b28_holdReleaseAndResentRidAnsweredIdentically() throws Exception {
    BoshSession s = login("bob", "bobpw", "hold");
    CompletableFuture<HttpResponse<String>> first = s.sendAsync("");
    long firstRid = s.rid;
    // once 'first' is held, the next request releases it (hold=1)
    HttpResponse<String> second = s.send("<iq xmlns='jabber:client' type='get' id='ping1'><ping xmlns='urn:xmpp:ping'/></iq>");
    HttpResponse<String> firstAnswer = first.get(10, TimeUnit.SECONDS);
    assertThat(firstAnswer.statusCode()).isEqualTo(200);
    String pong = firstAnswer.body() + second.body();
    assertThat(pong).contains("id=\"ping1\"");
    HttpResponse<String> resent = post("<body " + B + " sid='" + s.sid + "' rid='" + firstRid + "'/>");
    assertThat(resent.body()).isEqualTo(firstAnswer.body());
  }

  @Test
  void b21_b27_earlyRidIsForwardedAfterTheGapFills() throws Exception {
    BoshSession s = login("alice", "alicepw", "order");
    long base = s.rid;
    CompletableFuture<HttpResponse<String>> later = BoshSession.postAsync(http, uri(), "<body " + B + " sid='" + s.sid + "' rid='" + (base + 2) + "'>"
        + "<message xmlns='jabber:client' to='alice@localhost/order'><body>second</body></message></body>");
    HttpResponse<String> earlier = post("<body " + B + " sid='" + s.sid + "' rid='" + (base + 1) + "'>"
        + "<message xmlns='jabber:client' to='alice@localhost/order'><body>first</body></message></body>");
    String both = earlier.body() + later.get(10, TimeUnit.SECONDS).body();
    s.rid = base + 2;
    if (!both.contains("second")) {
      both += s.send("").body();
    }
    assertThat(both.indexOf("<body>first</body>")).isNotNegative().isLessThan(both.indexOf("<body>second</body>"));
  }

  @Test
  void b04_b21_b25_twoHundredMessagesEachWayArriveInOrder() throws Exception {
    int n = 200;
    // each user has a sending session and a receiving one that long-polls one request at a time
    BoshSession aliceOut = login("alice", "alicepw", "out");
    BoshSession bobOut = login("bob", "bobpw", "out");
    BoshSession aliceIn = login("alice", "alicepw", "in");
    BoshSession bobIn = login("bob", "bobpw", "in");
    CompletableFuture<List<String>> toBob = CompletableFuture.supplyAsync(() -> BoshSession.receive(bobIn, "a2b-", n));
    CompletableFuture<List<String>> toAlice = CompletableFuture.supplyAsync(() -> BoshSession.receive(aliceIn, "b2a-", n));
    CompletableFuture<Void> fromAlice = CompletableFuture.runAsync(() -> BoshSession.sendAll(aliceOut, "bob@localhost/in", "a2b-", n));
    CompletableFuture<Void> fromBob = CompletableFuture.runAsync(() -> BoshSession.sendAll(bobOut, "alice@localhost/in", "b2a-", n));
    fromAlice.get(60, TimeUnit.SECONDS);
    fromBob.get(60, TimeUnit.SECONDS);
    assertThat(toBob.get(60, TimeUnit.SECONDS)).containsExactlyElementsOf(IntStream.range(0, n).mapToObj(i -> "a2b-" + i).toList());
    assertThat(toAlice.get(60, TimeUnit.SECONDS)).containsExactlyElementsOf(IntStream.range(0, n).mapToObj(i -> "b2a-" + i).toList());
  }

  @Test
  void b40_inactivityEndsTheSessionAndClosesItsUpstreamLink() throws Exception {
    try (ExtraPod idlePod = ExtraPod.start("idle-pod", "XBOSH_INACTIVITY", "2")) {
      BoshSession idle = login(idlePod.endpoint(), "alice", "alicepw", "idle");
      BoshSession watcher = login("bob", "bobpw", "watcher");
      assertThat(idlePod.pod().ownedSessions()).isEqualTo(1);
      // nothing held and nothing sent: after 2 s the session is over and its c2s stream with it, so
      // the server answers for the resource (bound by login) with an error instead of relaying
      await().atMost(Duration.ofSeconds(15)).until(() -> idlePod.pod().ownedSessions() == 0);
      await().atMost(Duration.ofSeconds(15)).until(() -> BoshSession.pingResult(watcher, "alice@localhost/idle", "w" + System.nanoTime()).contains("type=\"error\""));
      assertTerminate(idle.send(""), 200, "item-not-found");
    }
  }

  @Test
  void b55_aMessageWaitingForAnExpiredSessionBouncesToItsSender() throws Exception {
    try (ExtraPod idlePod = ExtraPod.start("bounce-pod", "XBOSH_INACTIVITY", "2")) {
      // the sender first: alice's session must still live when the message reaches her. Bob's wait
      // is longer than alice's inactivity, so the bounce comes while the request that carried the
      // message is still held: it is that request's response, and a check that only looks at later
      // polls would miss it (with equal waits it is a race between bob's wait and alice's expiry)
      BoshSession sender = BoshSession.login(http, List.of(uri()), "localhost", "bob", "bobpw", "sender", 20);
      BoshSession idle = login(idlePod.endpoint(), "alice", "alicepw", "gone");
      // alice holds no request: the message waits in the store until her session expires
      List<String> seen = new ArrayList<>();
      seen.add(sender.send("<message xmlns='jabber:client' to='alice@localhost/gone' id='never-read'><body>are you there?</body></message>").body());
      String bounced = sender.awaitBody(b -> b.contains("id=\"never-read\""), seen);
      assertThat(bounced).contains("type=\"error\"").contains("<recipient-unavailable ").contains("from=\"alice@localhost/gone\"");
      assertTerminate(idle.send(""), 200, "item-not-found");
    }
  }

  @Test
  void b41_pauseWithinMaxpauseAnswersAtOncePauseAboveItIsPolicyViolation() throws Exception {
    BoshSession s = login("alice", "alicepw", "pause");
    CompletableFuture<HttpResponse<String>> held = s.sendAsync("");
    HttpResponse<String> paused = post("<body " + B + " sid='" + s.sid + "' rid='" + (++s.rid) + "' pause='60'/>");
    assertThat(paused.statusCode()).isEqualTo(200);
    assertThat(paused.body()).doesNotContain("type=");
    assertThat(held.get(10, TimeUnit.SECONDS).body()).doesNotContain("type=");
    // back from the pause: the session works as before
    assertThat(BoshSession.pingResult(s, "localhost", "back1")).contains("id=\"back1\"").contains("type=\"result\"");
    assertTerminate(post("<body " + B + " sid='" + s.sid + "' rid='" + (++s.rid) + "' pause='121'/>"), 200, "policy-violation");
    assertTerminate(s.send(""), 200, "policy-violation");
  }

  @Test
  void b03_b04_persistentConnectionWithPipelinedRequestsAnsweredInOrder() throws Exception {
    BoshSession s = login("alice", "alicepw", "pipe");
    try (Socket socket = new Socket("127.0.0.1", xbosh.port())) {
      socket.setSoTimeout(15_000);
      OutputStream out = socket.getOutputStream();
      DataInputStream in = new DataInputStream(socket.getInputStream());
      // two requests written back to back before reading anything: a ping (answered by the server)
      // then an empty poll (answered when wait runs out)
      String first = "<body " + B + " sid='" + s.sid + "' rid='" + (++s.rid) + "'>"
          + "<iq xmlns='jabber:client' type='get' id='pipe1'><ping xmlns='urn:xmpp:ping'/></iq></body>";
      String second = "<body " + B + " sid='" + s.sid + "' rid='" + (++s.rid) + "'/>";
      out.write((rawPost(first) + rawPost(second)).getBytes(StandardCharsets.UTF_8));
      out.flush();
      assertThat(readResponse(in)).contains("id=\"pipe1\"");
      assertThat(readResponse(in)).startsWith("<body").doesNotContain("pipe1");
      // the connection stays open for the next request
      out.write(rawPost("<body " + B + " sid='" + s.sid + "' rid='" + (++s.rid) + "'>"
          + "<iq xmlns='jabber:client' type='get' id='pipe2'><ping xmlns='urn:xmpp:ping'/></iq></body>").getBytes(StandardCharsets.UTF_8));
      out.flush();
      assertThat(readResponse(in)).contains("id=\"pipe2\"");
    }
  }

  private static String rawPost(String body) {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    return "POST /http-bind HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=utf-8\r\n"
        + "Content-Length: " + bytes.length + "\r\n\r\n" + body;
  }

  /** Reads one HTTP/1.1 response; it must be 200 with a Content-Length and not chunked. */
  private static String readResponse(DataInputStream in) throws Exception {
    StringBuilder head = new StringBuilder();
    while (!head.toString().endsWith("\r\n\r\n")) {
      int b = in.read();
      assertThat(b).as("connection closed before a full response head").isNotNegative();
      head.append((char) b);
    }
    String headers = head.toString().toLowerCase(java.util.Locale.ROOT);
    assertThat(headers).startsWith("http/1.1 200").doesNotContain("transfer-encoding").doesNotContain("connection: close");
    Matcher m = Pattern.compile("content-length: (\\d+)").matcher(headers);
    assertThat(m.find()).as(headers).isTrue();
    byte[] body = new byte[Integer.parseInt(m.group(1))];
    in.readFully(body);
    return new String(body, StandardCharsets.UTF_8);
  }

  @Test
  void metricsMoveWithRealTraffic() throws Exception {
    String before = scrape();
    BoshSession s = login("alice", "alicepw", "metrics");
    assertThat(BoshSession.pingResult(s, "localhost", "m1")).contains("id=\"m1\"");
    post("<body " + B + " sid='" + s.sid + "' rid='" + (++s.rid) + "' type='terminate'/>");
    String after = scrape();
    assertThat(after).contains("# TYPE xbosh_http_requests_total counter");
    assertThat(sample(after, "xbosh_http_requests_total", "outcome=\"created\"")).isGreaterThan(sample(before, "xbosh_http_requests_total", "outcome=\"created\""));
    assertThat(sample(after, "xbosh_http_requests_total", "outcome=\"processed\"")).isGreaterThan(sample(before, "xbosh_http_requests_total", "outcome=\"processed\""));
    assertThat(sample(after, "xbosh_stanzas_total", "direction=\"in\"")).isGreaterThan(sample(before, "xbosh_stanzas_total", "direction=\"in\""));
    assertThat(sample(after, "xbosh_stanzas_total", "direction=\"out\"")).isGreaterThan(sample(before, "xbosh_stanzas_total", "direction=\"out\""));
    assertThat(sample(after, "xbosh_sessions_terminated_total", "condition=\"client\"")).isGreaterThan(sample(before, "xbosh_sessions_terminated_total", "condition=\"client\""));
    assertThat(sample(after, "xbosh_upstream_connect_seconds_count", "")).isGreaterThan(sample(before, "xbosh_upstream_connect_seconds_count", ""));
    assertThat(after).contains("\nxbosh_sessions_owned ").contains("\nxbosh_requests_held ");
  }

  static String scrape() throws Exception {
    HttpResponse<String> r = send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + xbosh.port() + "/metrics")).GET().build());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.headers().firstValue("content-type")).hasValueSatisfying(t -> assertThat(t).startsWith("text/plain"));
    return r.body();
  }

  /** The value of the first sample of a metric whose labels contain all of {@code labels}; 0 when absent. */
  static double sample(String exposition, String name, String... labels) {
    for (String line : exposition.split("\n")) {
      if ((line.startsWith(name + "{") || line.startsWith(name + " ")) && java.util.Arrays.stream(labels).allMatch(line::contains)) {
        return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
      }
    }
    return 0;
  }

  @Test
  void corsOnlyForConfiguredOrigins() throws Exception {
    HttpResponse<String> preflight = send(HttpRequest.newBuilder(uri())
        .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
        .header("Origin", "https://app.example.org").header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type").build());
    assertThat(preflight.statusCode()).isEqualTo(204);
    assertThat(preflight.headers().firstValue("access-control-allow-origin")).hasValue("https://app.example.org");
    assertThat(preflight.headers().firstValue("access-control-allow-methods")).hasValueSatisfying(v -> assertThat(v).contains("POST"));
    assertThat(preflight.headers().firstValue("access-control-allow-headers")).hasValueSatisfying(v -> assertThat(v).containsIgnoringCase("content-type"));
    // the answer itself carries the header too
    HttpResponse<String> post = send(HttpRequest.newBuilder(uri()).header("Origin", "https://app.example.org")
        .POST(HttpRequest.BodyPublishers.ofString("<body " + B + " rid='1' to='elsewhere.example' ver='1.6'/>")).build());
    assertThat(post.headers().firstValue("access-control-allow-origin")).hasValue("https://app.example.org");
    // any other origin gets nothing a browser would accept
    HttpResponse<String> other = send(HttpRequest.newBuilder(uri()).method("OPTIONS", HttpRequest.BodyPublishers.noBody())
        .header("Origin", "https://evil.example").header("Access-Control-Request-Method", "POST").build());
    assertThat(other.headers().firstValue("access-control-allow-origin")).isEmpty();
    assertThat(other.headers().firstValue("access-control-allow-methods")).isEmpty();
  }

  @Test
  void b70_keySequenceOverHttp() throws Exception {
    java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-1");
    String a = "k0";
    String b = java.util.HexFormat.of().formatHex(sha.digest(a.getBytes(StandardCharsets.UTF_8)));
    String c = java.util.HexFormat.of().formatHex(sha.digest(b.getBytes(StandardCharsets.UTF_8)));
    HttpResponse<String> created = post("<body " + B + " " + X + " rid='700' to='localhost' wait='1' hold='1' ver='1.11'"
        + " xmpp:version='1.0' newkey='" + c + "'/>");
    String sid = attr(created.body(), "sid");
    assertThat(sid).isNotNull();
    assertThat(post("<body " + B + " sid='" + sid + "' rid='701' key='" + b + "'/>").body()).doesNotContain("type=\"terminate\"");
    assertTerminate(post("<body " + B + " sid='" + sid + "' rid='702' key='" + b + "'/>"), 200, "item-not-found");
    assertTerminate(post("<body " + B + " sid='" + sid + "' rid='703' key='" + a + "'/>"), 200, "item-not-found");
    // a newkey that cannot be a digest is refused at creation
    assertTerminate(post("<body " + B + " rid='710' to='localhost' wait='1' hold='1' ver='1.11' newkey='no key!'/>"), 200, "bad-request");
  }

  // ---- bad input: a clear answer, and nothing else disturbed

  @Test
  void b01_malformedXmlIsBadRequest() throws Exception {
    assertTerminate(post("<body " + B + " rid='1'><message>"), 200, "bad-request");
  }

  @Test
  void b01_wrongRootOrNamespaceIsBadRequest() throws Exception {
    assertTerminate(post("<foo " + B + " rid='1'/>"), 200, "bad-request");
    assertTerminate(post("<body xmlns='urn:wrong' rid='1'/>"), 200, "bad-request");
  }

  @Test
  void b02_dtdEntityCommentAndPiAreBadRequest() throws Exception {
    assertTerminate(post("<!DOCTYPE body [<!ENTITY x 'y'>]><body " + B + " rid='1'>&x;</body>"), 200, "bad-request");
    assertTerminate(post("<body " + B + " rid='1'><!-- c --></body>"), 200, "bad-request");
    assertTerminate(post("<body " + B + " rid='1'><?pi?></body>"), 200, "bad-request");
  }

  @Test
  void x01_oversizedBodyIs413() throws Exception {
    HttpResponse<String> r = post("<body " + B + " rid='1'><message><body>" + "x".repeat(5000) + "</body></message></body>");
    assertThat(r.statusCode()).isEqualTo(413);
    assertThat(r.body()).contains("condition=\"bad-request\"");
  }

  @Test
  void b29_missingNonNumericNegativeRidAreBadRequest() throws Exception {
    assertTerminate(post("<body " + B + " to='localhost'/>"), 200, "bad-request");
    assertTerminate(post("<body " + B + " rid='abc' to='localhost'/>"), 200, "bad-request");
    assertTerminate(post("<body " + B + " rid='-3' to='localhost'/>"), 200, "bad-request");
  }

  @Test
  void b51_unknownSidIsItemNotFound() throws Exception {
    assertTerminate(post("<body " + B + " rid='5' sid='no-such-session'/>"), 200, "item-not-found");
  }

  @Test
  void b52_legacyClientGetsHttpStatus() throws Exception {
    // no ver: legacy
    assertThat(post("<body " + B + " rid='1' wait='x' to='localhost'/>").statusCode()).isEqualTo(400);
  }

  @Test
  void b27_ridReplayOutsideTheWindowEndsOnlyThatSession() throws Exception {
    BoshSession victim = login("alice", "alicepw", "victim");
    BoshSession bystander = login("bob", "bobpw", "bystander");
    assertTerminate(post("<body " + B + " sid='" + victim.sid + "' rid='" + (victim.rid + 50) + "'/>"), 200, "item-not-found");
    assertTerminate(post("<body " + B + " sid='" + victim.sid + "' rid='" + (victim.rid + 1) + "'/>"), 200, "item-not-found");
    // the other session is untouched
    assertThat(BoshSession.pingResult(bystander, "localhost", "p2")).contains("id=\"p2\"").contains("type=\"result\"");
  }

  @Test
  void r03_methodOtherThanPostIs405() throws Exception {
    HttpResponse<String> r = send(HttpRequest.newBuilder(uri()).GET().build());
    assertThat(r.statusCode()).isEqualTo(405);
    assertThat(r.headers().firstValue("allow")).hasValue("GET, POST, OPTIONS");
    assertThat(r.body()).contains("condition=\"bad-request\"");
    HttpResponse<String> put = send(HttpRequest.newBuilder(uri()).PUT(HttpRequest.BodyPublishers.ofString("<body/>")).build());
    assertThat(put.statusCode()).isEqualTo(405);
  }

  @Test
  void b51_unservedDomainIsHostUnknown() throws Exception {
    assertTerminate(post("<body " + B + " rid='1' to='elsewhere.example' wait='1' hold='1' ver='1.6'/>"), 200, "host-unknown");
  }

  @Test
  void b51_refusedUpstreamIsRemoteConnectionFailed() throws Exception {
    assertTerminate(post("<body " + B + " rid='1' to='refused.test' wait='1' hold='1' ver='1.6'/>"), 200, "remote-connection-failed");
  }

  @Test
  void b51_upstreamClosingMidSessionIsRemoteConnectionFailed() throws Exception {
    HttpResponse<String> created = post("<body " + B + " rid='1' to='flaky.test' wait='5' hold='1' ver='1.6'/>");
    String sid = attr(created.body(), "sid");
    assertThat(sid).isNotNull();
    HttpResponse<String> held = post("<body " + B + " sid='" + sid + "' rid='2'><presence xmlns='jabber:client'/></body>");
    assertTerminate(held, 200, "remote-connection-failed");
    assertTerminate(post("<body " + B + " sid='" + sid + "' rid='3'/>"), 200, "remote-connection-failed");
  }

  @Test
  void b62_streamHeaderCarriesToLangVersionAndJabberClient() throws Exception {
    post("<body " + B + " rid='1' to='flaky.test' xml:lang='de-CH' wait='5' hold='1' ver='1.11'/>");
    String header = lastHeader.get();
    assertThat(header).contains("<stream:stream").contains("xmlns=\"jabber:client\"").contains("to=\"flaky.test\"")
        .contains("xml:lang=\"de-CH\"").contains("version=\"1.0\"").contains("xmlns:stream=\"http://etherx.jabber.org/streams\"");
  }

  /** Sends one payload to the fake server's session and collects the answers up to the session's end. */
  static String untilTheEnd(String payload) throws Exception {
    String sid = attr(post("<body " + B + " rid='1' to='flaky.test' wait='5' hold='1' ver='1.11'/>").body(), "sid");
    String all = post("<body " + B + " sid='" + sid + "' rid='2'>" + payload + "</body>").body();
    if (!all.contains("type=\"terminate\"")) {
      all += post("<body " + B + " sid='" + sid + "' rid='3'/>").body();
    }
    return all;
  }

  @Test
  void b54_serverStreamErrorIsRemoteStreamErrorWithWhatCameBeforeIt() throws Exception {
    String all = untilTheEnd("<message xmlns='jabber:client' to='x@flaky.test'/>");
    assertThat(all).contains("condition=\"remote-stream-error\"");
    assertThat(all.indexOf("last words")).isNotNegative().isLessThan(all.indexOf("<stream:error>"));
    assertThat(all).contains("<conflict xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/>").contains(">replaced</text>");
  }

  @Test
  void b54_lastWordsStreamErrorAndCloseInOneReadReachTheClientAndEndTheSession() throws Exception {
    // issue 16.1: with a store whose deliver is asynchronous the end used to be lost: a zombie session
    String sid = attr(post("<body " + B + " rid='1' to='flaky.test' wait='5' hold='1' ver='1.11'/>").body(), "sid");
    String all = post("<body " + B + " sid='" + sid + "' rid='2'><message xmlns='jabber:client' to='x@flaky.test' id='last-words-and-close'/></body>").body();
    long rid = 3;
    while (!all.contains("type=\"terminate\"") && rid < 6) {
      all += post("<body " + B + " sid='" + sid + "' rid='" + rid++ + "'/>").body();
    }
    assertThat(all).contains("condition=\"remote-stream-error\"").contains("<conflict xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/>");
    assertThat(all.indexOf("last words")).isNotNegative().isLessThan(all.indexOf("<stream:error>"));
    await().atMost(Duration.ofSeconds(10)).until(() -> !xbosh.pod().owns(sid));
    // the session stays ended: a later request gets its end, not a live session
    assertTerminate(post("<body " + B + " sid='" + sid + "' rid='" + rid + "'/>"), 200, "remote-stream-error");
  }

  @Test
  void aServerThatStopsReadingIsSentNoMoreAndTheRefusedPayloadGoesThroughOnceItReads() throws Exception {
    // issue 16.5: backpressure toward the XMPP server; a raw server that never reads after the header
    try (io.xbosh.testing.StalledXmppServer stalled = new io.xbosh.testing.StalledXmppServer();
        ExtraPod extra = ExtraPod.start("stalled-pod", "XBOSH_MAX_BODY_BYTES", "1048576",
            "XBOSH_UPSTREAM_HOSTS", "stalled.test=127.0.0.1:" + stalled.port(), "XBOSH_DOMAINS", "stalled.test")) {
      URI uri = extra.endpoint();
      String sid = attr(BoshSession.post(http, uri, "<body " + B + " rid='1' to='stalled.test' wait='5' hold='0' ver='1.11'/>").body(), "sid");
      assertThat(sid).isNotNull();
      String chunk = "z".repeat(200_000);
      java.util.function.LongFunction<String> request = rid -> "<body " + B + " sid='" + sid + "' rid='" + rid + "'>"
          + "<message xmlns='jabber:client' to='x@stalled.test'><body>m" + rid + ":" + chunk + "</body></message></body>";
      long rid = 2;
      HttpResponse<String> r = BoshSession.post(http, uri, request.apply(rid));
      while (r.statusCode() == 200 && rid < 400) {
        assertThat(r.body()).doesNotContain("type=\"terminate\"");
        r = BoshSession.post(http, uri, request.apply(++rid));
      }
      // refused before the store saw it, with a recoverable error: the client sends it again
      assertThat(r.statusCode()).as("answer to rid %d", rid).isEqualTo(503);
      assertThat(r.body()).contains("type=\"error\"");
      assertThat(r.headers().firstValue("retry-after")).hasValue("1");
      assertThat(extra.pod().congested(sid)).isTrue();
      stalled.startReading();
      long refused = rid;
      await().atMost(Duration.ofSeconds(30)).until(() -> BoshSession.post(http, uri, request.apply(refused)).statusCode() == 200);
      await().atMost(Duration.ofSeconds(30)).until(() -> stalled.received().contains("m" + refused + ":"));
      String received = stalled.received();
      int at = -1;
      for (long i = 2; i <= refused; i++) {
        int next = received.indexOf("m" + i + ":");
        assertThat(next).as("payload of rid %d once, in order", i).isGreaterThan(at);
        assertThat(received.indexOf("m" + i + ":", next + 1)).isNegative();
        at = next;
      }
    }
  }

  @Test
  void b54_serverClosingTheStreamEndsTheSession() throws Exception {
    assertThat(untilTheEnd("<iq xmlns='jabber:client' type='get' id='q'/>")).contains("type=\"terminate\"").doesNotContain("condition=");
  }

  // ---- acknowledgements, overactivity, polling, legacy codes (XEP-0124 §9, §11, §12, §17.1)

  /** A session without authentication, enough for the binding rules; returns its sid. */
  static String bareSession(long rid, String attributes) throws Exception {
    HttpResponse<String> created = post("<body " + B + " " + X + " rid='" + rid + "' to='localhost' xml:lang='en' xmpp:version='1.0' "
        + attributes + "/>");
    assertThat(created.statusCode()).as(created.body()).isEqualTo(200);
    return attr(created.body(), "sid");
  }

  static String req(String sid, long rid, String attributes) {
    return "<body " + B + " sid='" + sid + "' rid='" + rid + "' " + attributes + "/>";
  }

  @Test
  void b31_lowAckIsAnsweredAtOnceWithReportAndTimeAndTheMissedResponseIsResent() throws Exception {
    String sid = bareSession(500, "wait='1' hold='1' ver='1.11' ack='1'");
    // 501 is held for its wait and answered; the client "loses" that answer
    HttpResponse<String> lost = post(req(sid, 501, ""));
    // The wait is real: the running server reads its own clock (Redis' TIME, or the system clock of
    // the in-process store), which a test cannot move. Its clock started before the answer reached
    // the client, so 1.1 s seen here are at least as much on the server's, past the 1 s grace;
    // a loaded machine only makes the time reported larger, and the bound below is one-sided.
    long answeredAt = System.nanoTime();
    await().atMost(Duration.ofSeconds(30)).until(() -> System.nanoTime() - answeredAt > TimeUnit.MILLISECONDS.toNanos(1100));
    HttpResponse<String> reported = post(req(sid, 502, "ack='500'"));
    assertThat(reported.statusCode()).isEqualTo(200);
    assertThat(attr(reported.body(), "report")).isEqualTo("501");
    assertThat(Long.parseLong(attr(reported.body(), "time"))).isBetween(1000L, 65535L);
    assertThat(post(req(sid, 501, "")).body()).isEqualTo(lost.body());
  }

  @Test
  void b31_hostileAckValuesAreBadRequest() throws Exception {
    for (String ack : List.of("-1", "abc", "99999999999999999999999999999999999", "1.5", "")) {
      String sid = bareSession(600, "wait='1' hold='1' ver='1.11' ack='1'");
      assertTerminate(post(req(sid, 601, "ack='" + ack + "'")), 200, "bad-request");
      // the session is over: its next request gets the same end
      assertThat(post(req(sid, 602, "")).body()).contains("type=\"terminate\"");
    }
  }

  @Test
  void b42_moreNewRequestsThanRequestsWithNoneAnsweredIsPolicyViolation() throws Exception {
    BoshSession s = login("alice", "alicepw", "over");
    long base = s.rid;
    int before = xbosh.pod().heldRequests();
    CompletableFuture<HttpResponse<String>> held = BoshSession.postAsync(http, uri(), req(s.sid, base + 1, ""));
    await().until(() -> xbosh.pod().heldRequests() > before);
    CompletableFuture<HttpResponse<String>> parked = BoshSession.postAsync(http, uri(),
        "<body " + B + " sid='" + s.sid + "' rid='" + (base + 3) + "'><presence xmlns='jabber:client'/></body>");
    await().until(() -> xbosh.pod().heldRequests() > before + 1);
    // three outstanding with requests='2'
    HttpResponse<String> third = post("<body " + B + " sid='" + s.sid + "' rid='" + (base + 2) + "'><presence xmlns='jabber:client'/></body>");
    String all = third.body() + held.get(10, TimeUnit.SECONDS).body() + parked.get(10, TimeUnit.SECONDS).body();
    assertThat(all).contains("condition=\"policy-violation\"");
    assertTerminate(post(req(s.sid, base + 4, "")), 200, "policy-violation");
  }

  /**
   * A browser reload: the page's held request is cut off, the reloaded page polls at once. The
   * dead request is no longer counted (no policy-violation) and a stanza arriving after it goes to
   * the next request instead of into a response nobody reads.
   */
  @Test
  void b43_aClosedHeldRequestIsForgottenAndTheNextRequestGetsWhatArrivesLater() throws Exception {
    BoshSession alice = login("alice", "alicepw", "reload");
    BoshSession bob = login("bob", "bobpw", "reload-b");
    int before = xbosh.pod().heldRequests();
    try (Socket socket = new Socket("127.0.0.1", xbosh.port())) {
      socket.getOutputStream().write(rawPost(req(alice.sid, ++alice.rid, "")).getBytes(StandardCharsets.UTF_8));
      socket.getOutputStream().flush();
      await().until(() -> xbosh.pod().heldRequests() > before);
    }
    await().until(() -> xbosh.pod().heldRequests() == before);
    CompletableFuture<HttpResponse<String>> next = alice.sendAsync("");
    await().until(() -> xbosh.pod().heldRequests() > before);
    CompletableFuture<HttpResponse<String>> sent = bob.sendAsync("<message xmlns='jabber:client' to='alice@localhost/reload'"
        + " id='late1'><body>after the reload</body></message>");
    HttpResponse<String> first = next.get(10, TimeUnit.SECONDS);
    assertThat(first.statusCode()).isEqualTo(200);
    assertThat(first.body()).doesNotContain("type=\"terminate\"");
    List<String> seen = new ArrayList<>(List.of(first.body()));
    assertThat(alice.awaitBody(b -> b.contains("id=\"late1\""), seen)).contains("after the reload");
    assertThat(sent.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    assertThat(alice.send("").body()).doesNotContain("type=\"terminate\"");
  }

  /**
   * A browser reload whose closed request is noticed late: behind a load balancer the reloaded
   * page's first request can reach the store (through another pod) before the closed connection
   * of the old page's held request has reached its pod, so for a moment two requests seem
   * outstanding and the new one is empty, within {@code polling} of the last. The refusal waits
   * for the racing abandon once ({@code BoshHandler.ABANDON_GRACE_MS}) instead of ending the
   * session with policy-violation.
   */
  @Test
  void b43_aReloadedPagesRequestThatOvertakesTheAbandonKeepsTheSession() throws Exception {
    BoshSession alice = login("alice", "alicepw", "reload-late");
    BoshSession bob = login("bob", "bobpw", "reload-late-b");
    int before = xbosh.pod().heldRequests();
    CompletableFuture<HttpResponse<String>> next;
    try (Socket socket = new Socket("127.0.0.1", xbosh.port())) {
      socket.getOutputStream().write(rawPost(req(alice.sid, ++alice.rid, "")).getBytes(StandardCharsets.UTF_8));
      socket.getOutputStream().flush();
      await().until(() -> xbosh.pod().heldRequests() > before);
      // the reloaded page's first request is in the store before the old page's close is seen
      CompletableFuture<HttpResponse<String>> reloaded = alice.sendAsync("");
      next = reloaded;
      await().until(() -> xbosh.pod().heldRequests() > before + 1 || reloaded.isDone());
    }
    CompletableFuture<HttpResponse<String>> sent = bob.sendAsync("<message xmlns='jabber:client' to='alice@localhost/reload-late'"
        + " id='late2'><body>after the late close</body></message>");
    HttpResponse<String> first = next.get(10, TimeUnit.SECONDS);
    assertThat(first.statusCode()).isEqualTo(200);
    assertThat(first.body()).doesNotContain("type=\"terminate\"");
    List<String> seen = new ArrayList<>(List.of(first.body()));
    assertThat(alice.awaitBody(b -> b.contains("id=\"late2\""), seen)).contains("after the late close");
    assertThat(sent.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    assertThat(alice.send("").body()).doesNotContain("type=\"terminate\"");
  }

  /**
   * The store processed a request but its reply, with the forward in it, never reached the owner,
   * and the client's resend went elsewhere (or never came). The next forward does not wait for
   * ever: after a while the owner takes the missing one from the store and both go in order.
   */
  @Test
  void b21_aLostAcceptReplyDoesNotStallTheForwardsThatFollow() throws Exception {
    BoshSession alice = login("alice", "alicepw", "lost-reply");
    long n = alice.rid + 1;
    String one = "<message xmlns='jabber:client' to='alice@localhost/lost-reply' id='lost1'><body>one</body></message>";
    xbosh.pod().store().accept(alice.sid, n, xbosh.pod().newHolder(), io.xbosh.session.RequestFlags.NONE.withUnencrypted(true), one)
        .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS); // the reply is dropped
    alice.rid = n;
    List<String> seen = new ArrayList<>();
    seen.add(alice.send("<message xmlns='jabber:client' to='alice@localhost/lost-reply' id='lost2'><body>two</body></message>").body());
    alice.awaitBody(b -> String.join("", seen).contains("id=\"lost2\""), seen);
    String all = String.join("", seen);
    assertThat(all).contains("id=\"lost1\"").doesNotContain("type=\"terminate\"");
    assertThat(all.indexOf("id=\"lost1\"")).isLessThan(all.indexOf("id=\"lost2\""));
  }

  /** The same with nothing after the resend: the resend itself makes the owner take the lost forward. */
  @Test
  void b21_aLostAcceptReplyIsRecoveredByTheResendAlone() throws Exception {
    BoshSession alice = login("alice", "alicepw", "lost-last");
    long n = alice.rid + 1;
    String one = "<message xmlns='jabber:client' to='alice@localhost/lost-last' id='last1'><body>one</body></message>";
    xbosh.pod().store().accept(alice.sid, n, xbosh.pod().newHolder(), io.xbosh.session.RequestFlags.NONE.withUnencrypted(true), one)
        .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS); // the reply is dropped
    List<String> seen = new ArrayList<>();
    seen.add(post("<body " + B + " sid='" + alice.sid + "' rid='" + n + "'>" + one + "</body>").body());
    alice.rid = n;
    assertThat(alice.awaitBody(b -> b.contains("id=\"last1\""), seen)).doesNotContain("type=\"terminate\"");
  }

  @Test
  void b43_emptyRequestWhileTheOtherIsHeldWithinPollingIsPolicyViolation() throws Exception {
    BoshSession s = login("bob", "bobpw", "eager");
    int before = xbosh.pod().heldRequests();
    CompletableFuture<HttpResponse<String>> held = s.sendAsync("");
    await().until(() -> xbosh.pod().heldRequests() > before);
    assertTerminate(s.send(""), 200, "policy-violation");
    assertThat(held.get(10, TimeUnit.SECONDS).body()).contains("type=\"terminate\"");
  }

  @Test
  void b44_pollingSessionPollingTooFastIsPolicyViolation() throws Exception {
    HttpResponse<String> created = post("<body " + B + " " + X + " rid='700' to='localhost' xml:lang='en' wait='30' hold='0' ver='1.11' xmpp:version='1.0'/>");
    String sid = attr(created.body(), "sid");
    assertThat(attr(created.body(), "requests")).isEqualTo("1");
    assertThat(attr(created.body(), "polling")).isEqualTo("2");
    assertThat(Integer.parseInt(attr(created.body(), "inactivity"))).isGreaterThan(2);
    HttpResponse<String> first = post(req(sid, 701, ""));
    assertThat(first.body()).doesNotContain("type=");
    assertTerminate(post(req(sid, 702, "")), 200, "policy-violation");
  }

  @Test
  void b52_laterRequestsOfLegacyClientsGetHttpStatusCodes() throws Exception {
    // no ver, and a ver below 1.6: HTTP codes; 1.6 and later: terminal conditions in a 200
    String none = bareSession(800, "wait='5' hold='1'");
    assertThat(post(req(none, 850, "")).statusCode()).isEqualTo(404);
    String old = bareSession(800, "wait='5' hold='1' ver='1.5'");
    assertThat(post(req(old, 850, "")).statusCode()).isEqualTo(404);
    String modern = bareSession(800, "wait='5' hold='1' ver='1.6'");
    assertTerminate(post(req(modern, 850, "")), 200, "item-not-found");
    // a malformed attribute on a later request: the store, which ends the session, says it is legacy
    String old12 = bareSession(800, "wait='5' hold='1' ver='1.2'");
    assertThat(post(req(old12, 801, "ack='x'")).statusCode()).isEqualTo(400);
    String modern2 = bareSession(800, "wait='5' hold='1' ver='1.11'");
    assertTerminate(post(req(modern2, 801, "ack='x'")), 200, "bad-request");
  }

  // ---- creation details (XEP-0124 §5, §7.2, §19)

  @Test
  void b07_unknownHeadersAndForeignAttributesAreIgnored() throws Exception {
    HttpResponse<String> r = send(HttpRequest.newBuilder(uri()).header("Content-Type", "text/plain").header("X-Whatever", "1")
        .POST(HttpRequest.BodyPublishers.ofString("<body " + B + " " + X + " xmlns:o='urn:example:other' o:flavour='x' rid='10'"
            + " to='localhost' wait='5' hold='1' ver='1.11' xmpp:version='1.0' newattribute='y'/>")).build());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).contains("<stream:features").doesNotContain("type=");
  }

  @Test
  void b08_utf8IsTheOnlyCharsetAndPassesThroughUnchanged() throws Exception {
    // none other is advertised
    assertThat(attr(post(CREATE).body(), "charsets")).isNull();
    BoshSession out = login("alice", "alicepw", "utf8out");
    BoshSession in = login("bob", "bobpw", "utf8in");
    BoshSession.sendAll(out, "bob@localhost/utf8in", "Grüße-日本-", 1);
    assertThat(BoshSession.receive(in, "Grüße-日本-", 1)).containsExactly("Grüße-日本-0");
  }

  @Test
  void b11_b90_sidsAreLongUnpredictableAndNeverRepeat() throws Exception {
    java.util.Set<String> sids = new java.util.HashSet<>();
    for (int i = 0; i < 20; i++) {
      String sid = attr(post(CREATE).body(), "sid");
      assertThat(sid).matches("[A-Za-z0-9_-]{24}"); // 144 random bits
      sids.add(sid);
    }
    assertThat(sids).hasSize(20);
  }

  // ---- compression (XEP-0124 §5, §7.2)

  static final String CREATE = "<body " + B + " " + X + " rid='900' to='localhost' xml:lang='en' wait='5' hold='1' ver='1.11' xmpp:version='1.0'/>";

  static HttpResponse<byte[]> postBytes(byte[] body, String... headers) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(uri()).POST(HttpRequest.BodyPublishers.ofByteArray(body));
    for (int i = 0; i < headers.length; i += 2) {
      b.header(headers[i], headers[i + 1]);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
  }

  static byte[] gzip(byte[] data) throws Exception {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    try (java.util.zip.GZIPOutputStream gz = new java.util.zip.GZIPOutputStream(out)) {
      gz.write(data);
    }
    return out.toByteArray();
  }

  static byte[] zlib(byte[] data) throws Exception {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    try (java.util.zip.DeflaterOutputStream z = new java.util.zip.DeflaterOutputStream(out)) {
      z.write(data);
    }
    return out.toByteArray();
  }

  static String inflate(String coding, byte[] data) throws Exception {
    java.io.InputStream in = coding.equals("gzip") ? new java.util.zip.GZIPInputStream(new java.io.ByteArrayInputStream(data))
        : new java.util.zip.InflaterInputStream(new java.io.ByteArrayInputStream(data));
    return new String(in.readAllBytes(), StandardCharsets.UTF_8);
  }

  @Test
  void b03_b06_responsesCompressedWithTheAcceptedCodingAndStillCarryContentLength() throws Exception {
    for (String[] c : new String[][] {{"gzip", "gzip"}, {"deflate", "deflate"}, {"gzip;q=0, deflate", "deflate"}, {"br, gzip;q=0.5", "gzip"}}) {
      HttpResponse<byte[]> r = postBytes(CREATE.getBytes(StandardCharsets.UTF_8), "Accept-Encoding", c[0]);
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.headers().firstValue("content-encoding")).as(c[0]).hasValue(c[1]);
      assertThat(r.headers().firstValue("content-length")).hasValue(Integer.toString(r.body().length));
      assertThat(r.headers().firstValue("transfer-encoding")).isEmpty();
      String body = inflate(c[1], r.body());
      assertThat(body).contains("<stream:features");
      assertThat(attr(body, "accept")).isEqualTo("gzip,deflate");
    }
    // nothing accepted, nothing compressed
    HttpResponse<byte[]> plain = postBytes(CREATE.getBytes(StandardCharsets.UTF_8), "Accept-Encoding", "identity");
    assertThat(plain.headers().firstValue("content-encoding")).isEmpty();
    assertThat(new String(plain.body(), StandardCharsets.UTF_8)).contains("<stream:features");
  }

  @Test
  void b06_requestsCompressedWithAnAdvertisedCodingAreAccepted() throws Exception {
    byte[] create = CREATE.getBytes(StandardCharsets.UTF_8);
    for (byte[][] c : new byte[][][] {{"gzip".getBytes(), gzip(create)}, {"deflate".getBytes(), zlib(create)}}) {
      HttpResponse<byte[]> r = postBytes(c[1], "Content-Encoding", new String(c[0]));
      assertThat(new String(r.body(), StandardCharsets.UTF_8)).contains("<stream:features").doesNotContain("type=");
    }
  }

  @Test
  void b06_badlyCodedRequestsAreRefused() throws Exception {
    byte[] create = CREATE.getBytes(StandardCharsets.UTF_8);
    // an unknown coding, data that is not what it claims, and a bomb that inflates past the body limit
    assertThat(new String(postBytes(create, "Content-Encoding", "br").body(), StandardCharsets.UTF_8)).contains("condition=\"bad-request\"");
    assertThat(new String(postBytes(create, "Content-Encoding", "gzip").body(), StandardCharsets.UTF_8)).contains("condition=\"bad-request\"");
    byte[] bomb = gzip(("<body " + B + " rid='1' to='localhost'>" + " ".repeat(2_000_000) + "</body>").getBytes(StandardCharsets.UTF_8));
    assertThat(bomb.length).isLessThan(4096);
    assertThat(postBytes(bomb, "Content-Encoding", "gzip").statusCode()).isEqualTo(413);
    // the service is unharmed
    assertThat(post(CREATE).body()).contains("<stream:features");
  }

  // ---- script syntax (XEP-0252)

  static HttpResponse<String> get(String body) throws Exception {
    return getAsync(body).get(30, TimeUnit.SECONDS);
  }

  static CompletableFuture<HttpResponse<String>> getAsync(String body) {
    StringBuilder q = new StringBuilder();
    for (byte b : body.getBytes(StandardCharsets.UTF_8)) {
      int c = b & 0xff;
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || "-._~".indexOf(c) >= 0) {
        q.append((char) c);
      } else {
        q.append('%').append(String.format("%02X", c));
      }
    }
    return http.sendAsync(HttpRequest.newBuilder(URI.create(uri() + "?" + q)).GET().build(),
        HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  static String unscript(String js) {
    assertThat(js).startsWith("_BOSH_(\"").endsWith("\")").doesNotContain("\n");
    return js.substring(8, js.length() - 2).replace("\\\"", "\"").replace("\\n", "\n").replace("\\\\", "\\");
  }

  @Test
  void b82_scriptSyntaxSessionOverGet() throws Exception {
    HttpResponse<String> created = get(CREATE);
    assertThat(created.statusCode()).isEqualTo(200);
    assertThat(created.headers().firstValue("content-type")).hasValue("text/javascript; charset=utf-8");
    assertThat(created.headers().firstValue("cache-control")).hasValue("no-store");
    assertThat(created.headers().firstValue("expires")).hasValue("0");
    String body = unscript(created.body());
    assertThat(body).contains("<stream:features");
    String sid = attr(body, "sid");
    // the session goes on in script syntax: a poll, then a terminate
    String polled = unscript(get(req(sid, 901, "")).body());
    assertThat(polled).startsWith("<body").doesNotContain("type=");
    assertThat(unscript(get(req(sid, 902, "type='terminate'")).body())).contains("type=\"terminate\"");
  }

  @Test
  void b82_contentSplitOverSeveralGetsIsOneStream() throws Exception {
    String sid = attr(unscript(get(CREATE).body()), "sid");
    String auth = Base64.getEncoder().encodeToString("\0alice\0alicepw".getBytes(StandardCharsets.UTF_8));
    // the SASL element begins in one request and ends in the next, as a client cut by URL length limits sends it
    CompletableFuture<HttpResponse<String>> first = getAsync("<body " + B + " sid='" + sid + "' rid='901'>"
        + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth.substring(0, 5) + "</body>");
    String second = unscript(get("<body " + B + " sid='" + sid + "' rid='902'>" + auth.substring(5) + "</auth></body>").body());
    String both = unscript(first.get(10, TimeUnit.SECONDS).body()) + second;
    if (!both.contains("<success")) {
      both += unscript(get(req(sid, 903, "")).body());
    }
    assertThat(both).contains("<success xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\"").doesNotContain("type=\"terminate\"");
  }

  @Test
  void b82_scriptContentThatIsNotXmlEndsTheSessionWithBadRequest() throws Exception {
    String sid = attr(unscript(get(CREATE).body()), "sid");
    CompletableFuture<HttpResponse<String>> open = getAsync("<body " + B + " sid='" + sid + "' rid='901'><message></body>");
    String closed = unscript(get("<body " + B + " sid='" + sid + "' rid='902'></presence></body>").body())
        + unscript(open.get(10, TimeUnit.SECONDS).body());
    assertThat(closed).contains("type=\"terminate\"").contains("condition=\"bad-request\"");
  }

  @Test
  void b82_badScriptRequestsGetTheirAnswerInScriptSyntax() throws Exception {
    // a broken percent-encoding (written by hand: java.net.URI refuses it) and a body that is not XML
    try (Socket socket = new Socket("127.0.0.1", xbosh.port())) {
      socket.setSoTimeout(10_000);
      socket.getOutputStream().write(("GET /http-bind?%3Cbody%ZZ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
      String raw = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(raw).startsWith("HTTP/1.1 200").contains("_BOSH_(").contains("condition=\\\"bad-request\\\"");
    }
    HttpResponse<String> notXml = get("<body");
    assertThat(notXml.statusCode()).isEqualTo(200);
    assertThat(unscript(notXml.body())).contains("condition=\"bad-request\"");
    assertThat(unscript(get(req("no-such-session", 5, "")).body())).contains("condition=\"item-not-found\"");
  }

  // ---- multiple streams (XEP-0124 §16)

  /** Opens another stream on the session; returns its name. */
  static String openStream(BoshSession s, String to) throws Exception {
    HttpResponse<String> opened = s.sendBody("to='" + to + "' xml:lang='en' xmpp:version='1.0'", "");
    assertThat(opened.statusCode()).isEqualTo(200);
    String name = attr(opened.body(), "stream");
    assertThat(name).as(opened.body()).isNotNull().isNotEqualTo(s.stream);
    assertThat(attr(opened.body(), "from")).isEqualTo(to);
    assertThat(opened.body()).doesNotContain("type=");
    return name;
  }

  /** Pings the server through one stream; returns the body with the answer. */
  static String pingOn(BoshSession s, String stream, String id) throws Exception {
    String answer = s.sendBody("stream='" + stream + "'", "<iq xmlns='jabber:client' type='get' id='" + id + "' to='localhost'>"
        + "<ping xmlns='urn:xmpp:ping'/></iq>").body();
    return answer.contains("id=\"" + id + "\"") ? answer : s.pollUntil(b -> b.contains("id=\"" + id + "\""), new ArrayList<>());
  }

  static boolean inStream(String body, String stream) {
    return stream.equals(attr(body, "stream"));
  }

  @Test
  void b80_creationAnnouncesAnOpaqueUnpredictableStreamName() throws Exception {
    Set<String> names = new java.util.HashSet<>();
    for (int i = 0; i < 3; i++) {
      String created = post("<body " + B + " rid='7" + i + "' to='localhost' wait='5' hold='1' ver='1.11'/>").body();
      String stream = attr(created, "stream");
      assertThat(stream).matches("[A-Za-z0-9_-]{16}").isNotEqualTo(attr(created, "sid"));
      names.add(stream);
      post(req(attr(created, "sid"), 71 + i * 10L, "type='terminate'"));
    }
    assertThat(names).hasSize(3);
  }

  @Test
  void b80_withStreamsOffNoStreamIsAnnouncedAndARequestWithToIsAPlainPoll() throws Exception {
    try (ExtraPod single = ExtraPod.start("single-stream-pod", "XBOSH_MAX_STREAMS", "1")) {
      BoshSession s = login(single.endpoint(), "alice", "alicepw", "single");
      assertThat(s.stream).isNull();
      HttpResponse<String> poll = s.sendBody("to='localhost' xml:lang='en' stream='whatever'", "");
      assertThat(attr(poll.body(), "stream")).isNull();
      assertThat(poll.body()).doesNotContain("type=");
      assertThat(BoshSession.pingResult(s, "localhost", "single")).contains("type=\"result\"");
      assertThat(single.pod().ownedSessions()).isEqualTo(1);
    }
  }

  @Test
  void b80_b81_aSecondStreamLogsInAnotherUserAndEachBodyNamesItsStream() throws Exception {
    BoshSession s = login("alice", "alicepw", "one");
    List<String> seen = new ArrayList<>();
    // the new stream's features, and every answer on it, reach the client in bodies of that stream
    String second = s.openStreamAndLogin("localhost", "bob", "bobpw", "two", seen);
    String on2 = "stream='" + second + "'";
    // alice, on the first stream, writes to bob, on the second: it comes back on the second
    seen.add(s.sendBody("stream='" + s.stream + "'", "<message xmlns='jabber:client' to='bob@localhost/two' type='chat'><body>hi bob</body></message>").body());
    String delivered = s.awaitBody(b -> b.contains("hi bob"), seen);
    assertThat(attr(delivered, "stream")).isEqualTo(second);
    // a body naming no stream goes to both: each answers the ping in a body of its own
    seen.add(s.send("<iq xmlns='jabber:client' type='get' id='both' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").body());
    while (seen.stream().filter(b -> b.contains("id=\"both\"")).count() < 2) {
      s.pollUntil(b -> b.contains("id=\"both\""), seen);
    }
    assertThat(seen.stream().filter(b -> b.contains("id=\"both\"")).map(b -> attr(b, "stream")))
        .containsExactlyInAnyOrder(s.stream, second);
    // with two streams open, every body that carries something names its stream
    assertThat(seen).filteredOn(b -> b.contains("</body>")).allSatisfy(b -> assertThat(attr(b, "stream")).isIn(s.stream, second));
    // closing the second stream leaves the first working
    HttpResponse<String> closed = s.sendBody("type='terminate' " + on2, "<presence xmlns='jabber:client' type='unavailable'/>");
    assertThat(closed.body()).contains("type=\"terminate\"").contains("stream=\"" + second + "\"").doesNotContain("condition=");
    assertThat(BoshSession.pingResult(s, "localhost", "after")).contains("id=\"after\"").contains("type=\"result\"");
    // a stream xbosh never named ends the session
    assertTerminate(s.sendBody("stream='bogus'", ""), 200, "item-not-found");
  }

  @Test
  void b81_theServerEndingOneStreamEndsOnlyThatStream() throws Exception {
    BoshSession s = login("alice", "alicepw", "drops");
    List<String> seen = new ArrayList<>();
    String dropped = openStream(s, "flaky.test");
    s.pollUntil(b -> inStream(b, dropped) && b.contains("<stream:features"), seen);
    seen.add(s.sendBody("stream='" + dropped + "'", "<presence xmlns='jabber:client'/>").body());
    String end = s.awaitBody(b -> b.contains("type=\"terminate\""), seen);
    assertThat(end).contains("condition=\"remote-connection-failed\"").contains("stream=\"" + dropped + "\"");
    // a stream error on another one comes with what the server said before it
    String failing = openStream(s, "flaky.test");
    s.pollUntil(b -> inStream(b, failing) && b.contains("<stream:features"), seen);
    seen.add(s.sendBody("stream='" + failing + "'", "<message xmlns='jabber:client' to='x@flaky.test'/>").body());
    s.awaitBody(b -> inStream(b, failing) && b.contains("type=\"terminate\""), seen);
    List<String> ofFailing = seen.stream().filter(b -> inStream(b, failing) && b.contains("</body>")).toList();
    String error = ofFailing.get(ofFailing.size() - 1);
    assertThat(error).contains("condition=\"remote-stream-error\"").contains("<conflict ");
    // what the server said before the error came first
    assertThat(String.join("", ofFailing)).containsSubsequence("last words", "<stream:error>");
    // the first stream never noticed
    assertThat(BoshSession.pingResult(s, "localhost", "still")).contains("id=\"still\"").contains("type=\"result\"");
    s.sendBody("type='terminate'", "");
  }

  @Test
  void b81_aStreamToAnUnservedDomainEndsWithHostUnknownForItAlone() throws Exception {
    BoshSession s = login("alice", "alicepw", "unserved");
    String nowhere = openStream(s, "nope.invalid");
    String end = s.pollUntil(b -> inStream(b, nowhere), new ArrayList<>());
    assertThat(end).contains("type=\"terminate\"").contains("condition=\"host-unknown\"");
    assertThat(BoshSession.pingResult(s, "localhost", "p")).contains("type=\"result\"");
    s.sendBody("type='terminate'", "");
  }

  @Test
  void b81_closingTheFirstStreamLeavesTheOtherClosingTheLastEndsTheSession() throws Exception {
    BoshSession s = login("alice", "alicepw", "closing");
    String second = openStream(s, "localhost");
    s.pollUntil(b -> inStream(b, second) && b.contains("<stream:features"), new ArrayList<>());
    assertThat(s.sendBody("type='terminate' stream='" + s.stream + "'", "").body())
        .contains("type=\"terminate\"").contains("stream=\"" + s.stream + "\"");
    // the session lives on with the second stream
    assertThat(s.sendBody("stream='" + second + "'", "").body()).doesNotContain("type=");
    HttpResponse<String> last = s.sendBody("type='terminate' stream='" + second + "'", "");
    assertThat(last.body()).contains("type=\"terminate\"").doesNotContain("condition=");
    assertThat(s.send("").body()).contains("type=\"terminate\"");
  }

  @Test
  void b81_terminateNamingNoStreamClosesEveryStream() throws Exception {
    BoshSession s = login("alice", "alicepw", "all");
    String second = openStream(s, "localhost");
    s.pollUntil(b -> inStream(b, second) && b.contains("<stream:features"), new ArrayList<>());
    assertThat(s.sendBody("type='terminate'", "<presence xmlns='jabber:client' type='unavailable'/>").body()).contains("type=\"terminate\"");
    // both links close; the session answers with its end
    await().atMost(Duration.ofSeconds(10)).until(() -> !xbosh.pod().owns(s.sid));
    assertThat(s.sendBody("stream='" + second + "'", "").body()).contains("type=\"terminate\"");
  }

  @Test
  void b80_streamsBeyondTheLimitAreRefusedOneByOneAndTheSessionGoesOn() throws Exception {
    BoshSession s = login("alice", "alicepw", "many");
    List<String> opened = new ArrayList<>();
    for (int i = 1; i < Integer.parseInt(baseEnv.getOrDefault("XBOSH_MAX_STREAMS", "4")); i++) {
      opened.add(openStream(s, "localhost"));
    }
    HttpResponse<String> refused = s.sendBody("to='localhost' xml:lang='en'", "");
    assertThat(refused.body()).contains("type=\"terminate\"").contains("condition=\"policy-violation\"");
    assertThat(attr(refused.body(), "stream")).isNotNull().isNotIn(opened);
    assertThat(pingOn(s, s.stream, "ok")).contains("type=\"result\"");
    s.sendBody("type='terminate'", "");
  }

  @Test
  void b81_hostileStreamValuesEndOnlyTheirSession() throws Exception {
    BoshSession bystander = login("bob", "bobpw", "bystander");
    for (String value : List.of("", "a b", "x".repeat(300), "&lt;x&gt;", "bogus")) {
      String sid = bareSession(300, "wait='5' hold='1' ver='1.11'");
      assertTerminate(post(req(sid, 301, "stream='" + value + "'")), 200, "item-not-found");
    }
    String sid = bareSession(400, "wait='5' hold='1' ver='1.11'");
    assertTerminate(post(req(sid, 401, "to='localhost&#10;x'")), 200, "bad-request");
    String twice = bareSession(500, "wait='5' hold='1' ver='1.11'");
    assertTerminate(post(req(twice, 501, "stream='a' stream='b'")), 200, "bad-request");
    assertThat(BoshSession.pingResult(bystander, "localhost", "fine")).contains("type=\"result\"");
  }

  static void assertTerminate(HttpResponse<String> r, int status, String condition) {
    assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
    assertThat(r.body()).contains("type=\"terminate\"").contains("condition=\"" + condition + "\"");
    assertThat(r.headers().firstValue("content-length")).isPresent();
  }
}
