package io.xbosh.vertx;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.internal.ContextInternal;

/**
 * Running code on the event loop a socket or a held request is confined to. Vert.x hands every HTTP
 * request (and every callback of it) a context of its own, a duplicate of its listener's event-loop
 * context, so {@code Vertx.currentContext() == context} is false on the very thread that context runs
 * on, and code that hopped "unless already there" took a turn of the loop on every call: a forward
 * to the session's link, an answer to a held request. Confinement is to the loop's thread, so the
 * test here is the thread.
 */
public final class Loops {

  private Loops() {
  }

  /** Whether the calling thread is the one {@code context} runs its tasks on. */
  public static boolean onLoopOf(Context context) {
    if (context instanceof ContextInternal ci && ci.isEventLoopContext()) {
      return ci.nettyEventLoop().inEventLoop();
    }
    return Vertx.currentContext() == context;
  }

  /** Runs {@code task} now when on {@code context}'s event loop, else on it, after what it is doing. */
  public static void run(Context context, Runnable task) {
    if (onLoopOf(context)) {
      task.run();
    } else {
      context.runOnContext(v -> task.run());
    }
  }
}
