package io.xbosh.amqp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.rabbitmq.client.AMQP;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.rabbitmq.RabbitMQClient;
import io.vertx.rabbitmq.RabbitMQOptions;
import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.RabbitMq;
import io.xbosh.testing.StropheClients;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The AMQP upstream end to end on one pod: Strophe.js in Node logs in over BOSH to a domain served
 * from the system RabbitMQ (a vhost and users of this test's own), a backend publishes with the
 * Vert.x RabbitMQ client.
 */
class AmqpUpstreamIT {

  static final String DOMAIN = "notify.example";
  static RabbitMq broker;
  static InProcessXbosh xbosh;
  static StropheClients strophe;
  static Vertx vertx;
  static RabbitMQClient backend;

  @BeforeAll
  static void start() throws Exception {
    broker = RabbitMq.withUsers("bob", "pw-bob", "alice", "pw-alice", "backend", "pw-backend");
    xbosh = InProcessXbosh.start(Map.of("XBOSH_UPSTREAM_HOSTS", DOMAIN + "=" + broker.uri(), "XBOSH_AMQP_PREFETCH", "20"));
    strophe = StropheClients.start();
    vertx = Vertx.vertx();
    backend = RabbitMQClient.create(vertx, new RabbitMQOptions().setHost("127.0.0.1").setPort(RabbitMq.SYSTEM_PORT)
        .setVirtualHost(broker.vhost()).setUser("backend").setPassword("pw-backend"));
    get(backend.start());
  }

  @AfterAll
  static void stop() throws Exception {
    if (backend != null) {
      get(backend.stop());
    }
    if (vertx != null) {
      get(vertx.close());
    }
    if (strophe != null) {
      strophe.close();
    }
    if (xbosh != null) {
      xbosh.close();
    }
    if (broker != null) {
      broker.close();
    }
  }

  static <T> T get(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  static String bosh() {
    return xbosh.endpoint().toString();
  }

  /** Publishes {@code n} text notifications to a user's exchange, ids {@code prefix-0 ...}. */
  static void publish(String bareJid, String prefix, int n) throws Exception {
    get(backend.exchangeDeclare(bareJid, "fanout", true, false));
    // from one context: the client runs each call as a blocking task of the calling context, in order
    io.vertx.core.Promise<Void> done = io.vertx.core.Promise.promise();
    vertx.getOrCreateContext().runOnContext(v -> {
      List<Future<Void>> sent = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        AMQP.BasicProperties props = new AMQP.BasicProperties.Builder().contentType("text/plain").messageId(prefix + "-" + i)
            .headers(Map.of("from", "alerts@" + DOMAIN)).deliveryMode(2).build();
        sent.add(backend.basicPublish(bareJid, "", props, Buffer.buffer("notification " + i)));
      }
      Future.all(sent).<Void>mapEmpty().onComplete(done);
    });
    get(done.future());
  }

  static List<String> bodies(String c, String prefix) {
    return strophe.messages(c).stream().filter(m -> m.getString("id") != null && m.getString("id").startsWith(prefix + "-"))
        .map(m -> m.getString("body")).toList();
  }

  @Test
  void aStropheClientLogsInAndGetsFiveHundredNotificationsInOrder() throws Exception {
    strophe.connect("bob1", bosh(), "bob@" + DOMAIN + "/phone", "pw-bob");
    JsonObject connected = strophe.awaitStatus("bob1", "CONNECTED", Duration.ofSeconds(30));
    assertThat(connected.getString("jid")).isEqualTo("bob@" + DOMAIN + "/phone");
    publish("bob@" + DOMAIN, "five", 500);
    await().atMost(Duration.ofSeconds(60)).until(() -> bodies("bob1", "five").size() >= 500);
    List<String> expected = new ArrayList<>();
    for (int i = 0; i < 500; i++) {
      expected.add("notification " + i);
    }
    assertThat(bodies("bob1", "five")).containsExactlyElementsOf(expected);
    JsonObject first = strophe.messages("bob1").stream().filter(m -> "five-0".equals(m.getString("id"))).findFirst().orElseThrow();
    assertThat(first.getString("from")).isEqualTo("alerts@" + DOMAIN);
    assertThat(first.getString("to")).isEqualTo("bob@" + DOMAIN + "/phone");
    strophe.disconnect("bob1");
    strophe.awaitStatus("bob1", "DISCONNECTED", Duration.ofSeconds(30));
  }

  @Test
  void twoClientsOfOneUserBothReceiveEveryNotification() throws Exception {
    strophe.connect("alice1", bosh(), "alice@" + DOMAIN + "/desk", "pw-alice");
    strophe.connect("alice2", bosh(), "alice@" + DOMAIN + "/phone", "pw-alice");
    strophe.awaitStatus("alice1", "CONNECTED", Duration.ofSeconds(30));
    strophe.awaitStatus("alice2", "CONNECTED", Duration.ofSeconds(30));
    publish("alice@" + DOMAIN, "both", 50);
    await().atMost(Duration.ofSeconds(60)).until(() -> bodies("alice1", "both").size() >= 50 && bodies("alice2", "both").size() >= 50);
    assertThat(bodies("alice1", "both")).hasSize(50).isEqualTo(bodies("alice2", "both"));
    assertThat(bodies("alice1", "both").get(49)).isEqualTo("notification 49");
    strophe.disconnect("alice1");
    strophe.disconnect("alice2");
    strophe.awaitStatus("alice1", "DISCONNECTED", Duration.ofSeconds(30));
    strophe.awaitStatus("alice2", "DISCONNECTED", Duration.ofSeconds(30));
  }

  @Test
  void aClientAwayKeepsItsDurableQueueAndGetsWhatItMissedWhenItComesBack() throws Exception {
    String jid = "bob@" + DOMAIN + "/laptop";
    strophe.connect("away1", bosh(), jid, "pw-bob");
    strophe.awaitStatus("away1", "CONNECTED", Duration.ofSeconds(30));
    strophe.disconnect("away1");
    strophe.awaitStatus("away1", "DISCONNECTED", Duration.ofSeconds(30));
    // while no session is there, the queue named by the full JID keeps what comes
    publish("bob@" + DOMAIN, "missed", 30);
    await().atMost(Duration.ofSeconds(30)).until(() -> broker.queues().contains(jid + "\t30"));
    strophe.connect("away2", bosh(), jid, "pw-bob");
    strophe.awaitStatus("away2", "CONNECTED", Duration.ofSeconds(30));
    await().atMost(Duration.ofSeconds(30)).until(() -> bodies("away2", "missed").size() >= 30);
    assertThat(bodies("away2", "missed")).hasSize(30).startsWith("notification 0").endsWith("notification 29");
    assertThat(bodies("away1", "missed")).isEmpty();
    strophe.disconnect("away2");
    strophe.awaitStatus("away2", "DISCONNECTED", Duration.ofSeconds(30));
  }

  @Test
  void aClientWithoutAResourceOfItsOwnGetsAnAutoDeleteQueueThatGoesWithIt() throws Exception {
    strophe.connect("anon", bosh(), "bob@" + DOMAIN, "pw-bob");
    JsonObject connected = strophe.awaitStatus("anon", "CONNECTED", Duration.ofSeconds(30));
    String jid = connected.getString("jid");
    assertThat(jid).startsWith("bob@" + DOMAIN + "/").hasSizeGreaterThan(("bob@" + DOMAIN + "/").length());
    assertThat(broker.queues()).contains(jid + "\t0\tfalse");
    strophe.disconnect("anon");
    strophe.awaitStatus("anon", "DISCONNECTED", Duration.ofSeconds(30));
    await().atMost(Duration.ofSeconds(30)).until(() -> !broker.queues().contains(jid));
  }

  @Test
  void aWrongPasswordIsNotAuthorizedByTheBroker() throws Exception {
    strophe.connect("wrong", bosh(), "bob@" + DOMAIN + "/x", "not-bobs-password");
    strophe.awaitStatus("wrong", "AUTHFAIL", Duration.ofSeconds(30));
    assertThat(strophe.statuses("wrong")).doesNotContain("CONNECTED");
    // on the wire: the SASL failure RFC 6120 §6.5.10 names
    java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
    String created = io.xbosh.testing.BoshSession.post(http, xbosh.endpoint(), "<body " + io.xbosh.testing.BoshSession.B + " "
        + io.xbosh.testing.BoshSession.X + " rid='1000' to='" + DOMAIN + "' xml:lang='en' wait='5' hold='1' ver='1.11' xmpp:version='1.0'/>")
        .body();
    assertThat(created).contains("<mechanism>PLAIN</mechanism>").doesNotContain("DIGEST").doesNotContain("starttls");
    String sid = io.xbosh.testing.BoshSession.attr(created, "sid");
    String auth = java.util.Base64.getEncoder().encodeToString("\0bob\0wrong".getBytes(java.nio.charset.StandardCharsets.UTF_8));
    String answer = io.xbosh.testing.BoshSession.post(http, xbosh.endpoint(), "<body " + io.xbosh.testing.BoshSession.B + " sid='" + sid
        + "' rid='1001'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth></body>").body();
    assertThat(answer).contains("<failure xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\"><not-authorized/></failure>");
  }

  @Test
  void theServiceAnswersRosterPingDiscoAndServiceUnavailableForTheRest() throws Exception {
    strophe.connect("iq", bosh(), "bob@" + DOMAIN + "/iq", "pw-bob");
    strophe.awaitStatus("iq", "CONNECTED", Duration.ofSeconds(30));
    JsonObject roster = strophe.iq("iq", "get", null, "query", "jabber:iq:roster");
    assertThat(roster.getString("type")).isEqualTo("result");
    assertThat(roster.getString("xml")).contains("jabber:iq:roster").doesNotContain("<item");
    assertThat(strophe.iq("iq", "get", DOMAIN, "ping", "urn:xmpp:ping").getString("type")).isEqualTo("result");
    JsonObject disco = strophe.iq("iq", "get", DOMAIN, "query", "http://jabber.org/protocol/disco#info");
    assertThat(disco.getString("type")).isEqualTo("result");
    assertThat(disco.getString("xml")).contains("var=\"urn:xmpp:ping\"").contains("var=\"jabber:iq:roster\"").contains("<identity");
    JsonObject vcard = strophe.iq("iq", "get", null, "vCard", "vcard-temp");
    assertThat(vcard.getString("type")).isEqualTo("error");
    assertThat(vcard.getString("xml")).contains("service-unavailable");
    strophe.disconnect("iq");
    strophe.awaitStatus("iq", "DISCONNECTED", Duration.ofSeconds(30));
  }

  @Test
  void aClientsMessageReachesEveryClientOfTheAddresseeFromItsFullJid() throws Exception {
    strophe.connect("from", bosh(), "alice@" + DOMAIN + "/sender", "pw-alice");
    strophe.connect("to1", bosh(), "bob@" + DOMAIN + "/one", "pw-bob");
    strophe.connect("to2", bosh(), "bob@" + DOMAIN + "/two", "pw-bob");
    for (String c : List.of("from", "to1", "to2")) {
      strophe.awaitStatus(c, "CONNECTED", Duration.ofSeconds(30));
    }
    strophe.message("from", "bob@" + DOMAIN, "hello-1", "hi bob");
    for (String c : List.of("to1", "to2")) {
      JsonObject m = strophe.awaitEvent(e -> "message".equals(e.getString("ev")) && c.equals(e.getString("c"))
          && "hello-1".equals(e.getString("id")), Duration.ofSeconds(30));
      assertThat(m.getString("body")).isEqualTo("hi bob");
      assertThat(m.getString("from")).isEqualTo("alice@" + DOMAIN + "/sender");
    }
    // to a domain the service is not: an error back, nothing published
    strophe.message("from", "carol@elsewhere.example", "lost-1", "hi carol");
    JsonObject error = strophe.awaitEvent(e -> "message".equals(e.getString("ev")) && "from".equals(e.getString("c"))
        && "lost-1".equals(e.getString("id")), Duration.ofSeconds(30));
    assertThat(error.getString("type")).isEqualTo("error");
    for (String c : List.of("from", "to1", "to2")) {
      strophe.disconnect(c);
      strophe.awaitStatus(c, "DISCONNECTED", Duration.ofSeconds(30));
    }
  }

  @Test
  void anXmlNotificationArrivesAsItsElementAndABadOneIsRefusedWithoutStoppingTheRest() throws Exception {
    strophe.connect("xml", bosh(), "bob@" + DOMAIN + "/xml", "pw-bob");
    strophe.awaitStatus("xml", "CONNECTED", Duration.ofSeconds(30));
    String bare = "bob@" + DOMAIN;
    get(backend.exchangeDeclare(bare, "fanout", true, false));
    get(backend.basicPublish(bare, "", new AMQP.BasicProperties.Builder().contentType("application/xml").messageId("xml-bad").build(),
        Buffer.buffer("<alert xmlns='urn:example:alerts'><unclosed></alert>")));
    get(backend.basicPublish(bare, "", new AMQP.BasicProperties.Builder().contentType("image/png").messageId("xml-png").build(),
        Buffer.buffer("not a picture")));
    get(backend.basicPublish(bare, "", new AMQP.BasicProperties.Builder().contentType("application/xml").messageId("xml-good")
        .appId("billing").build(), Buffer.buffer("<alert xmlns='urn:example:alerts' level='high'>disk &amp; cpu</alert>")));
    JsonObject m = strophe.awaitEvent(e -> "message".equals(e.getString("ev")) && "xml".equals(e.getString("c"))
        && "xml-good".equals(e.getString("id")), Duration.ofSeconds(30));
    assertThat(m.getJsonArray("children").getList()).containsExactly("alert");
    assertThat(m.getString("from")).isEqualTo("billing");
    assertThat(strophe.messages("xml").stream().map(e -> e.getString("id"))).doesNotContain("xml-bad", "xml-png");
    strophe.disconnect("xml");
    strophe.awaitStatus("xml", "DISCONNECTED", Duration.ofSeconds(30));
  }

  @Test
  void aBrokerThatCannotBeReachedAtLoginEndsTheSessionWithRemoteConnectionFailed() throws Exception {
    int closed = io.xbosh.testing.ExternalProcess.freePort();
    try (InProcessXbosh down = InProcessXbosh.start(Map.of("XBOSH_UPSTREAM_HOSTS", "down.example=amqp://127.0.0.1:" + closed))) {
      java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
      String created = io.xbosh.testing.BoshSession.post(http, down.endpoint(), "<body " + io.xbosh.testing.BoshSession.B + " "
          + io.xbosh.testing.BoshSession.X + " rid='2000' to='down.example' xml:lang='en' wait='5' hold='1' ver='1.11' xmpp:version='1.0'/>")
          .body();
      String sid = io.xbosh.testing.BoshSession.attr(created, "sid");
      String auth = java.util.Base64.getEncoder().encodeToString("\0bob\0pw".getBytes(java.nio.charset.StandardCharsets.UTF_8));
      String answer = io.xbosh.testing.BoshSession.post(http, down.endpoint(), "<body " + io.xbosh.testing.BoshSession.B + " sid='" + sid
          + "' rid='2001'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth></body>").body();
      assertThat(answer).contains("type=\"terminate\"").contains("condition=\"remote-connection-failed\"");
    }
  }

  /**
   * Two sessions of one user bind the same resource at once, five times over: each time exactly one
   * gets it and the other {@code conflict} (the broker's lock decides), and the loser's session can
   * go on and bind another resource.
   */
  @Test
  void twoBindsOfOneResourceAtOnceGiveItToExactlyOneSession() throws Exception {
    java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
    for (int round = 0; round < 5; round++) {
      String resource = "race" + round;
      int r = round;
      long[] a = readyToBind(http, "bob", "pw-bob");
      long[] b = readyToBind(http, "bob", "pw-bob");
      var fa = java.util.concurrent.CompletableFuture.supplyAsync(() -> bindAnswer(http, a, resource, "ba" + r));
      var fb = java.util.concurrent.CompletableFuture.supplyAsync(() -> bindAnswer(http, b, resource, "bb" + r));
      List<String> answers = List.of(fa.get(60, TimeUnit.SECONDS), fb.get(60, TimeUnit.SECONDS));
      assertThat(answers).as("round " + round).filteredOn(x -> x.contains("<jid>bob@" + DOMAIN + "/" + resource + "</jid>")).hasSize(1);
      assertThat(answers).as("round " + round).filteredOn(x -> x.contains("<conflict")).hasSize(1);
      long[] loser = answers.get(0).contains("<conflict") ? a : b;
      assertThat(bindAnswer(http, loser, resource + "-other", "bo" + round)).contains("<jid>bob@" + DOMAIN + "/" + resource + "-other</jid>");
      terminate(http, a);
      terminate(http, b);
    }
  }

  /** A session authenticated and restarted, its bind not yet sent: {first rid (the key of its sid), last rid}. */
  private static long[] readyToBind(java.net.http.HttpClient http, String user, String password) throws Exception {
    long rid = 3_000_000 + (long) (Math.random() * 1_000_000);
    String created = io.xbosh.testing.BoshSession.post(http, xbosh.endpoint(), "<body " + io.xbosh.testing.BoshSession.B + " "
        + io.xbosh.testing.BoshSession.X + " rid='" + rid + "' to='" + DOMAIN + "' xml:lang='en' wait='10' hold='1' ver='1.11'"
        + " xmpp:version='1.0'/>").body();
    String sid = io.xbosh.testing.BoshSession.attr(created, "sid");
    SIDS.put(rid, sid);
    String auth = java.util.Base64.getEncoder().encodeToString(("\0" + user + "\0" + password).getBytes(java.nio.charset.StandardCharsets.UTF_8));
    assertThat(io.xbosh.testing.BoshSession.post(http, xbosh.endpoint(), "<body " + io.xbosh.testing.BoshSession.B + " sid='" + sid
        + "' rid='" + (rid + 1) + "'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth></body>").body())
        .contains("<success");
    assertThat(io.xbosh.testing.BoshSession.post(http, xbosh.endpoint(), "<body " + io.xbosh.testing.BoshSession.B + " "
        + io.xbosh.testing.BoshSession.X + " sid='" + sid + "' rid='" + (rid + 2) + "' to='" + DOMAIN + "' xmpp:restart='true'/>").body())
        .contains("urn:ietf:params:xml:ns:xmpp-bind");
    return new long[] {rid, rid + 2};
  }

  private static final Map<Long, String> SIDS = new java.util.concurrent.ConcurrentHashMap<>();

  /** Sends a bind and polls until its answer (result or error) is there. */
  private static String bindAnswer(java.net.http.HttpClient http, long[] session, String resource, String id) {
    try {
      String sid = SIDS.get(session[0]);
      String body = io.xbosh.testing.BoshSession.post(http, xbosh.endpoint(), "<body " + io.xbosh.testing.BoshSession.B + " sid='" + sid
          + "' rid='" + (++session[1]) + "'><iq xmlns='jabber:client' type='set' id='" + id + "'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
          + "<resource>" + resource + "</resource></bind></iq></body>").body();
      for (int i = 0; i < 10 && !body.contains("id=\"" + id + "\""); i++) {
        body = io.xbosh.testing.BoshSession.post(http, xbosh.endpoint(), "<body " + io.xbosh.testing.BoshSession.B + " sid='" + sid
            + "' rid='" + (++session[1]) + "'/>").body();
      }
      return body;
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private static void terminate(java.net.http.HttpClient http, long[] session) throws Exception {
    io.xbosh.testing.BoshSession.post(http, xbosh.endpoint(), "<body " + io.xbosh.testing.BoshSession.B + " sid='" + SIDS.remove(session[0])
        + "' rid='" + (++session[1]) + "' type='terminate'/>");
  }
}
