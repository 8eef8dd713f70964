package io.xbosh.session;

import io.vertx.core.Future;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * A clock a test moves by hand, for the in-process store ({@link #millis()} as its clock) and for
 * the scripts on a real redis-server ({@link #scriptEdits()}): the scripts read the clock from a
 * hash instead of {@code TIME}, every {@code PEXPIRE} also notes the key's expiry on that clock in
 * another hash, and {@code PTTL} reads it from there; {@link #advance} deletes the keys whose noted
 * expiry has passed, as Redis would on its own. Real TTLs are a backstop only, an hour longer.
 *
 * <p>Redis under libfaketime would have been the more faithful clock, but Debian's redis-server
 * (jemalloc) hangs at start-up under it ("Unexpected recursive calls to clock_gettime()").
 */
final class TestClock {

  static final String CLOCK_KEY = "xb-test-clock";
  static final String TTL_KEY = "xb-test-ttl";
  /** Real TTLs are a backstop only, so long that they never run out during a run. */
  static final long REAL_TTL_EXTRA_MS = 3_600_000;

  /** The text replacements that put the scripts on the test's clock. */
  static Map<String, String> scriptEdits() {
    Map<String, String> m = new java.util.LinkedHashMap<>();
    m.put("redis.call('TIME')", "redis.call('HMGET', '" + CLOCK_KEY + "', 's', 'us')");
    m.put("redis.call('PEXPIRE', ", "test_pexpire(");
    m.put("redis.call('PTTL', S)", "test_pttl(S)");
    m.put("local function render(", String.join("\n",
        "local function test_pexpire(key, ms)",
        "  local set = redis.call(\"PEXPIRE\", key, ms + " + REAL_TTL_EXTRA_MS + ")",
        "  if set == 1 then redis.call('HSET', '" + TTL_KEY + "', key, fmt(now() + ms)) end",
        "  return set",
        "end",
        "local function test_pttl(key)",
        "  if redis.call('EXISTS', key) == 0 then return -2 end",
        "  local at = redis.call('HGET', '" + TTL_KEY + "', key)",
        "  if not at then return -1 end",
        "  return tonumber(at) - now()",
        "end",
        "local function render("));
    return m;
  }

  /** Where in which script each edit applies: a script that no longer has it would run on Redis' own clock. */
  static final String[][] ANCHORS = {{"prelude.lua", "redis.call('TIME')"}, {"prelude.lua", "local function render("},
      {"prelude.lua", "redis.call('PEXPIRE', "}, {"deliver.lua", "redis.call('PTTL', S)"}};

  private final Redis redis;
  private volatile long now;

  /** For the in-process store alone. */
  TestClock(long start) {
    this.redis = null;
    this.now = start;
  }

  /** @param redis the server whose scripts run edited ({@link #scriptEdits()}) */
  TestClock(Redis redis, long start) throws Exception {
    this.redis = redis;
    this.now = start;
    writeRedisClock();
  }

  long millis() {
    return now;
  }

  /** The clock moves on; on Redis, every key whose noted expiry has passed goes. */
  void advance(long ms) throws Exception {
    now += ms;
    writeRedisClock();
    if (redis == null) {
      return;
    }
    List<String> noted = new ArrayList<>();
    for (Response r : get(redis.send(Request.cmd(Command.HKEYS).arg(TTL_KEY)))) {
      noted.add(r.toString());
    }
    for (String key : noted) {
      long at = expiry(key);
      if (at >= 0 && at <= now) {
        get(redis.send(Request.cmd(Command.DEL).arg(key)));
        get(redis.send(Request.cmd(Command.HDEL).arg(TTL_KEY).arg(key)));
      }
    }
  }

  /** When the key expires on this clock; -2 when there is no such key, -1 when it has no expiry noted. */
  long expiry(String key) throws Exception {
    if (get(redis.send(Request.cmd(Command.EXISTS).arg(key))).toInteger() == 0) {
      get(redis.send(Request.cmd(Command.HDEL).arg(TTL_KEY).arg(key)));
      return -2;
    }
    Response at = get(redis.send(Request.cmd(Command.HGET).arg(TTL_KEY).arg(key)));
    return at == null ? -1 : at.toLong();
  }

  private void writeRedisClock() throws Exception {
    if (redis != null) {
      get(redis.send(Request.cmd(Command.HSET).arg(CLOCK_KEY).arg("s").arg(Long.toString(now / 1000)).arg("us")
          .arg(Long.toString(now % 1000 * 1000))));
    }
  }

  private static <T> T get(Future<T> f) throws Exception {
    try {
      return f.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      throw e.getCause() instanceof Exception ex ? ex : new IllegalStateException(e.getCause());
    }
  }
}
