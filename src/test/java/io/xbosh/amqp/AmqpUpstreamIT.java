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
}
