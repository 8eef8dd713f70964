package io.xbosh.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.compression.ZlibCodecFactory;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.websocketx.extensions.WebSocketServerExtensionHandler;
import io.netty.handler.codec.http.websocketx.extensions.WebSocketServerExtensionHandshaker;
import io.netty.handler.codec.http.websocketx.extensions.compression.DeflateFrameServerExtensionHandshaker;
import io.netty.handler.codec.http.websocketx.extensions.compression.PerMessageDeflateServerExtensionHandshaker;
import io.netty.handler.timeout.IdleStateHandler;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.impl.VertxHttpRequestDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Per-connection defences of the HTTP/1.1 listener that Vert.x has no option for, as Netty handlers
 * around its codec:
 *
 * <ul>
 *   <li>a deadline for each request head (from the connection's opening or the request's first
 *       byte) and for each body (from the end of its head): slow senders are cut (408, then close);
 *   <li>RFC 9112 §6.1: a request with both Content-Length and Transfer-Encoding may be an attempt
 *       to smuggle a second request; it gets 400 and the connection is closed;
 *   <li>backpressure: while {@link #MAX_UNANSWERED} requests wait for their answers to be written,
 *       or the socket's outbound buffer is full (the client does not read), the connection is not
 *       read and requests already decoded wait here;
 *   <li>the listener's idle timeout, in place of Vert.x's {@code IdleStateHandler}: a connection on
 *       which nothing is read for that long once its request is read, or its answers written, is
 *       closed.
 * </ul>
 *
 * <p>Every held request is a connection over HTTP/1.1, so what each one keeps counts per idle
 * session (ARCHITECTURE "Memory per idle session"): the guard is two handlers, its decoder and one
 * after the encoder, with one deadline between them, and it takes the place of Vert.x's idle
 * handler and of the WebSocket extension handler, which it puts back for a WebSocket upgrade only.
 *
 * <p>All on the connection's event loop; timers are the channel's and die with it.
 */
final class ConnectionGuard {

  /** Requests of one connection that may be waiting for their answer to be written before reading stops. */
  static final int MAX_UNANSWERED = 8;

  private static final byte[] TIMEOUT = ("HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
      .getBytes(StandardCharsets.US_ASCII);

  /** Names Vert.x gives the handlers the guard replaces. */
  static final String IDLE = "idle";
  static final String WEBSOCKET_EXTENSIONS = "webSocketExtensionHandler";

  /** What every guarded connection of one listener shares. */
  static final class Settings {
    final HttpServerOptions options;
    final long headTimeoutMs;
    final long bodyTimeoutMs;
    /** the listener's idle timeout; 0: none */
    final long idleTimeoutMs;
    /** the WebSocket extensions Vert.x offers (immutable, shared); empty: none */
    final WebSocketServerExtensionHandshaker[] webSocketExtensions;

    Settings(HttpServerOptions options, long headTimeoutMs, long bodyTimeoutMs) {
      this.options = options;
      this.headTimeoutMs = headTimeoutMs;
      this.bodyTimeoutMs = bodyTimeoutMs;
      this.idleTimeoutMs = options.getIdleTimeoutUnit().toMillis(options.getIdleTimeout());
      this.webSocketExtensions = webSocketExtensions(options);
    }
  }

  private ConnectionGuard() {
  }

  /**
   * Installs the guard on a freshly accepted HTTP/1.x connection, before it has read a byte.
   *
   * @return false when the pipeline is not the one expected (HTTP/2), and nothing was installed
   */
  static boolean install(ChannelPipeline pipeline, Settings settings) {
    if (!(pipeline.get("httpDecoder") instanceof VertxHttpRequestDecoder) || pipeline.get("httpEncoder") == null) {
      return false;
    }
    ChannelHandler idle = pipeline.get(IDLE);
    // Vert.x's idle handler for the listener's idle timeout alone (no read or write timeouts)
    boolean ownIdle = idle instanceof IdleStateHandler h && settings.idleTimeoutMs > 0
        && h.getAllIdleTimeInMillis() == settings.idleTimeoutMs && h.getReaderIdleTimeInMillis() == 0
        && h.getWriterIdleTimeInMillis() == 0;
    if (ownIdle) {
      // the guard's one deadline keeps the idle timeout: no handler, context and timer task for it
      pipeline.remove(IDLE);
    }
    boolean ownExtensions = pipeline.get(WEBSOCKET_EXTENSIONS) instanceof WebSocketServerExtensionHandler
        && settings.webSocketExtensions.length > 0;
    if (ownExtensions) {
      // put back, new, when a request asks for a WebSocket upgrade (Requests.pass)
      pipeline.remove(WEBSOCKET_EXTENSIONS);
    }
    StrictDecoder decoder = new StrictDecoder(settings, ownIdle);
    pipeline.replace("httpDecoder", "httpDecoder", decoder);
    pipeline.addAfter("httpEncoder", "xboshRequests", new Requests(decoder, ownExtensions));
    return true;
  }

  /**
   * The WebSocket extensions of {@code HttpServerConnectionHandler.initializeWebSocketExtensions}
   * (Vert.x 5.0): per-frame and per-message deflate as the options say.
   */
  static WebSocketServerExtensionHandshaker[] webSocketExtensions(HttpServerOptions options) {
    List<WebSocketServerExtensionHandshaker> list = new ArrayList<>(2);
    if (options.getPerFrameWebSocketCompressionSupported()) {
      list.add(new DeflateFrameServerExtensionHandshaker(options.getWebSocketCompressionLevel()));
    }
    if (options.getPerMessageWebSocketCompressionSupported()) {
      list.add(new PerMessageDeflateServerExtensionHandshaker(options.getWebSocketCompressionLevel(),
          ZlibCodecFactory.isSupportingWindowSizeAndMemLevel(), PerMessageDeflateServerExtensionHandshaker.MAX_WINDOW_SIZE,
          options.getWebSocketAllowServerNoContext(), options.getWebSocketPreferredClientNoContext()));
    }
    return list.toArray(new WebSocketServerExtensionHandshaker[0]);
  }

  /**
   * Vert.x's request decoder, refusing Content-Length together with Transfer-Encoding (RFC 9112
   * §6.1), seeing the raw bytes first (they start a head's deadline) and keeping the connection's
   * state and deadline.
   */
  private static final class StrictDecoder extends VertxHttpRequestDecoder {
    final Settings settings;
    /** the idle timeout is the guard's (Vert.x's idle handler was removed) */
    final boolean ownIdle;
    /** a request's head has begun (or the connection opened) and is not complete */
    boolean inHead = true;
    /** a request's head is complete and its body is not */
    boolean inBody;
    /** the current head has at least one byte */
    boolean headBegun;
    /**
     * the connection has left HTTP (a 101 went out) or the decoder is out of the pipeline: no
     * deadline of the guard's any more (what the connection has become has its own idle handler)
     */
    boolean left;
    ScheduledFuture<?> deadline;

    StrictDecoder(Settings settings, boolean ownIdle) {
      super(settings.options);
      this.settings = settings;
      this.ownIdle = ownIdle;
    }

    @Override
    protected void handleTransferEncodingChunkedWithContentLength(HttpMessage message) {
      // thrown here, the decoder marks the request invalid: Vert.x answers 400 and closes the connection
      throw new IllegalArgumentException("Content-Length together with Transfer-Encoding");
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) throws Exception {
      super.handlerAdded(ctx);
      // from the opening: a connection that never sends a whole head is closed without an answer
      arm(ctx, settings.headTimeoutMs, false);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
      if (msg instanceof ByteBuf b && b.isReadable()) {
        if (!inHead && !inBody) {
          // a further request on a kept-alive connection: its head has its own deadline
          inHead = true;
          arm(ctx, settings.headTimeoutMs, true);
        }
        headBegun |= inHead;
      }
      super.channelRead(ctx, msg);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
      cancel();
      super.channelInactive(ctx);
    }

    @Override
    protected void handlerRemoved0(ChannelHandlerContext ctx) throws Exception {
      left = true;
      cancel();
      super.handlerRemoved0(ctx);
    }

    /** @param answer whether to answer 408 (a request has begun) or close silently */
    void arm(ChannelHandlerContext ctx, long ms, boolean answer) {
      cancel();
      if (left) {
        // (the 101's own answered listener runs after leaveHttp: no idle timer for a WebSocket)
        return;
      }
      deadline = ctx.executor().schedule(() -> {
        if ((answer || headBegun) && ctx.channel().isActive()) {
          ctx.writeAndFlush(Unpooled.wrappedBuffer(TIMEOUT)).addListener(ChannelFutureListener.CLOSE);
        } else {
          ctx.close();
        }
      }, ms, TimeUnit.MILLISECONDS);
    }

    /** Nothing is being read: the idle timeout runs, when the guard keeps it. */
    void idle(ChannelHandlerContext ctx) {
      // (a write's listener may run after the channel closed: no timer for a closed channel)
      if (ownIdle && ctx.channel().isActive()) {
        arm(ctx, settings.idleTimeoutMs, false);
      } else {
        cancel();
      }
    }

    void cancel() {
      if (deadline != null) {
        deadline.cancel(false);
        deadline = null;
      }
    }
  }

  /** Decoded requests and the answers going out: head/body deadlines and backpressure. */
  private static final class Requests extends ChannelDuplexHandler {
    private final StrictDecoder state;
    /** Vert.x's WebSocket extension handler was removed: a WebSocket upgrade request gets a new one */
    private final boolean ownExtensions;
    /** decoded messages waiting for their turn; made when first needed */
    private ArrayDeque<Object> waiting;
    private int unanswered;
    private boolean pausedHere;

    Requests(StrictDecoder state, boolean ownExtensions) {
      this.state = state;
      this.ownExtensions = ownExtensions;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof HttpRequest) {
        // the head is complete
        state.inHead = false;
        state.headBegun = false;
        state.inBody = true;
        state.arm(ctx, state.settings.bodyTimeoutMs, false);
      }
      if (msg instanceof LastHttpContent) {
        state.inBody = false;
        // the request is read; while it is answered nothing more may come for a while
        state.idle(ctx);
      }
      if (waiting != null && !waiting.isEmpty() || unanswered >= MAX_UNANSWERED) {
        if (waiting == null) {
          waiting = new ArrayDeque<>(4);
        }
        waiting.add(msg);
        pause(ctx);
        return;
      }
      pass(ctx, msg);
    }

    private void pass(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof HttpRequest r) {
        unanswered++;
        if (ownExtensions && r.headers().containsValue(HttpHeaderNames.UPGRADE, HttpHeaderValues.WEBSOCKET, true)
            && ctx.pipeline().get(WEBSOCKET_EXTENSIONS) == null && ctx.pipeline().context("handler") != null) {
          // where Vert.x had it, so that it sees this request and the 101 answer
          ctx.pipeline().addBefore("handler", WEBSOCKET_EXTENSIONS,
              new WebSocketServerExtensionHandler(state.settings.webSocketExtensions));
        }
      }
      ctx.fireChannelRead(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
      if (msg instanceof HttpResponse r && r.status().code() == 101) {
        // the connection leaves HTTP (a WebSocket upgrade, RFC 6455): no heads, bodies or answers
        // to watch any more; its frames have their own bounds
        promise = promise.unvoid();
        promise.addListener(f -> leaveHttp(ctx));
      }
      // a full response is a LastHttpContent too
      boolean last = msg instanceof LastHttpContent && unanswered > 0;
      if (last) {
        // answered once its last byte is on the socket, not merely queued
        promise = promise.unvoid();
        promise.addListener(f -> answered(ctx));
      }
      ctx.write(msg, promise);
    }

    private void leaveHttp(ChannelHandlerContext ctx) {
      state.left = true;
      state.cancel();
      ChannelPipeline pipeline = ctx.pipeline();
      if (state.ownIdle && pipeline.get(IDLE) == null) {
        // the idle timeout Vert.x gives every connection, for what the connection has become
        IdleStateHandler idle = new IdleStateHandler(0, 0, state.settings.idleTimeoutMs, TimeUnit.MILLISECONDS);
        if (pipeline.context("handler") != null) {
          pipeline.addBefore("handler", IDLE, idle);
        } else {
          pipeline.addLast(IDLE, idle);
        }
      }
      if (pipeline.context(this) != null) {
        pipeline.remove(this);
      }
      resume(ctx);
    }

    private void answered(ChannelHandlerContext ctx) {
      unanswered--;
      while (waiting != null && !waiting.isEmpty() && unanswered < MAX_UNANSWERED && ctx.channel().isActive()) {
        pass(ctx, waiting.poll());
      }
      if (waiting != null && waiting.isEmpty()) {
        waiting = null;
      }
      if (waiting == null && unanswered < MAX_UNANSWERED) {
        resume(ctx);
      }
      if (waiting == null && unanswered == 0 && !state.inHead && !state.inBody) {
        // every answer is out and no request has begun: the connection is idle
        state.idle(ctx);
      }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) throws Exception {
      if (!ctx.channel().isWritable()) {
        pause(ctx);
      } else if (waiting == null && unanswered < MAX_UNANSWERED) {
        resume(ctx);
      }
      super.channelWritabilityChanged(ctx);
    }

    private void pause(ChannelHandlerContext ctx) {
      if (ctx.channel().config().isAutoRead()) {
        ctx.channel().config().setAutoRead(false);
        pausedHere = true;
      }
    }

    private void resume(ChannelHandlerContext ctx) {
      if (pausedHere && ctx.channel().isWritable()) {
        pausedHere = false;
        ctx.channel().config().setAutoRead(true);
      }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
      state.cancel();
      while (waiting != null && !waiting.isEmpty()) {
        io.netty.util.ReferenceCountUtil.release(waiting.poll());
      }
      super.channelInactive(ctx);
    }
  }
}
