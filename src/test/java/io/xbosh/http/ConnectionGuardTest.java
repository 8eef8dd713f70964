package io.xbosh.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.websocketx.extensions.WebSocketServerExtensionHandler;
import io.netty.handler.codec.http.websocketx.extensions.compression.PerMessageDeflateServerExtensionHandshaker;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.ReferenceCountUtil;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.impl.VertxHttpRequestDecoder;
import io.vertx.core.http.impl.VertxHttpResponseEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The guard on a pipeline laid out as Vert.x 5 lays out an HTTP/1.x server connection, on an
 * embedded channel whose clock the test moves.
 */
class ConnectionGuardTest {

  private static final long HEAD_MS = 10_000;
  private static final long BODY_MS = 10_000;
  private static final int IDLE_S = 100;

  private final List<Object> received = new ArrayList<>();

  private EmbeddedChannel guarded() {
    HttpServerOptions options = new HttpServerOptions().setIdleTimeout(IDLE_S);
    EmbeddedChannel ch = new EmbeddedChannel();
    ch.freezeTime();
    ch.pipeline().addLast("httpDecoder", new VertxHttpRequestDecoder(options));
    ch.pipeline().addLast("httpEncoder", new VertxHttpResponseEncoder());
    ch.pipeline().addLast(ConnectionGuard.IDLE, new IdleStateHandler(0, 0, IDLE_S, TimeUnit.SECONDS));
    ch.pipeline().addLast(ConnectionGuard.WEBSOCKET_EXTENSIONS, new WebSocketServerExtensionHandler(
        new PerMessageDeflateServerExtensionHandshaker()));
    ch.pipeline().addLast("handler", new ChannelInboundHandlerAdapter() {
      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        received.add(msg);
        ReferenceCountUtil.release(msg);
      }
    });
    assertThat(ConnectionGuard.install(ch.pipeline(), new ConnectionGuard.Settings(options, HEAD_MS, BODY_MS))).isTrue();
    return ch;
  }

  private static void advance(EmbeddedChannel ch, long ms) {
    ch.advanceTimeBy(ms, TimeUnit.MILLISECONDS);
    ch.runScheduledPendingTasks();
    ch.runPendingTasks();
  }

  private static void send(EmbeddedChannel ch, String request) {
    ch.writeInbound(Unpooled.copiedBuffer(request, StandardCharsets.US_ASCII));
  }

  private static final String POST = "POST /http-bind HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab";

  @Test
  void theGuardReplacesVertxsIdleAndWebSocketExtensionHandlers() {
    EmbeddedChannel ch = guarded();
    assertThat(ch.pipeline().names()).doesNotContain(ConnectionGuard.IDLE, ConnectionGuard.WEBSOCKET_EXTENSIONS)
        .containsSubsequence("httpDecoder", "httpEncoder", "xboshRequests", "handler");
    ch.finishAndReleaseAll();
  }

  @Test
  void anIdleKeptAliveConnectionIsClosedAfterTheIdleTimeout() {
    EmbeddedChannel ch = guarded();
    send(ch, POST);
    assertThat(received).hasSize(2).last().isInstanceOf(LastHttpContent.class);
    advance(ch, 30_000);
    ch.writeOutbound(answer());
    ch.releaseOutbound();
    // the idle timeout counts from the answer
    advance(ch, IDLE_S * 1000L - 1);
    assertThat(ch.isOpen()).isTrue();
    advance(ch, 2);
    assertThat(ch.isOpen()).isFalse();
  }

  @Test
  void aHeldRequestOutlivesTheHeadAndBodyDeadlinesButNotTheIdleTimeout() {
    EmbeddedChannel ch = guarded();
    send(ch, POST);
    advance(ch, HEAD_MS + BODY_MS + 1);
    assertThat(ch.isOpen()).isTrue();
    advance(ch, IDLE_S * 1000L);
    assertThat(ch.isOpen()).isFalse();
  }

  @Test
  void aRequestBegunOnAnIdleConnectionHasItsHeadDeadline() {
    EmbeddedChannel ch = guarded();
    send(ch, POST);
    ch.writeOutbound(answer());
    ch.releaseOutbound();
    send(ch, "POST /http-bind HTTP/1.1\r\n");
    advance(ch, HEAD_MS + 1);
    // 408, then closed
    Object out = ch.readOutbound();
    assertThat(out).isNotNull();
    assertThat(((io.netty.buffer.ByteBuf) out).toString(StandardCharsets.US_ASCII)).startsWith("HTTP/1.1 408");
    ReferenceCountUtil.release(out);
    assertThat(ch.isOpen()).isFalse();
  }

  @Test
  void aWebSocketUpgradeRequestGetsTheExtensionHandlerBackBeforeVertx() {
    EmbeddedChannel ch = guarded();
    send(ch, "GET /xmpp-websocket HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n");
    assertThat(received).first().isInstanceOf(HttpRequest.class);
    assertThat(ch.pipeline().get(ConnectionGuard.WEBSOCKET_EXTENSIONS)).isInstanceOf(WebSocketServerExtensionHandler.class);
    assertThat(ch.pipeline().names()).containsSubsequence("xboshRequests", ConnectionGuard.WEBSOCKET_EXTENSIONS, "handler");
    ch.finishAndReleaseAll();
  }

  @Test
  void aConnectionThatLeftHttpForAWebSocketHasNoDeadlineOfTheGuards() {
    EmbeddedChannel ch = guarded();
    send(ch, "GET /xmpp-websocket HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    assertThat(received).hasSize(2).last().isInstanceOf(LastHttpContent.class);
    // as Netty's handshaker does: the HTTP decoder out, then the 101 written from the tail
    ch.pipeline().remove("httpDecoder");
    DefaultFullHttpResponse switching = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
        HttpResponseStatus.SWITCHING_PROTOCOLS, Unpooled.EMPTY_BUFFER);
    switching.headers().set(HttpHeaderNames.UPGRADE, "websocket").set(HttpHeaderNames.CONNECTION, "Upgrade");
    ch.writeOutbound(switching);
    ch.releaseOutbound();
    assertThat(ch.pipeline().names()).doesNotContain("xboshRequests").contains(ConnectionGuard.IDLE);
    // the idle handler put back is the WebSocket's idle timeout now (Vert.x closes on its event;
    // this pipeline's handler ignores it): nothing of the guard's may close the connection
    advance(ch, 3 * IDLE_S * 1000L);
    assertThat(ch.isOpen()).isTrue();
    ch.finishAndReleaseAll();
  }

  @Test
  void aPlainRequestLeavesTheExtensionHandlerOut() {
    EmbeddedChannel ch = guarded();
    send(ch, POST);
    assertThat(ch.pipeline().get(ConnectionGuard.WEBSOCKET_EXTENSIONS)).isNull();
    ch.finishAndReleaseAll();
  }

  private static DefaultFullHttpResponse answer() {
    DefaultFullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, Unpooled.EMPTY_BUFFER);
    r.headers().set(HttpHeaderNames.CONTENT_LENGTH, 0);
    return r;
  }
}
