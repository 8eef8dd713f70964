package io.xbosh.fault;

import static io.xbosh.fault.FaultAssertions.assertLivePodsSessionsSurvive;
import static io.xbosh.fault.FaultAssertions.assertNothingLeftBehind;
import static io.xbosh.fault.FaultAssertions.record;

import io.xbosh.testing.FaultCluster;
import io.xbosh.testing.FaultLoad;
import java.time.Duration;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The pods' channel connections dropped ({@code CLIENT KILL TYPE pubsub}, three times, 1 s
 * apart) while answers are being published to them: every answer decided meanwhile still reaches
 * its held request, no session ends, nothing is lost (issue 12, row 7). The clients ask for
 * {@code wait} 5 so that a lost answer shows within the run (its request closed after the wait,
 * the resend meeting an expired cached response).
 */
class PodChannelDropFaultIT {

  @Test
  void droppedPodChannelsLoseNoAnswerAndEndNoSession() throws Exception {
    FaultAssertions.inDeployment(FaultCluster.Store.PERSISTENT, c -> {
      FaultLoad load = c.loginLoad("u", FaultCluster.SESSIONS, 5);
      load.startMessages(FaultCluster.RATE);
      c.traffic(FaultCluster.PHASE_MS);
      for (int i = 0; i < 3; i++) {
        String killed = c.cli("CLIENT", "KILL", "TYPE", "pubsub").trim();
        c.log("CLIENT KILL TYPE pubsub: " + killed);
        c.traffic(1000);
      }
      // long enough for a lost answer to surface: wait + 5 s, and the resend
      c.traffic(5000 + 5000 + FaultCluster.PHASE_MS);
      FaultLoad.Report r = c.settle(Duration.ofSeconds(20));
      record("pod channel dropped (CLIENT KILL TYPE pubsub ×3)", r, "");
      assertLivePodsSessionsSurvive("pod channel dropped", r, Set.of());
      assertNothingLeftBehind(c);
    });
  }
}
