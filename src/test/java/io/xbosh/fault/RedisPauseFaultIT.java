package io.xbosh.fault;

import static io.xbosh.fault.FaultAssertions.assertLivePodsSessionsSurvive;
import static io.xbosh.fault.FaultAssertions.assertNothingLeftBehind;
import static io.xbosh.fault.FaultAssertions.record;

import io.xbosh.testing.FaultCluster;
import io.xbosh.testing.FaultLoad;
import java.time.Duration;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** {@code CLIENT PAUSE 5000 ALL}: Redis answers nobody for 5 s, every pod alive; no session may end (issue 12, row 2). */
class RedisPauseFaultIT {

  @Test
  void clientPauseAllFiveSecondsEndsNoSessionAndLosesNothing() throws Exception {
    FaultAssertions.inDeployment(FaultCluster.Store.PERSISTENT, c -> {
      FaultLoad load = c.loginLoad();
      load.startMessages(FaultCluster.RATE);
      c.traffic(FaultCluster.PHASE_MS);
      String ok = c.cli("CLIENT", "PAUSE", "5000", "ALL");
      c.log("CLIENT PAUSE 5000 ALL: " + ok.trim());
      c.traffic(5000 + FaultCluster.PHASE_MS + FaultCluster.detectionBoundMs());
      FaultLoad.Report r = c.settle(Duration.ofSeconds(20));
      record("CLIENT PAUSE 5000 ALL", r, "");
      assertLivePodsSessionsSurvive("CLIENT PAUSE 5000 ALL", r, Set.of());
      assertNothingLeftBehind(c);
    });
  }
}
