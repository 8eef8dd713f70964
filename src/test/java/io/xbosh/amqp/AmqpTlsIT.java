package io.xbosh.amqp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.vertx.core.Vertx;
import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.RabbitMqProcess;
import io.xbosh.testing.StropheClients;
import io.xbosh.testing.TestAuthority;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * {@code amqps://} against a throwaway rabbitmq-server with a TLS listener whose certificate, made
 * by a test authority, names {@code localhost} only: Strophe.js logs in and gets a notification
 * over TLS; the same broker reached as {@code 127.0.0.1} (a name its certificate lacks) and a
 * broker trusted through another authority are refused in the handshake, before any credential
 * is sent, and the session ends with {@code remote-connection-failed}.
 */
class AmqpTlsIT {

  static final String DOMAIN = "notify.example";
  static TestAuthority ca;
  static TestAuthority otherCa;
  static RabbitMqProcess broker;
  static StropheClients strophe;
  static Vertx vertx;

  @BeforeAll
  static void start() throws Exception {
    ca = TestAuthority.create("xbosh amqp test CA");
    otherCa = TestAuthority.create("some other CA");
    broker = RabbitMqProcess.startTls("bob", "pw-bob", ca.issue("localhost", "DNS:localhost"), ca.cert(), false);
    strophe = StropheClients.start();
    vertx = Vertx.vertx();
  }

  @AfterAll
  static void stop() throws Exception {
    if (vertx != null) {
      vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
    if (strophe != null) {
      strophe.close();
    }
    if (broker != null) {
      broker.close();
    }
    if (otherCa != null) {
      otherCa.close();
    }
    if (ca != null) {
      ca.close();
    }
  }

  static InProcessXbosh xbosh(String host, TestAuthority trusted) throws Exception {
    return InProcessXbosh.start(Map.of("XBOSH_UPSTREAM_HOSTS", DOMAIN + "=amqps://" + host + ":" + broker.tlsPort() + "/",
        "XBOSH_AMQP_TRUST", trusted.cert().toString()));
  }

  @Test
  void aClientLogsInAndGetsANotificationOverTls() throws Exception {
    try (InProcessXbosh xbosh = xbosh("localhost", ca)) {
      strophe.connect("tls", xbosh.endpoint().toString(), "bob@" + DOMAIN + "/tls", "pw-bob");
      strophe.awaitStatus("tls", "CONNECTED", Duration.ofSeconds(30));
      // bob's connection is a TLS one, to the TLS listener
      assertThat(broker.ctl("list_connections", "user", "port", "ssl")).contains("bob\t" + broker.tlsPort() + "\ttrue");
      AmqpBrokerRestartIT.publish(vertx, broker, "tls-", 3);
      await().atMost(Duration.ofSeconds(30)).until(() -> AmqpBrokerRestartIT.ids(strophe, "tls", "tls-").size() == 3);
      assertThat(AmqpBrokerRestartIT.ids(strophe, "tls", "tls-")).containsExactly("tls-0", "tls-1", "tls-2");
      strophe.disconnect("tls");
      strophe.awaitStatus("tls", "DISCONNECTED", Duration.ofSeconds(30));
    }
  }

  @Test
  void aCertificateForAnotherHostNameIsRefused() throws Exception {
    refused("wrongname", "127.0.0.1", ca, "does not name 127.0.0.1");
  }

  @Test
  void aCertificateOfAnUntrustedAuthorityIsRefused() throws Exception {
    refused("untrusted", "localhost", otherCa, "PKIX path");
  }

  @Test
  void aBrokerAskingForAClientCertificateGetsXboshsAndRefusesAConnectionWithout() throws Exception {
    TestAuthority.Issued client = ca.issue("xbosh pod");
    try (RabbitMqProcess strict = RabbitMqProcess.startTls("bob", "pw-bob", ca.issue("localhost", "DNS:localhost"), ca.cert(), true)) {
      String hosts = DOMAIN + "=amqps://localhost:" + strict.tlsPort() + "/";
      try (InProcessXbosh xbosh = InProcessXbosh.start(Map.of("XBOSH_UPSTREAM_HOSTS", hosts, "XBOSH_AMQP_TRUST", ca.cert().toString(),
          "XBOSH_AMQP_CERT", client.cert().toString(), "XBOSH_AMQP_KEY", client.key().toString()))) {
        strophe.connect("withcert", xbosh.endpoint().toString(), "bob@" + DOMAIN + "/withcert", "pw-bob");
        strophe.awaitStatus("withcert", "CONNECTED", Duration.ofSeconds(30));
        assertThat(strict.ctl("list_connections", "user", "peer_cert_subject")).contains("bob").contains("xbosh pod");
        strophe.disconnect("withcert");
        strophe.awaitStatus("withcert", "DISCONNECTED", Duration.ofSeconds(30));
      }
      try (InProcessXbosh xbosh = InProcessXbosh.start(Map.of("XBOSH_UPSTREAM_HOSTS", hosts, "XBOSH_AMQP_TRUST", ca.cert().toString()))) {
        strophe.connect("nocert", xbosh.endpoint().toString(), "bob@" + DOMAIN + "/nocert", "pw-bob");
        strophe.awaitEvent(e -> "status".equals(e.getString("ev")) && "nocert".equals(e.getString("c"))
            && "remote-connection-failed".equals(e.getString("condition")), Duration.ofSeconds(60));
        assertThat(strophe.statuses("nocert")).doesNotContain("CONNECTED");
      }
    }
  }

  private static void refused(String c, String host, TestAuthority trusted, String why) throws Exception {
    Logger log = (Logger) LoggerFactory.getLogger(AmqpLink.class);
    ListAppender<ILoggingEvent> captured = new ListAppender<>();
    captured.start();
    log.addAppender(captured);
    try (InProcessXbosh xbosh = xbosh(host, trusted)) {
      strophe.connect(c, xbosh.endpoint().toString(), "bob@" + DOMAIN + "/" + c, "pw-bob");
      strophe.awaitEvent(e -> "status".equals(e.getString("ev")) && c.equals(e.getString("c"))
          && "remote-connection-failed".equals(e.getString("condition")), Duration.ofSeconds(60));
      assertThat(strophe.statuses(c)).doesNotContain("CONNECTED");
      await().atMost(Duration.ofSeconds(10)).until(() -> messages(captured).stream().anyMatch(m -> m.contains(why)));
    } finally {
      log.detachAppender(captured);
    }
  }

  private static List<String> messages(ListAppender<ILoggingEvent> a) {
    synchronized (a) {
      return a.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
    }
  }
}
