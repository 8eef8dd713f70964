package io.xbosh.vertx;

import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.internal.concurrent.OutboundMessageQueue;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.impl.VertxConnection;
import io.vertx.core.streams.impl.MessagePassingQueue;
import java.lang.reflect.Field;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Smaller write queues for Vert.x connections that an idle session keeps open.
 *
 * <p>Vert.x 5 gives every connection (a {@link NetSocket}, an HTTP/1.x connection) and every HTTP/2
 * stream a queue for writes made off its event loop ({@link OutboundMessageQueue} over a
 * {@link MessagePassingQueue.MpSc}), and that queue is Netty's {@code MpscUnboundedArrayQueue},
 * whose first chunk of 1,024 slots is allocated with it: about 4.6 KB per connection, most of
 * an idle session's heap, with no option or system property to size it (Vert.x 5.0.10 to its main
 * branch, Netty 4.2). Vert.x only adds to it and polls it, so any unbounded multi-producer queue
 * does; {@link ConcurrentLinkedQueue} is 48 bytes while empty (an idle connection's state) and
 * allocates a node per queued write. Its bound stays Vert.x's: the writability signals counted
 * around the queue, unchanged.
 *
 * <p>The queue is reached by reflection into Vert.x's internals, like {@code ConnectionGuard}
 * relies on its HTTP/1.x pipeline: a Vert.x laid out differently keeps its own queues (the pod
 * works as before, with the larger ones) and the pod says so once at WARN. {@code WriteQueuesTest}
 * fails on a Vert.x version where it no longer applies.
 *
 * <p>Call on the connection's event loop before anything was written to it: a queue that holds
 * anything, or that a producer is adding to, is left as it is.
 */
public final class WriteQueues {

  private static final Logger log = LoggerFactory.getLogger(WriteQueues.class);
  private static final AtomicBoolean REPORTED = new AtomicBoolean();

  /** VertxConnection's outbound queue (an OutboundMessageQueue unless the connection is in strict thread mode) */
  private static final Field CONNECTION_QUEUE;
  /** Http2ServerRequest's stream, and that stream's outbound queue */
  private static final Field REQUEST_STREAM;
  private static final Field STREAM_QUEUE;
  /** OutboundMessageQueue's message-passing queue, its elements, its work-in-progress count */
  private static final Field MESSAGES;
  private static final Field ELEMENTS;
  private static final Field WIP;
  /** why the fields could not be had; null when they could */
  private static final String MISSING;

  static {
    Field connection = null;
    Field requestStream = null;
    Field streamQueue = null;
    Field messages = null;
    Field elements = null;
    Field wip = null;
    String missing = null;
    try {
      connection = field(VertxConnection.class, "outboundMessageQueue");
      messages = field(OutboundMessageQueue.class, "mqp");
      elements = field(MessagePassingQueue.class, "queue");
      wip = field(MessagePassingQueue.MpSc.class, "wip");
      Class<?> request = Class.forName("io.vertx.core.http.impl.Http2ServerRequest");
      requestStream = field(request, "stream");
      streamQueue = field(Class.forName("io.vertx.core.http.impl.VertxHttp2Stream"), "outboundQueue");
      if (!Queue.class.isAssignableFrom(elements.getType()) || wip.getType() != long.class) {
        missing = "unexpected field types";
      }
    } catch (ReflectiveOperationException | RuntimeException e) {
      missing = e.toString();
    }
    CONNECTION_QUEUE = connection;
    REQUEST_STREAM = requestStream;
    STREAM_QUEUE = streamQueue;
    MESSAGES = messages;
    ELEMENTS = elements;
    WIP = wip;
    MISSING = missing;
  }

  private WriteQueues() {
  }

  private static Field field(Class<?> owner, String name) throws NoSuchFieldException {
    Field f = owner.getDeclaredField(name);
    f.setAccessible(true);
    return f;
  }

  /** Whether this Vert.x is laid out as expected. */
  public static boolean available() {
    return MISSING == null;
  }

  /**
   * Gives the socket's write queue the small implementation; on the socket's event loop, before
   * anything was written to it.
   *
   * @return whether the socket now has it (false: it keeps Vert.x's queue)
   */
  public static boolean slim(NetSocket socket) {
    if (!usable() || !(socket instanceof VertxConnection connection)) {
      return false;
    }
    try {
      return slimQueue(CONNECTION_QUEUE.get(connection));
    } catch (ReflectiveOperationException | RuntimeException e) {
      report(e.toString());
      return false;
    }
  }

  /**
   * The same for the stream of an HTTP/2 request (each stream has a queue of its own; an HTTP/1.x
   * request has none: its connection's is the one); on the request's event loop, before its
   * response is written.
   */
  public static boolean slim(HttpServerRequest request) {
    if (!usable() || !REQUEST_STREAM.getDeclaringClass().isInstance(request)) {
      return false;
    }
    try {
      return slimQueue(STREAM_QUEUE.get(REQUEST_STREAM.get(request)));
    } catch (ReflectiveOperationException | RuntimeException e) {
      report(e.toString());
      return false;
    }
  }

  /** The kind of queue holding the writes of this socket, for tests and diagnostics; null when unknown. */
  static Class<?> elementsOf(Object outboundHolder) throws ReflectiveOperationException {
    Object outbound = outboundHolder instanceof VertxConnection c ? CONNECTION_QUEUE.get(c)
        : REQUEST_STREAM.getDeclaringClass().isInstance(outboundHolder) ? STREAM_QUEUE.get(REQUEST_STREAM.get(outboundHolder)) : null;
    if (!(outbound instanceof OutboundMessageQueue<?>)) {
      return null;
    }
    return ELEMENTS.get(MESSAGES.get(outbound)).getClass();
  }

  private static boolean slimQueue(Object outbound) throws ReflectiveOperationException {
    if (!(outbound instanceof OutboundMessageQueue<?>)) {
      // a connection in strict thread mode writes directly and has no queue at all
      return false;
    }
    Object mqp = MESSAGES.get(outbound);
    if (!(mqp instanceof MessagePassingQueue.MpSc<?>)) {
      return false;
    }
    Queue<?> elements = (Queue<?>) ELEMENTS.get(mqp);
    if (elements instanceof ConcurrentLinkedQueue<?>) {
      return true;
    }
    if (!elements.isEmpty() || WIP.getLong(mqp) != 0) {
      return false;
    }
    ELEMENTS.set(mqp, new ConcurrentLinkedQueue<>());
    return true;
  }

  private static boolean usable() {
    if (MISSING != null) {
      report(MISSING);
      return false;
    }
    return true;
  }

  private static void report(String why) {
    if (REPORTED.compareAndSet(false, true)) {
      log.warn("Vert.x's write queues keep their full size (about 4.6 KB per connection): {}", why);
    }
  }
}
