package io.xbosh.pod;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.LongConsumer;
import java.util.function.LongUnaryOperator;
import java.util.function.Supplier;

/**
 * The pod's one clock for held requests: a coarse timer wheel turned by one periodic Vert.x timer,
 * instead of one Vert.x timer per held request. {@link #schedule} rounds a time up to the next
 * tick ({@value #TICK_MS} ms), so the task runs up to two ticks late; {@link #scheduleWithin}
 * rounds it down, so the task runs up to two ticks early and never late (a held request's wait,
 * XEP-0124 §8). Tasks are kept by the tick they are due in; a cancelled task leaves its bucket at
 * once, so the wheel holds exactly the requests waiting on it (bounded by
 * {@code XBOSH_MAX_HELD_REQUESTS}). Due tasks run on the context that scheduled them (a held
 * request's event loop), never on the wheel's.
 *
 * <p>A task scheduled <em>fenced</em> runs only after the wheel's fence (one for every fenced task
 * due in a turn: the pod's {@code PING} on its channel, after which every answer published to the
 * pod before has arrived) has completed, and learns what the fence said.
 */
public final class TimerWheel {

  /** How often the wheel turns, ms: the resolution of every wait. */
  public static final long TICK_MS = 100;

  /** What a fenced task is given when its fence failed (or timed out). */
  public static final long FENCE_FAILED = Long.MIN_VALUE;

  /** What runs when a scheduled time comes; a task is scheduled at most once at a time. */
  public static final class Task {
    private final Context context;
    private final Runnable action;
    /** what runs instead when the task was scheduled fenced: given the fence's result */
    private final LongConsumer afterFence;
    /** the tick this task is due in, -1 when it is not scheduled; guarded by the task */
    private long due = -1;
    /** whether it waits for the fence of its tick; guarded by the task */
    private boolean fenced;
    /** what the fence is told about this task (the channel its request was registered under) */
    private final long key;

    public Task(Context context, Runnable action) {
      this(context, action, null);
    }

    /** @param afterFence runs instead of {@code action} when scheduled fenced, given what the fence completed with */
    public Task(Context context, Runnable action, LongConsumer afterFence) {
      this(context, action, afterFence, 0);
    }

    /** @param key handed to the fence with the keys of the other tasks due in the same turn */
    public Task(Context context, Runnable action, LongConsumer afterFence, long key) {
      this.context = context;
      this.action = action;
      this.afterFence = afterFence;
      this.key = key;
    }
  }

  private final Vertx vertx;
  /**
   * one call per turn that has fenced tasks due, given their keys; completes with what each of
   * them is handed, by key
   */
  private final Function<long[], Future<LongUnaryOperator>> fence;
  private final Map<Long, Set<Task>> buckets = new ConcurrentHashMap<>();
  private final AtomicLong size = new AtomicLong();
  private final long origin = System.nanoTime();
  /** the last tick whose bucket was run; only the wheel's timer moves it */
  private volatile long turned;
  private long timer = -1;

  public TimerWheel(Vertx vertx) {
    this(vertx, () -> Future.succeededFuture(0L));
  }

  /** @param fence called once per turn that has fenced tasks due, on the wheel's timer; its value goes to each */
  public TimerWheel(Vertx vertx, Supplier<Future<Long>> fence) {
    this(vertx, (long[] keys) -> fence.get().map(n -> k -> n));
  }

  /**
   * @param fence called once per turn that has fenced tasks due, on the wheel's timer, with their
   *              keys; each task is handed what the result maps its key to
   */
  public TimerWheel(Vertx vertx, Function<long[], Future<LongUnaryOperator>> fence) {
    this.vertx = vertx;
    this.fence = fence;
    this.turned = tickAt(System.nanoTime());
  }

  /** Starts turning. */
  public synchronized void start() {
    if (timer < 0) {
      timer = vertx.setPeriodic(TICK_MS, id -> turn());
    }
  }

