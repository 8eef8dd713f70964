package io.xbosh.polling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.ProsodyProcess;
import io.xbosh.testing.RedisProcess;
import io.xbosh.testing.SmackClients;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReference;
import org.jivesoftware.smack.packet.Message;
import org.jivesoftware.smack.tcp.XMPPTCPConnection;
import org.jxmpp.jid.impl.JidCreate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Jabber HTTP Polling (XEP-0025) through two xbosh pods on one Redis to a real Prosody: a raw HTTP
 * client logs in with SASL PLAIN (stream restart included), exchanges messages with a c2s client
 * and logs out, each poll going to the other pod than the one before; and every error identifier.
 */
class HttpPollingIT {

  private static final String DOMAIN = ProsodyProcess.DOMAIN;
  private static final String PATH = "/http-poll";
  private static final String HEADER = "<stream:stream to='" + DOMAIN + "' xmlns='jabber:client' "
      + "xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en'>";

  private static ProsodyProcess prosody;
  private static RedisProcess redis;
  private static InProcessXbosh podA;
  private static InProcessXbosh podB;
  /** in-process store, a polling interval of 5 s, so an inactivity of 6 s */
  private static InProcessXbosh strict;
  /** its XMPP server does not answer */
  private static InProcessXbosh cutOff;
  /** in-process store, no polling interval, an inactivity of 3 s */
  private static InProcessXbosh brief;
  private static HttpClient http;

  @BeforeAll
  static void start() throws Exception {
    prosody = ProsodyProcess.start(Map.of("alice", "alicepw", "bob", "bobpw", "carol", "carolpw"));
    redis = RedisProcess.start();
    Map<String, String> common = Map.of(
        "XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(),
        "XBOSH_REDIS_URL", redis.url(),
        "XBOSH_POLL_PATH", "on",
        "XBOSH_POLLING", "0",
        "XBOSH_CORS_ORIGINS", "https://app.example.org");
    podA = InProcessXbosh.start(with(common, "XBOSH_NODE_ID", "poll-a"));
    podB = InProcessXbosh.start(with(common, "XBOSH_NODE_ID", "poll-b"));
    strict = InProcessXbosh.start(Map.of("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(), "XBOSH_POLL_PATH", PATH,
        "XBOSH_POLLING", "5", "XBOSH_POLLING_INACTIVITY", "1", "XBOSH_NODE_ID", "poll-strict"));
    int closed;
    try (ServerSocket s = new ServerSocket(0)) {
      closed = s.getLocalPort();
    }
    cutOff = InProcessXbosh.start(Map.of("XBOSH_UPSTREAM", "127.0.0.1:" + closed, "XBOSH_POLL_PATH", PATH,
        "XBOSH_CONNECT_TIMEOUT_MS", "2000", "XBOSH_NODE_ID", "poll-cut-off"));
    brief = InProcessXbosh.start(Map.of("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(), "XBOSH_POLL_PATH", PATH,
        "XBOSH_POLLING", "0", "XBOSH_POLLING_INACTIVITY", "3", "XBOSH_NODE_ID", "poll-brief"));
    http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  }

  private static Map<String, String> with(Map<String, String> m, String k, String v) {
    Map<String, String> all = new java.util.HashMap<>(m);
    all.put(k, v);
    return all;
  }

  @AfterAll
  static void stop() throws Exception {
    for (InProcessXbosh x : new InProcessXbosh[] {podA, podB, strict, cutOff, brief}) {
      if (x != null) {
        x.close();
      }
    }
    if (redis != null) {
      redis.close();
    }
    if (prosody != null) {
      prosody.close();
    }
  }

  /** One answer: the identifier of its Set-Cookie and the raw content. */
  record Answer(int status, String id, String body, HttpResponse<String> response) {
  }

