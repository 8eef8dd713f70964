package io.xbosh.pod;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Fan-outs over a pod's sessions keep a bounded number of store calls in flight. */
class PodFanOutTest {

  @Test
  void atMostFanOutCallsAreInFlightAndEveryItemIsVisited() {
    List<Integer> items = IntStream.range(0, 10_000).boxed().toList();
    List<Promise<Void>> pending = new ArrayList<>();
    AtomicInteger inFlight = new AtomicInteger();
    AtomicInteger most = new AtomicInteger();
    AtomicInteger visited = new AtomicInteger();
    Future<Void> done = Pod.inTurn(items, i -> {
      visited.incrementAndGet();
      most.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
      Promise<Void> p = Promise.promise();
      pending.add(p);
      return p.future().onComplete(ar -> inFlight.decrementAndGet());
    });
    // complete the calls in flight, failing every third, until none is left
    int completed = 0;
    while (completed < pending.size()) {
      Promise<Void> p = pending.get(completed);
      if (completed % 3 == 0) {
        p.fail("store down");
      } else {
        p.complete();
      }
      completed++;
    }
    assertThat(done.succeeded()).isTrue();
    assertThat(visited.get()).isEqualTo(items.size());
    assertThat(most.get()).isEqualTo(Pod.FAN_OUT);
  }

  @Test
  void callsThatCompleteAtOnceDoNotDeepenTheStack() {
    AtomicInteger visited = new AtomicInteger();
    Future<Void> done = Pod.inTurn(IntStream.range(0, 200_000).boxed().toList(), i -> {
      visited.incrementAndGet();
      return Future.succeededFuture();
    });
    assertThat(done.succeeded()).isTrue();
    assertThat(visited.get()).isEqualTo(200_000);
  }

  @Test
  void nothingToDoCompletesAtOnce() {
    assertThat(Pod.inTurn(List.<String>of(), s -> Future.failedFuture("never called")).succeeded()).isTrue();
  }
}
