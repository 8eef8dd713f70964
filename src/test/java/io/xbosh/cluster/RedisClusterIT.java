package io.xbosh.cluster;

import io.xbosh.testing.RedisClusterProcess;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** The same conversations with the pods' state in a three-master Redis Cluster. */
class RedisClusterIT extends ClusterContract {

  private static RedisClusterProcess redis;

  @BeforeAll
  static void start() throws Exception {
    redis = RedisClusterProcess.start();
    startAll(redis.urls(), true);
  }

  @AfterAll
  static void stop() {
    stopAll();
    if (redis != null) {
      redis.close();
    }
  }
}
