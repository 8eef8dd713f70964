package io.xbosh.websocket;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Vertx;
import io.vertx.core.http.UpgradeRejectedException;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.http.WebSocketClientOptions;
import io.vertx.core.http.WebSocketConnectOptions;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetSocket;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.ProsodyProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** XMPP over WebSocket (RFC 7395) through xbosh to a real Prosody, beside BOSH on the same pod. */
class WebSocketIT {

  private static final String DOMAIN = ProsodyProcess.DOMAIN;
  private static final String PATH = "/xmpp-websocket";
  private static final int MAX_FRAME = 4096;

  private static ProsodyProcess prosody;
  private static InProcessXbosh xbosh;
  private static Vertx vertx;
  private static WebSocketClient client;
  private static HttpClient http;

  @BeforeAll
  static void start() throws Exception {
    prosody = ProsodyProcess.start(Map.of("alice", "alicepw", "bob", "bobpw", "carol", "carolpw"));
    xbosh = InProcessXbosh.start(Map.of(
        "XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(),
        "XBOSH_WS_MAX_FRAME_BYTES", Integer.toString(MAX_FRAME),
        "XBOSH_WS_PING_SECONDS", "1",
        "XBOSH_CORS_ORIGINS", "https://app.example.org",
        "XBOSH_NODE_ID", "ws-pod"));
    vertx = Vertx.vertx();
    client = vertx.createWebSocketClient(new WebSocketClientOptions().setMaxMessageSize(1 << 20).setMaxFrameSize(1 << 20));
    http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  }

  @AfterAll
  static void stop() throws Exception {
    if (vertx != null) {
      WsClient.await(vertx.close());
    }
    if (xbosh != null) {
      xbosh.close();
    }
    if (prosody != null) {
      prosody.close();
    }
  }

  private static WsClient connect() throws Exception {
    return WsClient.connect(client, WsClient.options(xbosh.port(), PATH));
  }

  private static WebSocketSessions sessions() {
    return xbosh.xbosh().webSockets();
  }

  @Test
  void w02_w03_w04_loginOverWebSocketAndExchangeMessagesWithABoshUserThenClose() throws Exception {
    BoshSession bob = BoshSession.login(http, List.of(xbosh.endpoint()), DOMAIN, "bob", "bobpw", "bosh");
    try (WsClient alice = connect()) {
      alice.login(DOMAIN, "alice", "alicepw", "ws");
      assertThat(sessions().count()).isGreaterThanOrEqualTo(1);
      String scrape = xbosh.xbosh().pod().metrics().scrape();
      assertThat(scrape).contains("xbosh_sessions_transport{transport=\"websocket\"}");

      // WebSocket → BOSH
      alice.send("<message xmlns='jabber:client' to='bob@" + DOMAIN + "/bosh' type='chat' id='m1'><body>over websocket</body></message>");
      String atBob = bob.pollUntil(b -> b.contains("over websocket"), new ArrayList<>());
      assertThat(atBob).contains("from=\"alice@" + DOMAIN + "/ws\"");

      // BOSH → WebSocket: one standalone element per message, namespace declared on it
      bob.send("<message xmlns='jabber:client' to='alice@" + DOMAIN + "/ws' type='chat' id='m2'><body>over bosh &amp; back</body></message>");
      String atAlice = alice.until(m -> m.contains("over bosh"));
      assertThat(atAlice).startsWith("<message xmlns=\"jabber:client\"").contains("from=\"bob@" + DOMAIN + "/bosh\"")
          .contains("over bosh &amp; back");

      // RFC 7395 §3.6: <close/> is answered with <close/>, then the socket closes
      alice.send("<close xmlns='" + WsClient.FRAMING + "'/>");
      assertThat(alice.until(m -> m.startsWith("<close"))).isEqualTo("<close xmlns=\"" + WsClient.FRAMING + "\"/>");
      alice.awaitClosed();
    } finally {
      bob.sendBody("type='terminate'", "");
    }
  }

