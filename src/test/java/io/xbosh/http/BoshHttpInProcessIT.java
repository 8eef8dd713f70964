package io.xbosh.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.xbosh.testing.BoshSession;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The HTTP suite on the embedded in-process store. */
class BoshHttpInProcessIT extends BoshHttpContract {

  @BeforeAll
  static void start() throws Exception {
    startAll(Map.of());
  }

  /**
   * A pod alone in its deployment (the in-process store: no other pod to move to) that drains keeps
   * holding its clients' polls instead of answering each at once, which would make every client
   * poll it in a busy loop for the whole drain; at its end the session ends with system-shutdown.
   */
  @Test
  void aPodAloneThatDrainsKeepsHoldingPollsUntilItEndsTheSessions() throws Exception {
    ExtraPod alone = ExtraPod.start("alone-pod", "XBOSH_DRAIN_SECONDS", "3");
    CompletableFuture<Void> stopped = null;
    try {
      BoshSession s = BoshSession.login(http, List.of(alone.endpoint()), "localhost", "alice", "alicepw", "alone", 30);
      assertThat(alone.pod().otherLivePods()).isZero();
      long start = System.nanoTime();
      stopped = alone.xbosh().drainAndStop().toCompletionStage().toCompletableFuture();
      await().until(() -> alone.pod().draining());
      assertThat(alone.pod().answersAtOnce()).isFalse();
      // poll the way a client does: the next request as soon as the last one is answered
      int polls = 0;
      String last = "";
      while (!last.contains("type=\"terminate\"") && polls < 200) {
        polls++;
        last = s.send("").body();
      }
      long tookMs = (System.nanoTime() - start) / 1_000_000;
      assertThat(last).contains("condition=\"system-shutdown\"");
      // held to the end of the 3 s drain, not answered 30 times a second
      assertThat(polls).isLessThanOrEqualTo(5);
      assertThat(tookMs).isGreaterThanOrEqualTo(2500);
      stopped.get(20, TimeUnit.SECONDS);
    } finally {
      if (stopped == null) {
        alone.close();
      }
    }
  }
}
