package io.xbosh.session;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.xbosh.testing.RedisProcess;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The store contract against a real redis-server started on a free port. */
class RedisSessionStoreIT extends SessionStoreContract {

  private static RedisProcess redisServer;
  private static Vertx vertx;
  private static Redis redis;
  private static RedisSessionStore store;

  @BeforeAll
  static void startRedis() throws Exception {
    redisServer = RedisProcess.start();
    vertx = Vertx.vertx();
    redis = Redis.createClient(vertx, redisServer.url());
    store = new RedisSessionStore(redis, false, 50, 60);
  }

  @AfterAll
  static void stopRedis() throws Exception {
    if (redis != null) {
      get(redis.close());
    }
    if (vertx != null) {
      get(vertx.close());
    }
    if (redisServer != null) {
      redisServer.close();
    }
  }

  @Override
  SessionStore store() {
    return store;
  }

  @Test
  void scriptsReloadAfterScriptFlush() throws Exception {
    String sid = newSession(1, false);
    get(redis.send(Request.cmd(Command.SCRIPT).arg("FLUSH")));
    assertThat(get(store.accept(sid, 101, "p#1", "", "")).outcome()).isEqualTo(Accepted.Outcome.PROCESSED);
  }

  @Test
  void allKeysOfASessionShareOneSlotAndExpire() throws Exception {
    String sid = newSession(1, false);
    get(store.deliver(sid, List.of(MSG)));
    // Redis Cluster hashes only the text between the first '{' and the next '}'
    assertThat(hashTag(RedisSessionStore.sessionKey(sid))).isEqualTo(sid);
    assertThat(hashTag(RedisSessionStore.outKey(sid))).isEqualTo(sid);
    assertThat(get(redis.send(Request.cmd(Command.PTTL).arg(RedisSessionStore.sessionKey(sid)))).toLong()).isPositive();
    assertThat(get(redis.send(Request.cmd(Command.PTTL).arg(RedisSessionStore.outKey(sid)))).toLong()).isPositive();
  }

  private static String hashTag(String key) {
    int open = key.indexOf('{');
    int close = key.indexOf('}', open + 1);
    return key.substring(open + 1, close);
  }

  @Test
  void oneRoundTripPerOperation() throws Exception {
    String sid = newSession(1, false);
    get(store.accept(sid, 101, "p#1", "", "")); // warm the script cache
    get(redis.send(Request.cmd(Command.CONFIG).arg("RESETSTAT")));
    get(store.accept(sid, 102, "p#2", "", "<presence/>"));
    get(store.deliver(sid, List.of(MSG, MSG2)));
    String stats = get(redis.send(Request.cmd(Command.INFO).arg("commandstats"))).toString();
    assertThat(stats).contains("cmdstat_evalsha:calls=2,");
  }
}
