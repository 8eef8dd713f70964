package io.xbosh.fault;

import static io.xbosh.fault.FaultAssertions.assertLivePodsSessionsSurvive;
import static io.xbosh.fault.FaultAssertions.assertNothingLeftBehind;
import static io.xbosh.fault.FaultAssertions.record;
import static org.awaitility.Awaitility.await;

import io.xbosh.testing.FaultCluster;
import io.xbosh.testing.FaultLoad;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Redis Cluster, three masters with a replica each ({@code cluster-node-timeout} 1 s): kill -9 of
 * one master, its replica takes over. Every pod is alive, so no session may end; sessions on the
 * failing shard may wait (their requests are resent) but lose nothing (issue 12, row 3).
 */
class RedisClusterFailoverFaultIT {

  @Test
  void killingOneMasterFailsOverWithoutEndingSessionsOrLosingMessages() throws Exception {
    FaultAssertions.inDeployment(FaultCluster.Store.CLUSTER, c -> {
      int retriedBefore = c.podLog(FaultAssertions.DELIVER_RETRIED).size();
      int recoveriesBefore = c.podLog(FaultAssertions.RECOVERY_RETRIED).size();
      FaultLoad load = c.loginLoad();
      load.startMessages(FaultCluster.RATE);
      c.traffic(FaultCluster.PHASE_MS);
      List<Integer> masters = c.redisCluster().masterPorts();
      int victim = masters.get(0);
      c.redisCluster().node(victim).kill();
      long killedAt = System.nanoTime();
      c.log("kill -9 of master " + victim + " of " + masters);
      // failed over: three masters again (the replica promoted), the cluster ok on every live node
      await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).until(() -> {
        List<Integer> now = c.redisCluster().masterPorts();
        return now.size() == 3 && !now.contains(victim);
      });
      c.redisCluster().awaitOk(Duration.ofSeconds(30));
      long failoverMs = (System.nanoTime() - killedAt) / 1_000_000;
      c.log("cluster ok again after " + failoverMs + " ms; masters " + c.redisCluster().masterPorts());
      c.traffic(FaultCluster.PHASE_MS + FaultCluster.detectionBoundMs());
      FaultLoad.Report r = c.settle(Duration.ofSeconds(20));
      record("Redis Cluster master kill -9", r, "failoverMs=" + failoverMs
          + " deliverRetries=" + (c.podLog(FaultAssertions.DELIVER_RETRIED).size() - retriedBefore)
          + " answerRecoveryRetries=" + (c.podLog(FaultAssertions.RECOVERY_RETRIED).size() - recoveriesBefore));
      try {
        assertLivePodsSessionsSurvive("Redis Cluster failover", r, Set.of());
      } catch (AssertionError e) {
        FaultAssertions.printEndedSessionsLog(c, r);
        throw e;
      }
      assertNothingLeftBehind(c);
    });
  }
}
