package io.xbosh.vertx;

import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.RecvByteBufAllocator;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.net.impl.VertxConnection;
import io.vertx.core.net.impl.VertxHandler;
import java.lang.reflect.Field;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lets go of per-connection objects that Vert.x and Netty keep for the whole life of a connection
 * and use only when it begins; an idle session keeps two connections (its held request over
 * HTTP/1.1 and its c2s socket), so each counts per session (ARCHITECTURE "Memory per idle
 * session"):
 *
 * <ul>
 *   <li>the connection factory of Vert.x's {@code VertxHandler}, used once when the handler was
 *       added, and with it what it captured: an HTTP connection's {@code
 *       HttpServerConnectionInitializer}, a client socket's connect arguments (about 100 bytes
 *       each). Reached by reflection: a Vert.x laid out differently keeps them (nothing else
 *       changes) and the pod says so once at WARN; {@code ConnectionTrimTest} fails on such an
 *       upgrade;
 *   <li>the inbound queue of an HTTP/1.x request once its body has been read (the request's
 *       end handler ran): Vert.x makes it for the first chunk of a body and uses it only to pass
 *       chunks and the end on, or to pause and resume the request, after which a new one would be
 *       made; about 160 bytes a held request keeps for its whole wait;
 *   <li>Netty's receive-buffer allocator, one per channel by default although its per-channel
 *       state is in the handle it makes: channels that have not read yet share one with the same
 *       settings (Netty's defaults, 16 messages per read as for every NIO socket channel).
 * </ul>
 *
 * <p>Call on the connection's event loop, once it is set up.
 */
public final class ConnectionTrim {

  private static final Logger log = LoggerFactory.getLogger(ConnectionTrim.class);
  private static final AtomicBoolean REPORTED = new AtomicBoolean();
  /** what DefaultChannelConfig gives a NioSocketChannel: a new allocator with its metadata's 16 reads */
  private static final RecvByteBufAllocator SHARED = new AdaptiveRecvByteBufAllocator().maxMessagesPerRead(16);

  private static final Field FACTORY;
  /** Http1xServerRequest's inbound queue */
  private static final Field REQUEST_QUEUE;
  private static final String MISSING;

  static {
    Field factory = null;
    Field requestQueue = null;
    String missing = null;
    try {
      factory = VertxHandler.class.getDeclaredField("connectionFactory");
      factory.setAccessible(true);
      requestQueue = Class.forName("io.vertx.core.http.impl.Http1xServerRequest").getDeclaredField("queue");
      requestQueue.setAccessible(true);
      if (!requestQueue.getType().getName().endsWith("InboundMessageQueue")) {
        missing = "unexpected field type " + requestQueue.getType();
      }
    } catch (ReflectiveOperationException | RuntimeException e) {
      missing = e.toString();
    }
    FACTORY = factory;
    REQUEST_QUEUE = requestQueue;
    MISSING = missing;
  }

  private ConnectionTrim() {
  }

  /** Whether this Vert.x is laid out as expected. */
  public static boolean available() {
    return MISSING == null;
  }

  /** Trims the connection; on its event loop, once it is set up (its handler added). */
  public static void trim(VertxConnection connection) {
    Channel channel = connection.channel();
    if (channel.config().getRecvByteBufAllocator().getClass() == AdaptiveRecvByteBufAllocator.class
        && channel.config().getRecvByteBufAllocator() instanceof AdaptiveRecvByteBufAllocator a
        && a.maxMessagesPerRead() == 16) {
      channel.config().setRecvByteBufAllocator(SHARED);
    }
    if (MISSING != null) {
      report(MISSING);
      return;
    }
    ChannelHandler handler = connection.channelHandlerContext().handler();
    if (handler instanceof VertxHandler<?> h) {
      try {
        FACTORY.set(h, null);
      } catch (ReflectiveOperationException | RuntimeException e) {
        report(e.toString());
      }
    }
  }

  /**
   * Lets an HTTP/1.x request's inbound queue go; from its end handler, on its event loop (the
   * body has been read, nothing will be queued any more).
   */
  public static void forgetInbound(HttpServerRequest request) {
    if (MISSING != null || !REQUEST_QUEUE.getDeclaringClass().isInstance(request)) {
      return;
    }
    try {
      REQUEST_QUEUE.set(request, null);
    } catch (ReflectiveOperationException | RuntimeException e) {
      report(e.toString());
    }
  }

  /** The request's inbound queue, for tests; null when it has none. */
  static Object inboundOf(HttpServerRequest request) throws ReflectiveOperationException {
    return REQUEST_QUEUE.get(request);
  }

  /** The connection factory the connection's handler still keeps, for tests; null once trimmed. */
  static Object factoryOf(VertxConnection connection) throws ReflectiveOperationException {
    return FACTORY.get(connection.channelHandlerContext().handler());
  }

  /** Whether the connection's channel uses the shared receive-buffer allocator, for tests. */
  static boolean sharesAllocator(VertxConnection connection) {
    return connection.channel().config().getRecvByteBufAllocator() == SHARED;
  }

  private static void report(String why) {
    if (REPORTED.compareAndSet(false, true)) {
      log.warn("Vert.x's connection factories and request queues stay with every connection (about 100-160 bytes each): {}", why);
    }
  }
}
