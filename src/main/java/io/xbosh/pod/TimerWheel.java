package io.xbosh.pod;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The pod's one clock for held requests: a coarse timer wheel turned by one periodic Vert.x timer,
 * instead of one Vert.x timer per held request. A deadline is rounded up to the next tick
 * ({@value #TICK_MS} ms), so a wait runs out up to one tick late. Tasks are kept by the tick they
 * are due in; a cancelled task leaves its bucket at once, so the wheel holds exactly the requests
 * waiting on it (bounded by {@code XBOSH_MAX_HELD_REQUESTS}). Due tasks run on the context that
 * scheduled them (a held request's event loop), never on the wheel's.
 */
public final class TimerWheel {

  /** How often the wheel turns, ms: the resolution of every wait. */
  public static final long TICK_MS = 100;

  /** What runs when a scheduled time comes; a task is scheduled at most once at a time. */
  public static final class Task {
    private final Context context;
    private final Runnable action;
    /** the tick this task is due in, -1 when it is not scheduled; guarded by the task */
    private long due = -1;

    public Task(Context context, Runnable action) {
      this.context = context;
      this.action = action;
    }
  }

  private final Vertx vertx;
  private final Map<Long, Set<Task>> buckets = new ConcurrentHashMap<>();
  private final AtomicLong size = new AtomicLong();
  private final long origin = System.nanoTime();
  /** the last tick whose bucket was run; only the wheel's timer moves it */
  private volatile long turned;
  private long timer = -1;

  public TimerWheel(Vertx vertx) {
    this.vertx = vertx;
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
    long due = Math.max(tickAt(now + Math.max(0, ms) * 1_000_000L) + 1, turned + 1);
    synchronized (task) {
      unlink(task);
      task.due = due;
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
    task.context.runOnContext(v -> task.action.run());
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
    for (long t = turned + 1; t <= now; t++) {
      // turned first: a task scheduled into this tick after its bucket is taken sees it and runs itself
      turned = t;
      Set<Task> due = buckets.remove(t);
      if (due == null) {
        continue;
      }
      for (Task task : due) {
        boolean run;
        synchronized (task) {
          run = task.due == t;
          if (run) {
            task.due = -1;
            size.decrementAndGet();
          }
        }
        if (run) {
          task.context.runOnContext(v -> task.action.run());
        }
      }
    }
  }
}
