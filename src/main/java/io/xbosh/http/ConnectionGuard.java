package io.xbosh.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.LastHttpContent;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.impl.VertxHttpRequestDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
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
 *       read and requests already decoded wait here.
 * </ul>
 *
 * <p>All on the connection's event loop; timers are the channel's and die with it.
 */
final class ConnectionGuard {

  /** Requests of one connection that may be waiting for their answer to be written before reading stops. */
  static final int MAX_UNANSWERED = 8;

  private static final byte[] TIMEOUT = ("HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
      .getBytes(StandardCharsets.US_ASCII);

  private ConnectionGuard() {
  }

  /**
   * Installs the guard on a freshly accepted HTTP/1.x connection, before it has read a byte.
   *
   * @return false when the pipeline is not the one expected (HTTP/2), and nothing was installed
   */
  static boolean install(ChannelPipeline pipeline, HttpServerOptions options, long headTimeoutMs, long bodyTimeoutMs) {
    if (!(pipeline.get("httpDecoder") instanceof VertxHttpRequestDecoder) || pipeline.get("httpEncoder") == null) {
      return false;
    }
    State state = new State(headTimeoutMs, bodyTimeoutMs);
    pipeline.replace("httpDecoder", "httpDecoder", new StrictDecoder(options));
    pipeline.addBefore("httpDecoder", "xboshBytes", new Bytes(state));
    pipeline.addAfter("httpEncoder", "xboshRequests", new Requests(state));
    return true;
  }

  /** What the two handlers of one connection share. */
  private static final class State {
    final long headTimeoutMs;
    final long bodyTimeoutMs;
    /** a request's head has begun (or the connection opened) and is not complete */
    boolean inHead = true;
    /** a request's head is complete and its body is not */
    boolean inBody;
    /** the current head has at least one byte */
    boolean headBegun;
    ScheduledFuture<?> deadline;

    State(long headTimeoutMs, long bodyTimeoutMs) {
      this.headTimeoutMs = headTimeoutMs;
      this.bodyTimeoutMs = bodyTimeoutMs;
    }

    /** @param answer whether to answer 408 (a request has begun) or close silently */
    void arm(ChannelHandlerContext ctx, long ms, boolean answer) {
      cancel();
      deadline = ctx.executor().schedule(() -> {
        if ((answer || headBegun) && ctx.channel().isActive()) {
          ctx.writeAndFlush(Unpooled.wrappedBuffer(TIMEOUT)).addListener(ChannelFutureListener.CLOSE);
        } else {
          ctx.close();
        }
      }, ms, TimeUnit.MILLISECONDS);
    }

    void cancel() {
      if (deadline != null) {
        deadline.cancel(false);
        deadline = null;
      }
    }
  }

  /** Raw bytes, before the decoder: starts the head deadline. */
  private static final class Bytes extends ChannelInboundHandlerAdapter {
    private final State state;

    Bytes(State state) {
      this.state = state;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      // from the opening: a connection that never sends a whole head is closed without an answer
      state.arm(ctx, state.headTimeoutMs, false);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof ByteBuf b && b.isReadable()) {
        if (!state.inHead && !state.inBody) {
          // a further request on a kept-alive connection: its head has its own deadline
          state.inHead = true;
          state.arm(ctx, state.headTimeoutMs, true);
        }
        state.headBegun |= state.inHead;
      }
      ctx.fireChannelRead(msg);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
      state.cancel();
      super.channelInactive(ctx);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
      state.cancel();
    }
  }

  /** Decoded requests and the answers going out: head/body deadlines and backpressure. */
  private static final class Requests extends ChannelDuplexHandler {
    private final State state;
    private final ArrayDeque<Object> waiting = new ArrayDeque<>();
    private int unanswered;
    private boolean pausedHere;

    Requests(State state) {
      this.state = state;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof HttpRequest) {
        // the head is complete
        state.inHead = false;
        state.headBegun = false;
        state.inBody = true;
        state.arm(ctx, state.bodyTimeoutMs, false);
      }
      if (msg instanceof LastHttpContent) {
        state.inBody = false;
        state.cancel();
      }
      if (!waiting.isEmpty() || unanswered >= MAX_UNANSWERED) {
        waiting.add(msg);
        pause(ctx);
        return;
      }
      pass(ctx, msg);
    }

    private void pass(ChannelHandlerContext ctx, Object msg) {
      if (msg instanceof HttpRequest) {
        unanswered++;
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
      state.cancel();
      ChannelPipeline pipeline = ctx.pipeline();
      if (pipeline.get("xboshBytes") != null) {
        pipeline.remove("xboshBytes");
      }
      if (pipeline.context(this) != null) {
        pipeline.remove(this);
      }
      resume(ctx);
    }

    private void answered(ChannelHandlerContext ctx) {
      unanswered--;
      while (!waiting.isEmpty() && unanswered < MAX_UNANSWERED && ctx.channel().isActive()) {
        pass(ctx, waiting.poll());
      }
      if (waiting.isEmpty() && unanswered < MAX_UNANSWERED) {
        resume(ctx);
      }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) throws Exception {
      if (!ctx.channel().isWritable()) {
        pause(ctx);
      } else if (waiting.isEmpty() && unanswered < MAX_UNANSWERED) {
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
      while (!waiting.isEmpty()) {
        io.netty.util.ReferenceCountUtil.release(waiting.poll());
      }
      super.channelInactive(ctx);
    }
  }

  /** Vert.x's request decoder, refusing Content-Length together with Transfer-Encoding (RFC 9112 §6.1). */
  private static final class StrictDecoder extends VertxHttpRequestDecoder {
    StrictDecoder(HttpServerOptions options) {
      super(options);
    }

    @Override
    protected void handleTransferEncodingChunkedWithContentLength(HttpMessage message) {
      // thrown here, the decoder marks the request invalid: Vert.x answers 400 and closes the connection
      throw new IllegalArgumentException("Content-Length together with Transfer-Encoding");
    }
  }
}
