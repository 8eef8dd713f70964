package io.xbosh.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.xbosh.protocol.BodyWriter;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.RedisProcess;
import java.net.http.HttpResponse;
import io.xbosh.session.RedisSessionStore;
import io.xbosh.session.SessionStore;
import java.util.ArrayList;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The HTTP suite on a real redis-server. */
class BoshHttpRedisIT extends BoshHttpContract {

  private static RedisProcess redis;

  @BeforeAll
  static void start() throws Exception {
    redis = RedisProcess.start();
    startAll(Map.of("XBOSH_REDIS_URL", redis.url()));
  }

  @AfterAll
  static void stopRedis() throws Exception {
    stopAll();
    if (redis != null) {
      redis.close();
    }
  }

  /**
   * Redis over maxmemory (noeviction): requests and creations get a retriable 503, nothing is half
   * written, and the session carries on once memory is back; the payload of the refused request
   * goes through on its resend.
   */
  @Test
  void outOfMemoryIsRetriableAndTheSessionSurvivesIt() throws Exception {
    BoshSession alice = login("alice", "alicepw", "oom");
    Redis client = Redis.createClient(vertx, redis.url());
    try {
      sync(client.send(Request.cmd(Command.CONFIG).arg("SET").arg("maxmemory-policy").arg("noeviction")));
      sync(client.send(Request.cmd(Command.CONFIG).arg("SET").arg("maxmemory").arg("1")));
      String message = "<message xmlns='jabber:client' to='alice@localhost/oom' id='oom1'><body>during</body></message>";
      String request = alice.nextBody(message);
      HttpResponse<String> refused;
      HttpResponse<String> creation;
      try {
        refused = post(request);
        creation = post("<body " + B + " " + X + " rid='77' to='localhost' xml:lang='en' wait='5' hold='1' ver='1.11'"
            + " xmpp:version='1.0'/>");
      } finally {
        sync(client.send(Request.cmd(Command.CONFIG).arg("SET").arg("maxmemory").arg("0")));
      }
      assertThat(refused.statusCode()).isEqualTo(503);
      assertThat(refused.body()).isEqualTo(BodyWriter.recoverableError());
      assertThat(creation.statusCode()).isEqualTo(503);
      assertThat(creation.body()).isEqualTo(BodyWriter.recoverableError());
      // the client resends the same rid: processed now, and the session goes on
      HttpResponse<String> resent = post(request);
      assertThat(resent.statusCode()).isEqualTo(200);
      List<String> seen = new ArrayList<>(List.of(resent.body()));
      assertThat(alice.awaitBody(b -> b.contains("id=\"oom1\""), seen)).contains("<body>during</body>");
      assertThat(alice.send("").statusCode()).isEqualTo(200);
    } finally {
      client.close();
    }
  }

  private static <T> T sync(io.vertx.core.Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(10, java.util.concurrent.TimeUnit.SECONDS);
  }

  /**
   * An answer decided while the pod's channel was down never reaches the pod (simulated by deciding
   * it with the pod's own id, so nothing is published): after the channel is re-subscribed the
   * pod fetches what its held requests are owed.
   */
  @Test
  void answerMissedWhileTheChannelWasDownIsDeliveredAfterResubscribe() throws Exception {
    BoshSession alice = BoshSession.login(http, List.of(uri()), "localhost", "alice", "alicepw", "missed", 30);
    Redis client = Redis.createClient(vertx, redis.url());
    try {
      CompletableFuture<HttpResponse<String>> held = alice.sendAsync("");
      String rid = Long.toString(alice.rid);
      await().until(() -> String.valueOf(sync(client.send(Request.cmd(Command.HGET).arg("xb:{" + alice.sid + "}").arg("held"))))
          .startsWith(rid + "="));
      RedisSessionStore same = new RedisSessionStore(client, false, "test-pod", 100, 60);
      SessionStore.Delivery d = sync(same.deliver(alice.sid, List.of("<message xmlns=\"jabber:client\" id=\"missed1\"><body>x</body></message>")));
      assertThat(d.answers()).hasSize(1); // decided, and dropped here: the pod never hears of it
      assertThat(held).isNotDone();
      xbosh.pod().resubscribed();
      assertThat(held.get(10, TimeUnit.SECONDS).body()).contains("id=\"missed1\"");
    } finally {
      client.close();
    }
  }

