package io.xbosh.pod;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** One periodic timer for every held request of a pod: due tasks run once, on their own context; cancelled ones never. */
class TimerWheelTest {

  Vertx vertx;
  TimerWheel wheel;

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
    wheel = new TimerWheel(vertx);
    wheel.start();
  }

  @AfterEach
  void stop() throws Exception {
    wheel.stop();
    vertx.close().await(20, TimeUnit.SECONDS);
  }

  @Test
  void aTaskRunsOnceOnTheContextThatScheduledItNotBeforeItsTime() throws Exception {
    Context context = vertx.getOrCreateContext();
    ConcurrentLinkedQueue<Long> ranAfterMs = new ConcurrentLinkedQueue<>();
    ConcurrentLinkedQueue<Boolean> onItsContext = new ConcurrentLinkedQueue<>();
    long[] scheduled = new long[1];
    TimerWheel.Task task = new TimerWheel.Task(context, () -> {
      ranAfterMs.add((System.nanoTime() - scheduled[0]) / 1_000_000);
      onItsContext.add(Vertx.currentContext() == context);
    });
    context.runOnContext(v -> {
      scheduled[0] = System.nanoTime();
      wheel.schedule(task, 300);
    });
    await().atMost(Duration.ofSeconds(10)).until(() -> ranAfterMs.size() == 1);
    assertThat(ranAfterMs.peek()).isGreaterThanOrEqualTo(300);
    assertThat(onItsContext).containsExactly(true);
    assertThat(wheel.size()).isZero();
    // once only, however long the wheel goes on turning
    await().pollDelay(Duration.ofMillis(5 * TimerWheel.TICK_MS)).atMost(Duration.ofSeconds(5)).until(() -> true);
    assertThat(ranAfterMs).hasSize(1);
  }

  @Test
  void aCancelledTaskNeverRunsAndLeavesTheWheel() throws Exception {
    AtomicInteger ran = new AtomicInteger();
    TimerWheel.Task cancelled = new TimerWheel.Task(vertx.getOrCreateContext(), ran::incrementAndGet);
    CountDownLatch marker = new CountDownLatch(1);
    TimerWheel.Task later = new TimerWheel.Task(vertx.getOrCreateContext(), marker::countDown);
    wheel.schedule(cancelled, 200);
    wheel.schedule(later, 400);
    assertThat(wheel.size()).isEqualTo(2);
    wheel.cancel(cancelled);
    assertThat(wheel.size()).isEqualTo(1);
    assertThat(marker.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(ran.get()).isZero();
    assertThat(wheel.size()).isZero();
  }

  @Test
  void schedulingAgainMovesTheTask() throws Exception {
    ConcurrentLinkedQueue<Long> ranAt = new ConcurrentLinkedQueue<>();
    long start = System.nanoTime();
    TimerWheel.Task task = new TimerWheel.Task(vertx.getOrCreateContext(), () -> ranAt.add(System.nanoTime() - start));
    wheel.schedule(task, 100);
    wheel.schedule(task, 600);
    assertThat(wheel.size()).isEqualTo(1);
    await().atMost(Duration.ofSeconds(10)).until(() -> ranAt.size() == 1);
    assertThat(ranAt.peek() / 1_000_000).isGreaterThanOrEqualTo(600);
    await().pollDelay(Duration.ofMillis(5 * TimerWheel.TICK_MS)).atMost(Duration.ofSeconds(5)).until(() -> true);
    assertThat(ranAt).hasSize(1);
  }

  @Test
  void aTaskScheduledWithinATimeRunsNoEarlierThanTwoTicksBeforeItAndNotBeforeTheTimeGiven() throws Exception {
    Context context = vertx.getOrCreateContext();
    ConcurrentLinkedQueue<Long> ran = new ConcurrentLinkedQueue<>();
    long[] earliest = new long[2];
    TimerWheel.Task task = new TimerWheel.Task(context, () -> ran.add(System.nanoTime()));
    context.runOnContext(v -> {
      earliest[0] = System.nanoTime();
      earliest[1] = wheel.scheduleWithin(task, 500, false);
    });
    await().atMost(Duration.ofSeconds(10)).until(() -> ran.size() == 1);
    // never before the moment it said (a held request's wait counts as over from then)
    assertThat(ran.peek()).isGreaterThanOrEqualTo(earliest[1]);
    assertThat((ran.peek() - earliest[0]) / 1_000_000).isGreaterThanOrEqualTo(500 - 2 * TimerWheel.TICK_MS);
  }

  @Test
  void fencedTasksDueTogetherShareOneFenceAndLearnWhatItSaid() throws Exception {
    vertx.close().await(20, TimeUnit.SECONDS);
    vertx = Vertx.vertx();
    AtomicInteger fences = new AtomicInteger();
    ConcurrentLinkedQueue<io.vertx.core.Promise<Long>> pending = new ConcurrentLinkedQueue<>();
    wheel = new TimerWheel(vertx, () -> {
      fences.incrementAndGet();
      io.vertx.core.Promise<Long> p = io.vertx.core.Promise.promise();
      pending.add(p);
      return p.future();
    });
    wheel.start();
    int n = 40;
    ConcurrentLinkedQueue<Long> said = new ConcurrentLinkedQueue<>();
    AtomicInteger plain = new AtomicInteger();
    Context context = vertx.getOrCreateContext();
    for (int i = 0; i < n; i++) {
      wheel.scheduleWithin(new TimerWheel.Task(context, plain::incrementAndGet, said::add), 300, true);
    }
    await().atMost(Duration.ofSeconds(10)).until(() -> !pending.isEmpty());
    assertThat(said).as("nothing runs before its fence").isEmpty();
    await().atMost(Duration.ofSeconds(10)).until(() -> {
      io.vertx.core.Promise<Long> p = pending.poll();
      if (p != null) {
        p.complete(42L);
      }
      return said.size() == n;
    });
    assertThat(said).containsOnly(42L);
    assertThat(plain.get()).isZero();
    // tasks scheduled in one go fall due in one or two ticks: far fewer fences than tasks
    assertThat(fences.get()).isLessThan(n);
    // a failed fence says so
    wheel.scheduleWithin(new TimerWheel.Task(context, plain::incrementAndGet, said::add), 0, true);
    await().atMost(Duration.ofSeconds(10)).until(() -> !pending.isEmpty());
    pending.poll().fail("no reply");
    await().atMost(Duration.ofSeconds(10)).until(() -> said.size() == n + 1);
    assertThat(said).contains(TimerWheel.FENCE_FAILED);
  }

  /** A fence over several channels (a Redis Cluster's masters) vouches for some of its tasks' keys only. */
  @Test
  void aKeyedFenceIsGivenItsTasksKeysAndEachTaskLearnsWhatItSaidOfItsKey() throws Exception {
    vertx.close().await(20, TimeUnit.SECONDS);
    vertx = Vertx.vertx();
    ConcurrentLinkedQueue<long[]> asked = new ConcurrentLinkedQueue<>();
    wheel = new TimerWheel(vertx, (long[] keys) -> {
      asked.add(keys);
      return io.vertx.core.Future.succeededFuture(k -> k == 5 ? 5 : TimerWheel.FENCE_FAILED);
    });
    wheel.start();
    Context context = vertx.getOrCreateContext();
    Map<Long, ConcurrentLinkedQueue<Long>> said = new ConcurrentHashMap<>();
    for (long key : new long[] {5, 5, 7}) {
      said.computeIfAbsent(key, k -> new ConcurrentLinkedQueue<>());
      wheel.scheduleWithin(new TimerWheel.Task(context, () -> { }, v -> said.get(key).add(v), key), 0, true);
    }
    await().atMost(Duration.ofSeconds(10)).until(() -> said.get(5L).size() == 2 && said.get(7L).size() == 1);
    assertThat(said.get(5L)).containsOnly(5L);
    assertThat(said.get(7L)).containsOnly(TimerWheel.FENCE_FAILED);
    // each fence is told every key of its tasks, once
    for (long[] keys : asked) {
      assertThat(keys).doesNotHaveDuplicates();
    }
    assertThat(asked.stream().flatMapToLong(java.util.Arrays::stream).boxed().toList()).contains(5L, 7L);
  }

  @Test
  void manyTasksFromManyThreadsEachRunExactlyOnce() throws Exception {
    int n = 5000;
    AtomicInteger ran = new AtomicInteger();
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < 4; t++) {
      Context context = vertx.getOrCreateContext();
      Thread thread = new Thread(() -> {
        for (int i = 0; i < n; i++) {
          TimerWheel.Task task = new TimerWheel.Task(context, ran::incrementAndGet);
          // 0 ms too: a task due in the tick being turned right now must run, not be lost
          wheel.schedule(task, i % 7 == 0 ? 0 : i % 300);
          if (i % 5 == 0) {
            wheel.cancel(task);
          }
        }
      });
      threads.add(thread);
      thread.start();
    }
    for (Thread thread : threads) {
      thread.join(20_000);
    }
    int expected = 4 * (n - (n + 4) / 5);
    await().atMost(Duration.ofSeconds(20)).until(() -> ran.get() >= expected && wheel.size() == 0);
    await().pollDelay(Duration.ofMillis(5 * TimerWheel.TICK_MS)).atMost(Duration.ofSeconds(5)).until(() -> true);
    assertThat(ran.get()).isEqualTo(expected);
  }
}
