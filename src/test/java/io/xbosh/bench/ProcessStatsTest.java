package io.xbosh.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class ProcessStatsTest {

  /** Every thread of this JVM, with the switches the kernel counted: a thread that waited has slept at least once. */
  @Test
  void threadSwitchesOfARealProcess() throws Exception {
    long self = ProcessHandle.current().pid();
    CompletableFuture<Void> go = new CompletableFuture<>();
    Thread waiter = new Thread(go::join, "switch-counted");
    waiter.start();
    // the waiter is counted while it waits for go; it ends after
    Map<String, long[]> threads = null;
    for (int i = 0; i < 10_000; i++) {
      threads = ProcessStats.threadSwitches(self);
      if (waiter.getState() == Thread.State.WAITING
          && threads.entrySet().stream().anyMatch(e -> e.getKey().endsWith(":switch-counted") && e.getValue()[0] > 0)) {
        break;
      }
      Thread.onSpinWait();
    }
    go.complete(null);
    waiter.join();
    assertThat(threads).hasSizeGreaterThan(1);
    assertThat(threads.values()).allSatisfy(v -> assertThat(java.util.Arrays.stream(v).boxed().toList()).hasSize(3)
        .allSatisfy(n -> assertThat(n).isNotNegative()));
    assertThat(threads).anySatisfy((name, v) -> {
      assertThat(name).matches("\\d+:switch-counted");
      assertThat(v[0]).as("voluntary switches of a waiting thread").isPositive();
    });
  }
}