  /** Stops turning; what is still scheduled never runs. */
  public synchronized void stop() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
      timer = -1;
    }
    buckets.clear();
    size.set(0);
  }

  private long tickAt(long nanos) {
    return (nanos - origin) / (TICK_MS * 1_000_000L);
  }

  /**
   * Runs the task on its context once {@code ms} have passed (rounded up to the next tick), unless
   * cancelled first; a task already scheduled is moved.
   */
  public void schedule(Task task, long ms) {
    long now = System.nanoTime();
    // never in a bucket already turned: at least the next tick
    schedule(task, Math.max(tickAt(now + Math.max(0, ms) * 1_000_000L) + 1, turned + 1), false);
  }

  /**
   * Runs the task on its context at the latest when {@code ms} have passed, up to two ticks
   * earlier, unless cancelled first; a task already scheduled is moved. Fenced: it runs after its
   * turn's fence, given the fence's result ({@link #FENCE_FAILED} when it failed).
   *
   * @return {@link System#nanoTime()} before which it does not run
   */
  public long scheduleWithin(Task task, long ms, boolean fenced) {
    long due = dueWithin(ms);
    schedule(task, due, fenced);
    return startOf(due);
  }

  /** The earliest {@link System#nanoTime()} at which a task given {@link #scheduleWithin} {@code ms} now may run. */
  public long runsWithin(long ms) {
    return startOf(dueWithin(ms));
  }

  /**
   * A task due in tick t runs at the first turn at or after t's start, turns come every tick: so
   * tick t ends no later than {@code ms} from now when t is the one before the tick holding that moment.
   */
  private long dueWithin(long ms) {
    return Math.max(tickAt(System.nanoTime() + Math.max(0, ms) * 1_000_000L) - 1, turned + 1);
  }

  private long startOf(long tick) {
    return origin + tick * TICK_MS * 1_000_000L;
  }

  private void schedule(Task task, long due, boolean fenced) {
    if (fenced && task.afterFence == null) {
      throw new IllegalArgumentException("a task without an action after its fence");
    }
    synchronized (task) {
      unlink(task);
      task.due = due;
      task.fenced = fenced;
      buckets.computeIfAbsent(due, k -> ConcurrentHashMap.newKeySet()).add(task);
      size.incrementAndGet();
      if (turned < due) {
        return;
      }
      // the wheel turned past that tick meanwhile and may have taken its bucket before the task
      // went in: run it now rather than never
      unlink(task);
      buckets.computeIfPresent(due, (k, v) -> v.isEmpty() ? null : v);
    }
    if (fenced) {
      fenceThen(List.of(task));
    } else {
      task.context.runOnContext(v -> task.action.run());
    }
  }

  /** The task will not run (unless it is running already). */
  public void cancel(Task task) {
    synchronized (task) {
      unlink(task);
    }
  }

  private void unlink(Task task) {
    if (task.due < 0) {
      return;
    }
    // counted while due is set, whether or not the wheel has taken its bucket already
    Set<Task> bucket = buckets.get(task.due);
    if (bucket != null) {
      bucket.remove(task);
    }
    size.decrementAndGet();
    task.due = -1;
  }

  /** Tasks scheduled and not yet run or cancelled. */
  public long size() {
    return size.get();
  }

  private void turn() {
    long now = tickAt(System.nanoTime());
    List<Task> fenced = new ArrayList<>();
    for (long t = turned + 1; t <= now; t++) {
      // turned first: a task scheduled into this tick after its bucket is taken sees it and runs itself
      turned = t;
      Set<Task> due = buckets.remove(t);
      if (due == null) {
        continue;
      }
      for (Task task : due) {
        boolean run;
        boolean afterFence;
        synchronized (task) {
          run = task.due == t;
          afterFence = task.fenced;
          if (run) {
            task.due = -1;
            size.decrementAndGet();
          }
        }
        if (run && afterFence) {
          fenced.add(task);
        } else if (run) {
          task.context.runOnContext(v -> task.action.run());
        }
      }
    }
    if (!fenced.isEmpty()) {
      fenceThen(fenced);
    }
  }

  /** One fence for the tasks; each then runs on its context with what the fence said. */
  private void fenceThen(List<Task> tasks) {
    Future<LongUnaryOperator> f;
    try {
      f = fence.apply(tasks.stream().mapToLong(t -> t.key).distinct().toArray());
    } catch (RuntimeException e) {
      f = Future.failedFuture(e);
    }
    f.onComplete(ar -> {
      LongUnaryOperator result = ar.succeeded() && ar.result() != null ? ar.result() : k -> FENCE_FAILED;
      for (Task task : tasks) {
        long said = result.applyAsLong(task.key);
        task.context.runOnContext(v -> task.afterFence.accept(said));
      }
    });
  }
}