  @Test
  void w04_twoHundredMessagesEachWayWithABoshUserArriveInOrder() throws Exception {
    int n = 200;
    BoshSession bob = BoshSession.login(http, List.of(xbosh.endpoint()), DOMAIN, "bob", "bobpw", "bosh200");
    try (WsClient alice = connect()) {
      alice.login(DOMAIN, "alice", "alicepw", "ws200");
      CompletableFuture<List<String>> atBob = CompletableFuture.supplyAsync(() -> BoshSession.receive(bob, "w2b-", n));
      for (int i = 0; i < n; i++) {
        alice.ws.writeTextMessage("<message xmlns='jabber:client' to='bob@" + DOMAIN + "/bosh200' type='chat'><body>w2b-" + i
            + "</body></message>");
      }
      assertThat(atBob.get(90, java.util.concurrent.TimeUnit.SECONDS))
          .containsExactlyElementsOf(java.util.stream.IntStream.range(0, n).mapToObj(i -> "w2b-" + i).toList());
      BoshSession.sendAll(bob, "alice@" + DOMAIN + "/ws200", "b2w-", n);
      for (int i = 0; i < n; i++) {
        assertThat(alice.until(m -> m.startsWith("<message"))).contains("<body>b2w-" + i + "</body>");
      }
    } finally {
      bob.sendBody("type='terminate'", "");
    }
  }

  @Test
  void w05_theServersStreamErrorIsRelayedThenClose() throws Exception {
    // a second stream for the same full JID: Prosody ends the first with <conflict/> (RFC 6120 §4.9.3.3)
    try (WsClient first = connect(); WsClient second = connect()) {
      first.login(DOMAIN, "carol", "carolpw", "same");
      second.login(DOMAIN, "carol", "carolpw", "same");
      String error = first.until(m -> m.startsWith("<stream:error"));
      assertThat(error).startsWith("<stream:error xmlns:stream=\"http://etherx.jabber.org/streams\"").contains("<conflict ");
      assertThat(first.next()).isEqualTo("<close xmlns=\"" + WsClient.FRAMING + "\"/>");
      first.awaitClosed();
    }
  }

  @Test
  void w05_aDomainTheServerDoesNotServeGetsTheServersHostUnknownThenClose() throws Exception {
    try (WsClient c = connect()) {
      c.send(WsClient.open("nowhere.invalid"));
      assertThat(c.next()).startsWith("<open xmlns=\"" + WsClient.FRAMING + "\"");
      assertThat(c.next()).startsWith("<stream:error xmlns:stream=\"http://etherx.jabber.org/streams\">").contains("<host-unknown ");
      assertThat(c.next()).isEqualTo("<close xmlns=\"" + WsClient.FRAMING + "\"/>");
      c.awaitClosed();
    }
  }

  @Test
  void w02_w06_anOpenWithoutToOrWithAnotherVersionIsRefused() throws Exception {
    for (String[] open : new String[][] {
        {"<open xmlns='" + WsClient.FRAMING + "' version='1.0'/>", "host-unknown"},
        {"<open xmlns='" + WsClient.FRAMING + "' to='no such&amp;domain' version='1.0'/>", "host-unknown"},
        {"<open xmlns='" + WsClient.FRAMING + "' to='" + DOMAIN + "' version='2.0'/>", "unsupported-version"}}) {
      try (WsClient c = connect()) {
        c.send(open[0]);
        assertThat(c.next()).startsWith("<open ");
        assertThat(c.next()).contains("<" + open[1] + " ");
        assertThat(c.next()).startsWith("<close ");
        c.awaitClosed();
      }
    }
  }

  @Test
  void w12_streamManagementPassesThroughUntouched() throws Exception {
    try (WsClient c = connect()) {
      c.login(DOMAIN, "carol", "carolpw", "sm");
      c.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
      assertThat(c.until(m -> m.startsWith("<enabled"))).startsWith("<enabled xmlns=\"urn:xmpp:sm:3\"").contains("resume=\"true\"");
      c.send("<iq xmlns='jabber:client' type='get' id='sm1' to='" + DOMAIN + "'><ping xmlns='urn:xmpp:ping'/></iq>");
      c.until(m -> m.contains("id=\"sm1\""));
      // the server counted the one stanza it handled since <enable/>
      c.send("<r xmlns='urn:xmpp:sm:3'/>");
      assertThat(c.until(m -> m.startsWith("<a "))).isEqualTo("<a xmlns=\"urn:xmpp:sm:3\" h=\"1\"/>");
    }
  }