  static Answer post(int port, String body) throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + PATH))
        .timeout(Duration.ofSeconds(30))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build(), HttpResponse.BodyHandlers.ofString());
    String cookie = r.headers().firstValue("Set-Cookie").orElse("");
    assertThat(cookie).as("Set-Cookie").startsWith("ID=").contains("; Path=" + PATH);
    String id = cookie.substring(3, cookie.indexOf(';'));
    return new Answer(r.statusCode(), id, r.body(), r);
  }

  /**
   * A polling client as XEP-0025 §4 describes it: a key sequence K(n) ... K(1) from a random seed,
   * re-keyed before it runs out, each poll sent to the next of the given pods in turn.
   */
  static final class Poller {
    private final int[] ports;
    private int turn;
    String id = PollRequest.NEW_SESSION;
    private List<String> keys = sequence(5);
    String lastKey;
    final StringBuilder received = new StringBuilder();
    final List<Integer> portsUsed = new ArrayList<>();

    Poller(int... ports) {
      this.ports = ports;
    }

    static List<String> sequence(int n) {
      List<String> k = new ArrayList<>();
      k.add(UUID.randomUUID().toString());
      for (int i = 1; i <= n; i++) {
        k.add(PollKeys.next(k.get(i - 1)));
      }
      return k; // K(0) ... K(n)
    }

    /** The next key, and a new sequence's first key when this one is at K(1). */
    String keyPart() {
      String key = keys.remove(keys.size() - 1);
      lastKey = key;
      if (keys.size() == 1 && !id.equals(PollRequest.NEW_SESSION)) {
        keys = sequence(5);
        return key + ";" + keys.remove(keys.size() - 1);
      }
      return key;
    }

    Answer poll(String xml) throws Exception {
      int port = ports[turn++ % ports.length];
      portsUsed.add(port);
      Answer a = post(port, id + ";" + keyPart() + "," + xml);
      assertThat(a.status()).isEqualTo(200);
      assertThat(a.response().headers().firstValue("Content-Type").orElse("")).startsWith("text/xml");
      if (!a.id().endsWith(":0")) {
        assertThat(id.equals(PollRequest.NEW_SESSION) || a.id().equals(id)).as("the identifier stays").isTrue();
        id = a.id();
      }
      received.append(a.body());
      return a;
    }

    /** Polls (empty) until the content received contains each text; returns everything received. */
    String until(String... texts) {
      java.util.function.BooleanSupplier seen = () -> java.util.Arrays.stream(texts).allMatch(t -> received.indexOf(t) >= 0);
      await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).until(() -> {
        if (seen.getAsBoolean()) {
          return true;
        }
        Answer a = poll("");
        assertThat(a.id()).as("identifier while waiting for %s", List.of(texts)).isEqualTo(id);
        return seen.getAsBoolean();
      });
      String all = received.toString();
      received.setLength(0);
      return all;
    }
  }

  /** Opens a polling session and logs in: SASL PLAIN, the stream restart, resource binding. */
  static Poller login(String user, String resource, int... ports) throws Exception {
    Poller p = new Poller(ports);
    Answer first = p.poll(HEADER);
    assertThat(p.id).matches("[0-9a-f]{36}");
    assertThat(first.body()).startsWith("<?xml version='1.0'?><stream:stream ").contains("xmlns='jabber:client'")
        .contains("from='" + DOMAIN + "'");
    String features = p.until("</stream:features>");
    assertThat(features).contains("<mechanism>PLAIN</mechanism>");
    String plain = Base64.getEncoder().encodeToString(("\0" + user + "\0" + user + "pw").getBytes(StandardCharsets.UTF_8));
    p.poll("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + plain + "</auth>");
    assertThat(p.until("<success")).contains("urn:ietf:params:xml:ns:xmpp-sasl");
    // RFC 6120 §6.4.6: after SASL success the client opens a new stream
    Answer restarted = p.poll(HEADER);
    assertThat(restarted.body()).contains("<stream:stream ").contains("version='1.0'");
    assertThat(p.until("</stream:features>")).contains("urn:ietf:params:xml:ns:xmpp-bind");
    p.poll("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + resource + "</resource></bind></iq>");
    assertThat(p.until("</iq>")).contains("<jid>" + user + "@" + DOMAIN + "/" + resource + "</jid>");
    return p;
  }

  @Test
  void p02_p03_p05_p07_p08_p11_loginMessagesBothWaysAndLogoutWithPollsAlternatingBetweenTwoPods() throws Exception {
    XMPPTCPConnection bob = SmackClients.tcp(prosody.c2sPort(), "bob", "tcp");
    try {
      List<String> bobInbox = SmackClients.inbox(bob);
      Poller alice = login("alice", "poll", podA.port(), podB.port());
      alice.poll("<presence/>");
      // the client's content may split an element anywhere: this message spans three polls
      alice.poll("<message to='bob@" + DOMAIN + "' type='chat'><bo");
      alice.poll("dy>hello from polling</body>");
      alice.poll("</message>");
      await().atMost(Duration.ofSeconds(30)).until(() -> bobInbox.contains("hello from polling"));

      bob.sendStanza(bob.getStanzaFactory().buildMessageStanza().to(JidCreate.from("alice@" + DOMAIN + "/poll"))
          .ofType(Message.Type.chat).setBody("hello from c2s").build());
      assertThat(alice.until("hello from c2s")).contains("<message").contains("from=\"bob@" + DOMAIN + "/tcp\"");

      // the re-keying (every five polls) has happened on the way several times
      assertThat(alice.portsUsed).contains(podA.port(), podB.port());
      assertThat(alice.portsUsed.size()).isGreaterThan(10);

      Answer bye = alice.poll("<presence type='unavailable'/></stream:stream>");
      assertThat(bye.id()).isEqualTo(alice.id);
      assertThat(bye.body()).endsWith("</stream:stream>");
      // the session is over on both pods: its end again, or unknown once the end is forgotten
      Answer after = alice.poll("");
      assertThat(after.id().equals(alice.id) && after.body().endsWith("</stream:stream>") || after.id().equals("0:0")).isTrue();
    } finally {
      bob.disconnect();
    }
  }

  @Test
  void p04_p06_wrongKeyIsKeySequenceErrorAndChangesNothing() throws Exception {
    Poller carol = login("carol", "keys", podB.port(), podA.port());
    // a key of another sequence, and no key at all
    Answer replay = post(podA.port(), carol.id + ";" + PollKeys.next(UUID.randomUUID().toString()) + ",<presence/>");
    assertThat(replay.id()).isEqualTo("-3:0");
    assertThat(replay.body()).isEmpty();
    Answer noKey = post(podB.port(), carol.id + ",<presence/>");
    assertThat(noKey.id()).isEqualTo("-3:0");
    // the session goes on with the right key: the refused polls were not processed
    carol.poll("<iq type='get' id='ping1'><ping xmlns='urn:xmpp:ping'/></iq>");
    assertThat(carol.until("ping1")).contains("type=\"result\"");
    // the key the last poll used, once more
    Answer replayed = post(podB.port(), carol.id + ";" + carol.lastKey + ",<presence/>");
    assertThat(replayed.id()).isEqualTo("-3:0");
    carol.poll("</stream:stream>");
  }

  /**
   * Two polls of one session at once on two pods, with consecutive keys: the store takes them one
   * at a time, so the one carrying the next key always goes through, the other either follows it or
   * (arriving first) is refused with -3:0 unprocessed; nothing is processed twice.
   */
  @Test
  void p13_concurrentPollsOnTwoPodsAreTakenInKeyOrder() throws Exception {
    Poller dave = login("bob", "race", podA.port(), podB.port());
    String self = "bob@" + DOMAIN + "/race";
    for (int round = 0; round < 4; round++) {
      String first = dave.keyPart();
      String second = dave.keyPart();
      var a = http.sendAsync(request(podA.port(), dave.id + ";" + first + "," + echo(self, "race-a" + round)), HttpResponse.BodyHandlers.ofString());
      var b = http.sendAsync(request(podB.port(), dave.id + ";" + second + "," + echo(self, "race-b" + round)), HttpResponse.BodyHandlers.ofString());
      String idA = idOf(a.get());
      String idB = idOf(b.get());
      dave.received.append(a.get().body()).append(b.get().body());
      assertThat(idA).isEqualTo(dave.id);
      assertThat(idB).isIn(dave.id, "-3:0");
      if (idB.equals("-3:0")) {
        // refused unprocessed: the same key is still the next one
        Answer again = post(podB.port(), dave.id + ";" + second + "," + echo(self, "race-b" + round));
        assertThat(again.id()).isEqualTo(dave.id);
        dave.received.append(again.body());
      }
      String all = dave.until("race-a" + round + "</body>", "race-b" + round + "</body>");
      assertThat(count(all, "race-a" + round + "</body>")).isEqualTo(1);
      assertThat(count(all, "race-b" + round + "</body>")).isEqualTo(1);
    }
    dave.poll("</stream:stream>");
  }

  /**
   * The cost of a poll, counted by Redis itself: store scripts per poll over a conversation of polls
   * alternating between the pods. Printed for the record; bounded here.
   */
  @Test
  void p13_aPollIsOneStoreScript() throws Exception {
    Poller p = login("carol", "cost", podA.port(), podB.port());
    String self = "carol@" + DOMAIN + "/cost";
    int start = p.portsUsed.size();
    String statsBefore = redis.cli("info", "commandstats");
    long before = calls(statsBefore, "fcall") + calls(statsBefore, "evalsha");
    int polls = 60;
    for (int i = 0; i < polls; i++) {
      // every third poll sends itself a message, which the server delivers into the store (one more script)
      p.poll(i % 3 == 0 ? echo(self, "cost-" + i) : "");
    }
    p.until("cost-" + (polls - 3) + "</body>");
    String statsAfter = redis.cli("info", "commandstats");
    long scripts = calls(statsAfter, "fcall") + calls(statsAfter, "evalsha") - before;
    long sent = p.portsUsed.size() - start;
    System.out.printf("polling redis cost: %d polls, %d FCALL/EVALSHA (%.2f per poll; server deliveries, hand-overs to the"
        + " owner and heartbeats included)%n", sent, scripts, scripts / (double) sent);
    assertThat(scripts).isLessThanOrEqualTo(2 * sent);
    p.poll("</stream:stream>");
  }

  private static long calls(String commandstats, String command) {
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("cmdstat_" + command + ":calls=(\\d+)").matcher(commandstats);
    return m.find() ? Long.parseLong(m.group(1)) : 0;
  }

  private static String echo(String to, String body) {
    return "<message to='" + to + "' type='chat'><body>" + body + "</body></message>";
  }

  private static int count(String s, String part) {
    int n = 0;
    for (int i = s.indexOf(part); i >= 0; i = s.indexOf(part, i + 1)) {
      n++;
    }
    return n;
  }

  private static HttpRequest request(int port, String body) {
    return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + PATH)).timeout(Duration.ofSeconds(30))
        .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8)).build();
  }

  private static String idOf(HttpResponse<String> r) {
    String cookie = r.headers().firstValue("Set-Cookie").orElseThrow();
    return cookie.substring(3, cookie.indexOf(';'));
  }

  @Test
  void p06_malformedBodiesAreBadRequest() throws Exception {
    for (String body : new String[] {"", "no comma", "ab_c;k,", "0;k,<message/>", "0;k,<stream:stream to='x'",
        "abc;k;n;x,"}) {
      Answer a = post(podA.port(), body);
      assertThat(a.status()).as(body).isEqualTo(200);
      assertThat(a.id()).as(body).isEqualTo("-2:0");
      assertThat(a.body()).as(body).isEmpty();
    }
  }

  @Test
  void p06_p14_bodyAboveTheSizeCapIsBadRequest() throws Exception {
    Answer a = post(podB.port(), "0;k," + HEADER + " ".repeat(70_000));
    assertThat(a.id()).isEqualTo("-2:0");
  }

  @Test
  void p06_unknownIdentifierIsUnknownError() throws Exception {
    Answer a = post(podB.port(), PollHandler.newIdentifier() + ";" + PollKeys.next("x") + ",");
    assertThat(a.id()).isEqualTo("0:0");
    assertThat(a.body()).isEmpty();
    // in the XEP's alphabet but of no form xbosh hands out (a BOSH sid would not be either)
    assertThat(post(podA.port(), "7776:2054;" + PollKeys.next("x") + ",<presence/>").id()).isEqualTo("0:0");
  }

  @Test
  void p06_unreachableXmppServerIsServerError() throws Exception {
    Answer a = post(cutOff.port(), "0;" + PollKeys.next("seed") + "," + HEADER);
    assertThat(a.id()).isEqualTo("-1:0");
    assertThat(a.body()).isEmpty();
  }

  @Test
  void p12_emptyPollTooSoonAfterAnEmptyAnswerIsBadRequest() throws Exception {
    Poller p = new Poller(strict.port());
    p.poll(HEADER);
    p.until("</stream:features>");
    // two empty polls in a row, well within the 5 s interval: the first answer is empty, the second poll refused
    AtomicReference<Answer> refused = new AtomicReference<>();
    for (int i = 0; i < 3 && refused.get() == null; i++) {
      Answer a = p.poll("");
      if (a.id().endsWith(":0")) {
        refused.set(a);
      }
    }
    assertThat(refused.get()).isNotNull();
    assertThat(refused.get().id()).isEqualTo("-2:0");
  }

  /**
   * §3: a session without successful polls for the inactivity period ends, and its identifier is
   * then Unknown Error; polls refused with -3:0 do not keep it alive (§4 step 5).
   */
  @Test
  void p04_p09_sessionWithoutSuccessfulPollsEndsAndItsIdentifierIsThenUnknown() throws Exception {
    Poller p = new Poller(strict.port());
    p.poll(HEADER);
    p.until("</stream:features>");
    long opened = System.nanoTime();
    AtomicReference<String> last = new AtomicReference<>();
    await().atMost(Duration.ofSeconds(40)).pollInterval(Duration.ofMillis(500)).until(() -> {
      Answer a = post(strict.port(), p.id + ";" + PollKeys.next(UUID.randomUUID().toString()) + ",");
      last.set(a.id());
      assertThat(a.id()).isIn("-3:0", "0:0");
      return a.id().equals("0:0");
    });
    assertThat(Duration.ofNanos(System.nanoTime() - opened)).isGreaterThanOrEqualTo(Duration.ofSeconds(5));
    assertThat(p.poll("").id()).isEqualTo("0:0");
  }

  /**
   * §3: when a session times out, what was on its way to the client goes back: a pending iq gets
   * service-unavailable, a message recipient-unavailable (XEP-0206 §7, the BOSH machinery).
   */
  @Test
  void p10_aTimedOutSessionBouncesItsPendingIqAndMessages() throws Exception {
    XMPPTCPConnection bob = SmackClients.tcp(prosody.c2sPort(), "bob", "bounce-tcp");
    try {
      List<Message> errors = java.util.Collections.synchronizedList(new ArrayList<>());
      bob.addSyncStanzaListener(st -> errors.add((Message) st),
          st -> st instanceof Message m && m.getType() == Message.Type.error);
      Poller alice = login("alice", "bounce", brief.port());
      alice.poll("<presence/>");
      alice.until("<presence");
      // alice stops polling: the iq and the message wait in the store until the session expires
      bob.sendStanza(bob.getStanzaFactory().buildMessageStanza().to(JidCreate.from("alice@" + DOMAIN + "/bounce"))
          .ofType(Message.Type.chat).setBody("never read").build());
      org.jivesoftware.smack.packet.IQ iq = new org.jivesoftware.smack.packet.IQ("query", "jabber:iq:version") {
        @Override
        protected IQChildElementXmlStringBuilder getIQChildElementBuilder(IQChildElementXmlStringBuilder xml) {
          xml.setEmptyElement();
          return xml;
        }
      };
      iq.setType(org.jivesoftware.smack.packet.IQ.Type.get);
      iq.setTo(JidCreate.from("alice@" + DOMAIN + "/bounce"));
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> bob.sendIqRequestAndWaitForResponse(iq))
          .isInstanceOf(org.jivesoftware.smack.XMPPException.XMPPErrorException.class)
          .extracting(e -> ((org.jivesoftware.smack.XMPPException.XMPPErrorException) e).getStanzaError().getCondition())
          .isEqualTo(org.jivesoftware.smack.packet.StanzaError.Condition.service_unavailable);
      await().atMost(Duration.ofSeconds(30)).until(() -> !errors.isEmpty());
      assertThat(errors.get(0).getError().getCondition()).isEqualTo(org.jivesoftware.smack.packet.StanzaError.Condition.recipient_unavailable);
      assertThat(alice.poll("").id()).isEqualTo("0:0");
    } finally {
      bob.disconnect();
    }
  }

  @Test
  void p01_p14_corsAsOnTheBoshPath() throws Exception {
    HttpResponse<String> pre = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + podA.port() + PATH))
        .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
        .header("Origin", "https://app.example.org").header("Access-Control-Request-Method", "POST").build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(pre.statusCode()).isEqualTo(204);
    assertThat(pre.headers().firstValue("Access-Control-Allow-Origin")).contains("https://app.example.org");
    assertThat(pre.headers().firstValue("Access-Control-Allow-Methods")).contains(PollHandler.METHODS);
    HttpResponse<String> other = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + podA.port() + PATH))
        .header("Origin", "https://evil.example").POST(HttpRequest.BodyPublishers.ofString("x")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(other.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
    HttpResponse<String> get = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + podA.port() + PATH)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(get.statusCode()).isEqualTo(405);
  }
}