  /**
   * As above, but the store cannot answer when the channel comes back (a restarted Redis takes
   * SUBSCRIBE while it is still loading its data, and refuses scripts with LOADING until it is done;
   * here the session's keys are refused by an ACL, as real a refusal): the pod asks again until the
   * store answers, and the held request gets its answer long before its wait runs out. Given up on
   * after the first failure, the answer waited for the end of the wait, by when a chatting client's
   * further requests had pushed it out of the response cache, and the pod's close and the client's
   * resend ended the session with item-not-found (the Redis restart and Cluster failover scenarios).
   */
  @Test
  void anAnswerTheStoreCouldNotGiveWhenTheChannelCameBackIsAskedForAgain() throws Exception {
    BoshSession alice = BoshSession.login(http, List.of(uri()), "localhost", "alice", "alicepw", "loading", 30);
    Redis client = Redis.createClient(vertx, redis.url());
    String key = "xb:{" + alice.sid + "}";
    try {
      CompletableFuture<HttpResponse<String>> held = alice.sendAsync("");
      String rid = Long.toString(alice.rid);
      await().until(() -> String.valueOf(sync(client.send(Request.cmd(Command.HGET).arg(key).arg("held")))).startsWith(rid + "="));
      RedisSessionStore same = new RedisSessionStore(client, false, "test-pod", 100, 60);
      SessionStore.Delivery d = sync(same.deliver(alice.sid, List.of("<message xmlns=\"jabber:client\" id=\"loading1\"><body>x</body></message>")));
      assertThat(d.answers()).hasSize(1); // decided, and dropped here: the pod never hears of it
      // every key but the sessions' (xb:{sid}...) stays allowed: the pods' liveness goes on
      sync(client.send(Request.cmd(Command.ACL).arg("LOG").arg("RESET")));
      sync(client.send(Request.cmd(Command.ACL).arg("SETUSER").arg("default").arg("resetkeys")
          .arg("~[^x]*").arg("~x[^b]*").arg("~xb[^:]*").arg("~xb:[^{]*")));
      try {
        xbosh.pod().resubscribed();
        // the pod's question about the held request was refused
        await().atMost(java.time.Duration.ofSeconds(10))
            .until(() -> String.valueOf(sync(client.send(Request.cmd(Command.ACL).arg("LOG")))).contains(key));
      } finally {
        sync(client.send(Request.cmd(Command.ACL).arg("SETUSER").arg("default").arg("resetkeys").arg("~*")));
      }
      assertThat(held).isNotDone();
      // well before the 30 s wait runs out
      assertThat(held.get(10, TimeUnit.SECONDS).body()).contains("id=\"loading1\"");
    } finally {
      client.close();
    }
  }

  /**
   * A rolling restart (two pods on one Redis): rid N+1 (carrying a message) reaches a pod that starts draining before rid
   * N has arrived anywhere. The draining pod answers it only after N is answered (XEP-0124 §14),
   * and the session goes on: N+2 is no item-not-found and the message arrives.
   */
  @Test
  void b04_aDrainingPodAnswersInRidOrderAndTheSessionGoesOn() throws Exception {
    BoshSession alice = BoshSession.login(http, List.of(uri()), "localhost", "alice", "alicepw", "drain-order", 30);
    Redis client = Redis.createClient(vertx, redis.url());
    try (ExtraPod draining = ExtraPod.start("drainer")) {
      long n = alice.rid + 1;
      List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
      CompletableFuture<Long> second = BoshSession.postAsync(http, draining.endpoint(), "<body " + B + " sid='" + alice.sid
          + "' rid='" + (n + 1) + "'><message xmlns='jabber:client' to='alice@localhost/drain-order' id='order1'><body>x</body></message></body>")
          .thenApply(r -> {
            seen.add(r.statusCode() + " " + r.body());
            return System.nanoTime();
          });
      await().until(() -> sync(client.send(Request.cmd(Command.HEXISTS).arg("xb:{" + alice.sid + "}").arg("a:" + (n + 1)))).toInteger() == 1);
      // the liveness records on Redis tell the draining pod that the suite's pod is there to move to
      await().until(() -> draining.pod().otherLivePods() == 1);
      draining.pod().drain(20_000);
      await().until(() -> draining.pod().draining());
      assertThat(draining.pod().answersAtOnce()).isTrue();
      assertThat(second).isNotDone();
      HttpResponse<String> first = post("<body " + B + " sid='" + alice.sid + "' rid='" + n + "'/>");
      long firstAt = System.nanoTime();
      assertThat(first.statusCode()).isEqualTo(200);
      assertThat(second.get(10, TimeUnit.SECONDS)).isGreaterThan(firstAt);
      assertThat(seen.get(0)).startsWith("200 ").doesNotContain("type=\"terminate\"");
      alice.rid = n + 1;
      assertThat(alice.awaitBody(b -> b.contains("id=\"order1\""), seen)).doesNotContain("type=\"terminate\"");
      assertThat(seen).noneMatch(b -> b.contains("item-not-found"));
    } finally {
      client.close();
    }
  }

  @Test
  void metricsTimeEveryStoreScript() throws Exception {
    login("bob", "bobpw", "redis-metrics");
    String m = scrape();
    assertThat(sample(m, "xbosh_redis_command_seconds_count", "script=\"accept\"", "outcome=\"ok\"")).isPositive();
    assertThat(sample(m, "xbosh_redis_command_seconds_count", "script=\"create\"", "outcome=\"ok\"")).isPositive();
  }
}