  // ---- handshake

  @Test
  void w01_handshakeWithoutTheXmppSubprotocolIsRefusedWith400() {
    WebSocketConnectOptions noProtocol = new WebSocketConnectOptions().setHost("127.0.0.1").setPort(xbosh.port()).setURI(PATH);
    assertThatThrownBy(() -> WsClient.connect(client, noProtocol))
        .isInstanceOf(ExecutionException.class).cause().isInstanceOf(UpgradeRejectedException.class)
        .satisfies(e -> assertThat(((UpgradeRejectedException) e).getStatus()).isEqualTo(400));
  }

  @Test
  void w01_w09_crossOriginPageNotListedIsRefusedWith403ListedAndSameOriginAndOriginlessAreAdmitted() throws Exception {
    assertThat(handshakeStatus("Sec-WebSocket-Protocol: xmpp\r\nOrigin: https://evil.example\r\n")).isEqualTo(403);
    assertThat(handshakeStatus("Sec-WebSocket-Protocol: xmpp\r\nOrigin: http://127.0.0.1:1\r\n")).isEqualTo(403);
    assertThat(handshakeStatus("Sec-WebSocket-Protocol: xmpp\r\nOrigin: https://app.example.org\r\n")).isEqualTo(101);
    assertThat(handshakeStatus("Sec-WebSocket-Protocol: xmpp\r\nOrigin: http://127.0.0.1:" + xbosh.port() + "\r\n")).isEqualTo(101);
    assertThat(handshakeStatus("Sec-WebSocket-Protocol: xmpp\r\n")).isEqualTo(101);
    assertThat(handshakeStatus("Sec-WebSocket-Protocol: chat, superchat\r\n")).isEqualTo(400);
    assertThat(handshakeStatus("Sec-WebSocket-Protocol: chat, xmpp\r\n")).isEqualTo(101);
  }

  /** A handshake by hand: the status of the answer. */
  private static int handshakeStatus(String headers) throws Exception {
    return handshakeStatus(xbosh.port(), headers);
  }

  private static int handshakeStatus(int port, String headers) throws Exception {
    NetClient net = vertx.createNetClient();
    try {
      NetSocket socket = WsClient.await(net.connect(port, "127.0.0.1"));
      StringBuilder in = new StringBuilder();
      socket.handler(b -> {
        synchronized (in) {
          in.append(b.toString(StandardCharsets.ISO_8859_1));
        }
      });
      WsClient.await(socket.write(handshake(headers)));
      String head = await().atMost(Duration.ofSeconds(10)).until(() -> {
        synchronized (in) {
          return in.toString();
        }
      }, h -> h.contains("\r\n\r\n"));
      return Integer.parseInt(head.substring(9, 12));
    } finally {
      WsClient.await(net.close());
    }
  }

  private static String handshake(String headers) {
    return "GET " + PATH + " HTTP/1.1\r\nHost: 127.0.0.1:" + xbosh.port() + "\r\nUpgrade: websocket\r\n"
        + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + headers + "\r\n";
  }

