package io.xbosh.amqp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.rabbitmq.client.AMQP;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.rabbitmq.RabbitMQClient;
import io.vertx.rabbitmq.RabbitMQOptions;
import io.xbosh.testing.HaproxyProcess;
import io.xbosh.testing.RabbitMq;
import io.xbosh.testing.RedisProcess;
import io.xbosh.testing.StropheClients;
import io.xbosh.testing.XboshProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The AMQP upstream on two pods (xbosh.jar processes on one Redis) behind the sample HAProxy
 * configuration, round robin per request: any pod answers any request of an AMQP session, whose
 * broker connection lives on its owner. Then kill -9 of the owner with deliveries in flight: the
 * client's next session, on the survivor, consumes the same durable queue and gets what was not
 * acked; nothing is lost.
 */
class AmqpClusterIT {

  static final String DOMAIN = "notify.example";
  static final int N = 400;

  @Test
  void twoPodsRoundRobinThenKillingTheOwnerLosesNoNotification() throws Exception {
    Vertx vertx = Vertx.vertx();
    HttpClient http = HttpClient.newHttpClient();
    try (RabbitMq broker = RabbitMq.withUsers("carol", "pw-carol", "backend", "pw-backend");
        RedisProcess redis = RedisProcess.start()) {
      Map<String, String> env = new HashMap<>();
      env.put("XBOSH_REDIS_URL", redis.url());
      env.put("XBOSH_UPSTREAM_HOSTS", DOMAIN + "=" + broker.uri());
      env.put("XBOSH_HEARTBEAT_MS", "500");
      env.put("XBOSH_POD_DEAD_MS", "2000");
      env.put("XBOSH_SWEEP_MS", "500");
      env.put("XBOSH_AMQP_PREFETCH", "20");
      try (XboshProcess a = XboshProcess.start("amqp-a", env);
          XboshProcess b = XboshProcess.start("amqp-b", env);
          HaproxyProcess lb = HaproxyProcess.startFor(List.of(a, b));
          StropheClients strophe = StropheClients.start()) {
        await().atMost(Duration.ofSeconds(20)).until(() -> status(http, "http://127.0.0.1:" + lb.port() + "/ready") == 200);
        String bosh = lb.endpoint().toString();
        RabbitMQClient backend = RabbitMQClient.create(vertx, new RabbitMQOptions().setHost("127.0.0.1").setPort(RabbitMq.SYSTEM_PORT)
            .setVirtualHost(broker.vhost()).setUser("backend").setPassword("pw-backend"));
        get(backend.start());

        // round robin: both pods answer the session's requests
        double before = requests(http, a) + requests(http, b);
        double beforeA = requests(http, a);
        strophe.connect("rr", bosh, "carol@" + DOMAIN + "/rr", "pw-carol");
        strophe.awaitStatus("rr", "CONNECTED", Duration.ofSeconds(30));
        publish(vertx, backend, "rr-", 100);
        await().atMost(Duration.ofSeconds(60)).until(() -> ids(strophe, "rr", "rr-").size() >= 100);
        assertThat(ids(strophe, "rr", "rr-")).containsExactlyElementsOf(numbered("rr-", 100));
        double servedA = requests(http, a) - beforeA;
        double servedB = requests(http, b) + requests(http, a) - before - servedA;
        System.out.printf("round robin: pod a answered %.0f requests, pod b %.0f%n", servedA, servedB);
        assertThat(servedA).isGreaterThanOrEqualTo(2);
        assertThat(servedB).isGreaterThanOrEqualTo(2);
        strophe.disconnect("rr");
        strophe.awaitStatus("rr", "DISCONNECTED", Duration.ofSeconds(30));

        // kill -9 of the owner while notifications flow
        strophe.connect("k1", bosh, "carol@" + DOMAIN + "/k9", "pw-carol");
        strophe.awaitStatus("k1", "CONNECTED", Duration.ofSeconds(30));
        XboshProcess owner = a.output().contains("bound carol@" + DOMAIN + "/k9") ? a : b;
        XboshProcess survivor = owner == a ? b : a;
        publish(vertx, backend, "k-", N);
        await().atMost(Duration.ofSeconds(60)).until(() -> ids(strophe, "k1", "k-").size() >= 50);
        owner.kill();
        long killedAt = System.nanoTime();
        JsonObject ended = strophe.awaitEvent(e -> "status".equals(e.getString("ev")) && "k1".equals(e.getString("c"))
            && ("CONNFAIL".equals(e.getString("status")) || "DISCONNECTED".equals(e.getString("status"))), Duration.ofSeconds(60));
        System.out.printf("owner killed after %d notifications; the client was told %s after %d ms%n",
            ids(strophe, "k1", "k-").size(), ended.getString("condition"), (System.nanoTime() - killedAt) / 1_000_000);
        await().atMost(Duration.ofSeconds(20)).until(() -> status(http, "http://127.0.0.1:" + lb.port() + "/ready") == 200);
        strophe.connect("k2", bosh, "carol@" + DOMAIN + "/k9", "pw-carol");
        strophe.awaitStatus("k2", "CONNECTED", Duration.ofSeconds(60));
        assertThat(survivor.output()).contains("bound carol@" + DOMAIN + "/k9");

        List<String> first = ids(strophe, "k1", "k-");
        // what the dead pod's session had in the store went to the client in its final terminate body
        List<String> inTerminate = strophe.find(e -> "terminate".equals(e.getString("ev")) && "k1".equals(e.getString("c"))).stream()
            .flatMap(e -> e.getJsonArray("ids").stream().map(Object::toString)).filter(id -> id.startsWith("k-")).toList();
        await().atMost(Duration.ofSeconds(90)).until(() -> {
          Set<String> all = new LinkedHashSet<>(first);
          all.addAll(inTerminate);
          all.addAll(ids(strophe, "k2", "k-"));
          return all.size() >= N;
        });
        List<String> second = ids(strophe, "k2", "k-");
        Set<String> got = new LinkedHashSet<>(first);
        got.addAll(inTerminate);
        got.addAll(second);
        assertThat(got).containsExactlyInAnyOrderElementsOf(numbered("k-", N));
        // each session in order; the second starts where the acks stopped (redeliveries first)
        assertThat(first).isSortedAccordingTo(java.util.Comparator.comparingInt(AmqpClusterIT::number));
        Set<String> overlap = new LinkedHashSet<>(first);
        overlap.retainAll(second);
        System.out.printf("kill -9: first session %d, its terminate body %d (Strophe does not read those), second session %d, "
            + "received twice %d, lost 0%n", first.size(), inTerminate.size(), second.size(), overlap.size());
        strophe.disconnect("k2");
        strophe.awaitStatus("k2", "DISCONNECTED", Duration.ofSeconds(30));
        get(backend.stop());
      }
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
  }

  static int number(String id) {
    return Integer.parseInt(id.substring(id.indexOf('-') + 1));
  }

  static <T> T get(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  static int status(HttpClient http, String uri) {
    try {
      return http.send(HttpRequest.newBuilder(URI.create(uri)).GET().build(), HttpResponse.BodyHandlers.ofString()).statusCode();
    } catch (Exception e) {
      return -1;
    }
  }

  private static final Pattern REQUESTS = Pattern.compile("(?m)^xbosh_http_requests_total\\{[^}]*} ([0-9.eE+]+)$");

  /** HTTP requests on the BOSH path a pod has answered, from its /metrics. */
  static double requests(HttpClient http, XboshProcess pod) throws Exception {
    String metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + pod.port() + "/metrics")).GET().build(),
        HttpResponse.BodyHandlers.ofString()).body();
    double sum = 0;
    Matcher m = REQUESTS.matcher(metrics);
    while (m.find()) {
      sum += Double.parseDouble(m.group(1));
    }
    return sum;
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

  static void publish(Vertx vertx, RabbitMQClient backend, String prefix, int n) throws Exception {
    get(backend.exchangeDeclare("carol@" + DOMAIN, "fanout", true, false));
    Promise<Void> done = Promise.promise();
    vertx.getOrCreateContext().runOnContext(v -> {
      List<Future<Void>> sent = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        sent.add(backend.basicPublish("carol@" + DOMAIN, "", new AMQP.BasicProperties.Builder().contentType("text/plain")
            .messageId(prefix + i).deliveryMode(2).build(), Buffer.buffer("n " + i)));
      }
      Future.all(sent).<Void>mapEmpty().onComplete(done);
    });
    get(done.future());
  }
}
