package io.xbosh.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The fault suite's check for keys left behind finds each kind of leftover, on a real redis-server. */
class FaultClusterLeftoversIT {

  @Test
  void eachKindOfLeftoverIsNamedAndTidyKeysAreNot() throws Exception {
    try (RedisProcess redis = RedisProcess.start()) {
      int port = redis.port();
      List<Integer> ports = List.of(port);
      FaultCluster.cliAt(port, "HSET", "xb:{tidy}", "hi", "1");
      FaultCluster.cliAt(port, "EXPIRE", "xb:{tidy}", "60");
      FaultCluster.cliAt(port, "ZADD", "xb:{pods}", "1", "pod-1");
      FaultCluster.cliAt(port, "SADD", "xb:{pods}:owned:pod-1", "tidy");
      assertThat(FaultCluster.leftovers(ports, Set.of("pod-1"), false, 130)).isEmpty();
      // a session still live may be listed (another scenario's); one that ended may not
      assertThat(FaultCluster.leftovers(ports, Set.of("pod-1"), true, 130)).isEmpty();
      FaultCluster.cliAt(port, "SADD", "xb:{pods}:owned:pod-1", "ended");
      assertThat(FaultCluster.leftovers(ports, Set.of("pod-1"), true, 130))
          .containsExactly("xb:{pods}:owned:pod-1 still lists 1 sids after every session ended");
      FaultCluster.cliAt(port, "HSET", "xb:{forever}", "hi", "1");
      FaultCluster.cliAt(port, "SET", "xb:{long}:o", "x", "EX", "1000");
      FaultCluster.cliAt(port, "ZADD", "xb:{pods}", "1", "pod-2");
      FaultCluster.cliAt(port, "SADD", "xb:{pods}:owned:pod-2", "a", "b");
      assertThat(FaultCluster.leftovers(ports, Set.of("pod-1"), false, 130)).containsExactlyInAnyOrder(
          "no TTL: xb:{forever}",
          "TTL 1000 s > 130 s: xb:{long}:o",
          "xb:{pods} still lists pod-2, which is not running",
          "xb:{pods}:owned:pod-2 of a pod not running still lists 2 sids");
    }
  }
}
