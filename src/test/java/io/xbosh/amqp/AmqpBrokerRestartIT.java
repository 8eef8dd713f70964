package io.xbosh.amqp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.rabbitmq.client.AMQP;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.rabbitmq.RabbitMQClient;
import io.vertx.rabbitmq.RabbitMQOptions;
import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.RabbitMqProcess;
import io.xbosh.testing.StropheClients;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A broker restart, on a throwaway rabbitmq-server of this test's own (never the system one): a
 * session with a durable queue reconnects and its client sees at most a delay, losing nothing; a
 * session with an auto-delete queue ends cleanly with {@code remote-connection-failed}.
 */
class AmqpBrokerRestartIT {

  static final String DOMAIN = "notify.example";

  @Test
  void aBrokerRestartIsSurvivedBySessionsWithDurableQueuesAndEndsTheOthersCleanly() throws Exception {
    Vertx vertx = Vertx.vertx();
    try (RabbitMqProcess broker = RabbitMqProcess.start("bob", "pw-bob");
        InProcessXbosh xbosh = InProcessXbosh.start(Map.of("XBOSH_UPSTREAM_HOSTS", DOMAIN + "=" + broker.uri(),
            "XBOSH_AMQP_RECONNECT_SECONDS", "180", "XBOSH_INACTIVITY", "300"));
        StropheClients strophe = StropheClients.start()) {
      String bosh = xbosh.endpoint().toString();
      strophe.connect("kept", bosh, "bob@" + DOMAIN + "/kept", "pw-bob");
      strophe.connect("gone", bosh, "bob@" + DOMAIN, "pw-bob");
      strophe.awaitStatus("kept", "CONNECTED", Duration.ofSeconds(30));
      strophe.awaitStatus("gone", "CONNECTED", Duration.ofSeconds(30));
      publish(vertx, broker, "before-", 20);
      try {
        await().atMost(Duration.ofSeconds(30)).until(() -> ids(strophe, "kept", "before-").size() == 20);
      } catch (RuntimeException e) {
        throw new AssertionError(broker.ctl("list_queues", "name", "messages", "consumers") + broker.ctl("list_bindings")
            + strophe.messages("kept"), e);
      }

      broker.stop();
      // the session without a durable queue is told, cleanly
      strophe.awaitEvent(e -> "status".equals(e.getString("ev")) && "gone".equals(e.getString("c"))
          && "remote-connection-failed".equals(e.getString("condition")), Duration.ofSeconds(60));
      broker.start();
      publish(vertx, broker, "after-", 20);
      await().atMost(Duration.ofSeconds(90)).until(() -> ids(strophe, "kept", "after-").size() >= 20);

      assertThat(ids(strophe, "kept", "after-")).containsExactlyElementsOf(numbered("after-", 20));
      assertThat(ids(strophe, "kept", "before-")).containsExactlyElementsOf(numbered("before-", 20));
      // the client saw a delay, nothing else
      assertThat(strophe.statuses("kept")).endsWith("CONNECTED").doesNotContain("CONNFAIL", "DISCONNECTING", "DISCONNECTED");
      strophe.disconnect("kept");
      strophe.awaitStatus("kept", "DISCONNECTED", Duration.ofSeconds(30));
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
  }

  static List<String> ids(StropheClients strophe, String c, String prefix) {
    return strophe.messages(c).stream().map(m -> m.getString("id")).filter(id -> id != null && id.startsWith(prefix)).toList();
  }

  static List<String> numbered(String prefix, int n) {
    List<String> l = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      l.add(prefix + i);
    }
    return l;
  }

  /** Publishes from a client of its own, closed afterwards (a broker restart would end it). */
  static void publish(Vertx vertx, RabbitMqProcess broker, String prefix, int n) throws Exception {
    RabbitMQClient c = RabbitMQClient.create(vertx, new RabbitMQOptions().setHost("127.0.0.1").setPort(broker.port())
        .setUser(broker.user()).setPassword(broker.password()));
    Promise<Void> done = Promise.promise();
    vertx.getOrCreateContext().runOnContext(v -> c.start()
        .compose(x -> c.exchangeDeclare("bob@" + DOMAIN, "fanout", true, false))
        .compose(x -> {
          List<Future<Void>> sent = new ArrayList<>();
          for (int i = 0; i < n; i++) {
            sent.add(c.basicPublish("bob@" + DOMAIN, "", new AMQP.BasicProperties.Builder().contentType("text/plain")
                .messageId(prefix + i).deliveryMode(2).build(), Buffer.buffer("n " + i)));
          }
          return Future.all(sent);
        })
        .<Void>mapEmpty()
        .eventually(() -> c.stop())
        .onComplete(done));
    done.future().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
  }
}
