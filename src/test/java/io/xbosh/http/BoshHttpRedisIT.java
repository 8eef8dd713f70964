package io.xbosh.http;

import io.xbosh.testing.RedisProcess;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

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
}