  @Test
  void w01_plainGetOnTheWebSocketPathGets426() throws Exception {
    var res = http.send(java.net.http.HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + xbosh.port() + PATH)).GET().build(),
        java.net.http.HttpResponse.BodyHandlers.ofString());
    assertThat(res.statusCode()).isEqualTo(426);
  }

  @Test
  void w01_anEmptyPathTurnsTheEndpointOffAndLeavesBoshAlone() throws Exception {
    try (InProcessXbosh pod = InProcessXbosh.start(Map.of("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(), "XBOSH_WS_PATH", ""))) {
      assertThat(handshakeStatus(pod.port(), "Sec-WebSocket-Protocol: xmpp\r\n")).isEqualTo(404);
      BoshSession.login(http, List.of(pod.endpoint()), DOMAIN, "carol", "carolpw", "no-ws").sendBody("type='terminate'", "");
    }
  }

  // ---- bad input: each gets its stream error then <close/>, and nobody else is disturbed

  private static void assertStreamError(String afterOpen, boolean binary, String condition) throws Exception {
    try (WsClient c = connect()) {
      c.openStream(DOMAIN);
      if (binary) {
        c.sendBinary(afterOpen.getBytes(StandardCharsets.UTF_8));
      } else {
        c.send(afterOpen);
      }
      String error = c.next();
      assertThat(error).as(afterOpen).isEqualTo("<stream:error xmlns:stream=\"http://etherx.jabber.org/streams\"><" + condition
          + " xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/></stream:error>");
      assertThat(c.next()).isEqualTo("<close xmlns=\"" + WsClient.FRAMING + "\"/>");
      c.awaitClosed();
    }
  }

  @Test
  void w06_badInputEndsOnlyItsOwnStreamWithTheRightError() throws Exception {
    BoshSession bob = BoshSession.login(http, List.of(xbosh.endpoint()), DOMAIN, "bob", "bobpw", "bystander");
    try (WsClient alice = connect()) {
      alice.login(DOMAIN, "alice", "alicepw", "bystander");

      assertStreamError("<message xmlns='jabber:client'/>", true, "not-well-formed");
      assertStreamError("<message xmlns='jabber:client'/><message xmlns='jabber:client'/>", false, "not-well-formed");
      assertStreamError("<message xmlns='jabber:client'><body>half", false, "not-well-formed");
      assertStreamError("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client' to='localhost' version='1.0'>",
          false, "unsupported-stanza-type");
      assertStreamError("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'/>", false,
          "unsupported-stanza-type");
      assertStreamError("</stream:stream>", false, "not-well-formed");
      assertStreamError("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", false, "unsupported-stanza-type");
      assertStreamError("<!DOCTYPE message [<!ENTITY x 'y'>]><message xmlns='jabber:client'>&x;</message>", false, "restricted-xml");
      assertStreamError("<message xmlns='jabber:client'><body>&x;</body></message>", false, "restricted-xml");
      assertStreamError("<?evil x?><message xmlns='jabber:client'/>", false, "restricted-xml");
      assertStreamError("<message xmlns='jabber:client'><!-- c --></message>", false, "restricted-xml");
      assertStreamError("<message xmlns='jabber:client'><body>" + "x".repeat(MAX_FRAME) + "</body></message>", false, "policy-violation");
      assertStreamError("just text", false, "not-well-formed");

      // a stanza before <open/>: the stream opens for the error (RFC 6120 §4.9.1.1)
      try (WsClient c = connect()) {
        c.send("<message xmlns='jabber:client'/>");
        assertThat(c.next()).startsWith("<open xmlns=\"" + WsClient.FRAMING + "\"");
        assertThat(c.next()).contains("<not-well-formed ");
        assertThat(c.next()).startsWith("<close");
        c.awaitClosed();
      }

      // the bystanders on both transports still talk
      alice.send("<message xmlns='jabber:client' to='bob@" + DOMAIN + "/bystander' type='chat'><body>still here</body></message>");
      assertThat(bob.pollUntil(b -> b.contains("still here"), new ArrayList<>())).contains("alice@" + DOMAIN + "/bystander");
      bob.send("<message xmlns='jabber:client' to='alice@" + DOMAIN + "/bystander' type='chat'><body>me too</body></message>");
      assertThat(alice.until(m -> m.contains("me too"))).contains("bob@" + DOMAIN + "/bystander");
    } finally {
      bob.sendBody("type='terminate'", "");
    }
  }

  /**
   * A message past twice XBOSH_WS_MAX_FRAME_BYTES is not even buffered: the WebSocket layer closes
   * the socket before the parser sees it (1009, message too big, RFC 6455 §7.4.1, or the
   * connection dropped while the client still writes: 1006 at the client); other streams go on.
   */
  @Test
  void w06_aMessageBeyondTwiceTheBoundClosesOnlyItsSocket() throws Exception {
    try (WsClient bystander = connect(); WsClient big = connect()) {
      bystander.login(DOMAIN, "carol", "carolpw", "bystander1009");
      big.openStream(DOMAIN);
      big.ws.writeTextMessage("<message xmlns='jabber:client'><body>" + "x".repeat(3 * MAX_FRAME) + "</body></message>");
      assertThat(big.closed.get(20, java.util.concurrent.TimeUnit.SECONDS)).isIn((short) 1009, (short) 1006);
      bystander.send("<iq xmlns='jabber:client' type='get' id='after1009' to='" + DOMAIN + "'><ping xmlns='urn:xmpp:ping'/></iq>");
      assertThat(bystander.until(m -> m.contains("id=\"after1009\""))).contains("type=\"result\"");
    }
  }

  // ---- backpressure

  /** Pings off on this pod: a client that does not read cannot answer them and would count as dead. */
  @Test
  void w10_aClientThatStopsReadingPausesTheServerAndGetsEverythingInOrderOnceItReads() throws Exception {
    int n = 3000;
    String filler = "y".repeat(2000);
    try (InProcessXbosh pod = InProcessXbosh.start(Map.of("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(),
        "XBOSH_WS_PING_SECONDS", "0"))) {
      WebSocketSessions podSessions = pod.xbosh().webSockets();
      java.util.Set<String> before = podSessions.ids();
      WsClient alice = WsClient.connect(client, WsClient.options(pod.port(), PATH));
      WebSocketSession slow = podSessions.get(await().atMost(Duration.ofSeconds(10)).until(
          () -> podSessions.ids().stream().filter(i -> !before.contains(i)).findFirst().orElse(null), java.util.Objects::nonNull));
      try (WsClient bob = WsClient.connect(client, WsClient.options(pod.port(), PATH))) {
        alice.login(DOMAIN, "alice", "alicepw", "slow");
        bob.login(DOMAIN, "bob", "bobpw", "fast");
        alice.ws.pause();
        for (int i = 0; i < n; i++) {
          bob.ws.writeTextMessage("<message xmlns='jabber:client' to='alice@" + DOMAIN + "/slow' type='chat'><body>" + i + " " + filler
              + "</body></message>");
        }
        // the socket toward alice is full: xbosh stops reading from the server instead of buffering
        await().atMost(Duration.ofSeconds(60)).until(() -> slow.link().readPaused());
        assertThat(slow.link().pendingStanzas()).isLessThanOrEqualTo(1000);
        alice.ws.resume();
        for (int i = 0; i < n; i++) {
          String m = alice.until(x -> x.startsWith("<message"));
          assertThat(m).contains("<body>" + i + " ");
        }
      } finally {
        alice.close();
      }
    }
  }

  @Test
  void w10_aServerThatStopsReadingPausesTheClientAndGetsEverythingInOrderOnceItReads() throws Exception {
    int n = 2000;
    String filler = "z".repeat(2000);
    try (io.xbosh.testing.StalledXmppServer stalled = new io.xbosh.testing.StalledXmppServer();
        InProcessXbosh pod = InProcessXbosh.start(Map.of("XBOSH_UPSTREAM", "127.0.0.1:" + stalled.port(), "XBOSH_WS_PING_SECONDS", "0"))) {
      WebSocketSessions podSessions = pod.xbosh().webSockets();
      java.util.Set<String> before = podSessions.ids();
      try (WsClient c = WsClient.connect(client, WsClient.options(pod.port(), PATH))) {
        WebSocketSession s = podSessions.get(await().atMost(Duration.ofSeconds(10)).until(
            () -> podSessions.ids().stream().filter(i -> !before.contains(i)).findFirst().orElse(null), java.util.Objects::nonNull));
        c.openStream("stalled.test");
        for (int i = 0; i < n; i++) {
          c.ws.writeTextMessage("<message xmlns='jabber:client' to='x@stalled.test'><body>m" + i + " " + filler + "</body></message>");
        }
        // the server's socket is full: xbosh stops reading the client instead of buffering
        await().atMost(Duration.ofSeconds(60)).until(s::clientPaused);
        stalled.startReading();
        await().atMost(Duration.ofSeconds(60)).until(() -> stalled.received().contains("m" + (n - 1) + " "));
        String received = stalled.received();
        int at = -1;
        for (int i = 0; i < n; i++) {
          int next = received.indexOf("<body>m" + i + " ");
          assertThat(next).as("message " + i + " after message " + (i - 1)).isGreaterThan(at);
          at = next;
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> !s.clientPaused());
      }
    }
  }

  // ---- keepalive

  /** The pod's session of the WebSocket connected in {@code connect}, found as the one id that it added. */
  private static WebSocketSession newSession(java.util.concurrent.Callable<?> connect) throws Exception {
    java.util.Set<String> before = sessions().ids();
    connect.call();
    String id = await().atMost(Duration.ofSeconds(10)).until(
        () -> sessions().ids().stream().filter(i -> !before.contains(i)).findFirst().orElse(null), java.util.Objects::nonNull);
    return sessions().get(id);
  }

  @Test
  void w08_aPeerThatAnswersPingsStaysOpen() throws Exception {
    WsClient[] c = new WsClient[1];
    WebSocketSession s = newSession(() -> c[0] = connect());
    try {
      c[0].openStream(DOMAIN);
      long first = s.pings();
      await().atMost(Duration.ofSeconds(20)).until(() -> s.pings() >= first + 3);
      assertThat(c[0].isClosed()).isFalse();
      assertThat(s.state()).isEqualTo(WebSocketSession.State.OPEN);
      assertThat(s.link().state()).isEqualTo(io.xbosh.upstream.UpstreamLink.State.OPEN);
    } finally {
      c[0].close();
    }
  }

  @Test
  void w08_aDeadPeerIsDetectedByPingAndItsUpstreamClosed() throws Exception {
    NetClient net = vertx.createNetClient();
    StringBuilder in = new StringBuilder();
    CompletableFuture<Void> gone = new CompletableFuture<>();
    NetSocket[] socket = new NetSocket[1];
    WebSocketSession dead = newSession(() -> {
      socket[0] = WsClient.await(net.connect(xbosh.port(), "127.0.0.1"));
      socket[0].handler(b -> {
        synchronized (in) {
          in.append(b.toString(StandardCharsets.ISO_8859_1));
        }
      });
      socket[0].closeHandler(v -> gone.complete(null));
      // a handshake by hand, then one masked <open/>, then silence: no pong ever
      return WsClient.await(socket[0].write(handshake("Sec-WebSocket-Protocol: xmpp\r\n")));
    });
    socket[0].write(io.vertx.core.buffer.Buffer.buffer(maskedText(WsClient.open(DOMAIN))));
    await().atMost(Duration.ofSeconds(10)).until(() -> {
      synchronized (in) {
        return in.indexOf("stream:features") >= 0;
      }
    });
    io.xbosh.upstream.UpstreamLink link = dead.link();
    assertThat(link).isNotNull();
    // a ping unanswered for one interval of 1 s: the end
    gone.get(15, java.util.concurrent.TimeUnit.SECONDS);
    await().atMost(Duration.ofSeconds(10)).until(() -> sessions().get(dead.id()) == null);
    assertThat(dead.state()).isEqualTo(WebSocketSession.State.CLOSED);
    await().atMost(Duration.ofSeconds(10)).until(() -> link.state() == io.xbosh.upstream.UpstreamLink.State.CLOSED);
    assertThat(dead.pings()).isGreaterThanOrEqualTo(1);
    assertThat(xbosh.xbosh().pod().metrics().scrape()).contains("xbosh_websocket_errors_total{condition=\"dead-peer\"");
    WsClient.await(net.close());
  }

  private static byte[] maskedText(String text) {
    byte[] payload = text.getBytes(StandardCharsets.UTF_8);
    assertThat(payload.length).isLessThan(126);
    byte[] frame = new byte[2 + 4 + payload.length];
    frame[0] = (byte) 0x81;
    frame[1] = (byte) (0x80 | payload.length);
    byte[] mask = new byte[4];
    ThreadLocalRandom.current().nextBytes(mask);
    System.arraycopy(mask, 0, frame, 2, 4);
    for (int i = 0; i < payload.length; i++) {
      frame[6 + i] = (byte) (payload[i] ^ mask[i % 4]);
    }
    return frame;
  }
}
