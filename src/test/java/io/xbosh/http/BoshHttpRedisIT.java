package io.xbosh.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.xbosh.protocol.BodyWriter;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.RedisProcess;
import java.net.http.HttpResponse;
import java.util.ArrayList;
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
      await(client.send(Request.cmd(Command.CONFIG).arg("SET").arg("maxmemory-policy").arg("noeviction")));
      await(client.send(Request.cmd(Command.CONFIG).arg("SET").arg("maxmemory").arg("1")));
      String message = "<message xmlns='jabber:client' to='alice@localhost/oom' id='oom1'><body>during</body></message>";
      String request = alice.nextBody(message);
      HttpResponse<String> refused;
      HttpResponse<String> creation;
      try {
        refused = post(request);
        creation = post("<body " + B + " " + X + " rid='77' to='localhost' xml:lang='en' wait='5' hold='1' ver='1.11'"
            + " xmpp:version='1.0'/>");
      } finally {
        await(client.send(Request.cmd(Command.CONFIG).arg("SET").arg("maxmemory").arg("0")));
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

  private static <T> T await(io.vertx.core.Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(10, java.util.concurrent.TimeUnit.SECONDS);
  }

  @Test
  void metricsTimeEveryStoreScript() throws Exception {
    login("bob", "bobpw", "redis-metrics");
    String m = scrape();
    assertThat(sample(m, "xbosh_redis_command_seconds_count", "script=\"accept\"", "outcome=\"ok\"")).isPositive();
    assertThat(sample(m, "xbosh_redis_command_seconds_count", "script=\"create\"", "outcome=\"ok\"")).isPositive();
  }
}
