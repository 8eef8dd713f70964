package io.xbosh.vertx;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Context;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Where code confined to an event loop runs: at once on the loop's thread, whatever the context; else on the loop. */
class LoopsTest {

  static Vertx vertx;

  @BeforeAll
  static void start() {
    vertx = Vertx.vertx();
  }

  @AfterAll
  static void stop() throws Exception {
    vertx.close().await(10, TimeUnit.SECONDS);
  }

  @Test
  void onTheLoopsThreadUnderAnotherContextTheTaskRunsAtOnce() throws Exception {
    ContextInternal loop = (ContextInternal) vertx.getOrCreateContext();
    Promise<List<String>> seen = Promise.promise();
    // a duplicate, as Vert.x gives each HTTP request: another context, the same thread
    loop.duplicate().runOnContext(v -> {
      List<String> order = new ArrayList<>();
      assertThat(Vertx.currentContext()).isNotSameAs(loop);
      Loops.run(loop, () -> order.add("task"));
      order.add("after the call");
      seen.complete(order);
    });
    assertThat(seen.future().await(10, TimeUnit.SECONDS)).containsExactly("task", "after the call");
  }

  @Test
  void fromAnotherThreadTheTaskRunsOnTheLoop() throws Exception {
    Context loop = vertx.getOrCreateContext();
    Promise<String> ranOn = Promise.promise();
    Promise<String> loopThread = Promise.promise();
    loop.runOnContext(v -> loopThread.complete(Thread.currentThread().getName()));
    assertThat(Loops.onLoopOf(loop)).isFalse();
    Loops.run(loop, () -> ranOn.complete(Thread.currentThread().getName()));
    assertThat(ranOn.future().await(10, TimeUnit.SECONDS)).isEqualTo(loopThread.future().await(10, TimeUnit.SECONDS));
  }
}
