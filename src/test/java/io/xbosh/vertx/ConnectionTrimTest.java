package io.xbosh.vertx;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.impl.VertxConnection;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The trim on the Vert.x this build pins: a connected socket lets go of its handler's connection
 * factory and shares the receive-buffer allocator, and still carries data both ways. Fails when a
 * Vert.x upgrade moves the field it reaches.
 */
class ConnectionTrimTest {

  private Vertx vertx;

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
  }

  @AfterEach
  void stop() throws Exception {
    await(vertx.close());
  }

  private static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  @Test
  void thisVertxIsLaidOutAsExpected() {
    assertThat(ConnectionTrim.available()).isTrue();
  }

  @Test
  void aTrimmedSocketKeepsNoFactoryAndStillCarriesData() throws Exception {
    NetServer server = vertx.createNetServer().connectHandler(s -> s.handler(b -> s.write(b)));
    int port = await(server.listen(0, "127.0.0.1")).actualPort();
    Promise<NetSocket> connected = Promise.promise();
    Promise<Object[]> state = Promise.promise();
    // connected and trimmed on its event loop, as UpstreamLink does
    vertx.runOnContext(v -> vertx.createNetClient().connect(port, "127.0.0.1").onSuccess(s -> {
      try {
        VertxConnection c = (VertxConnection) s;
        Object before = ConnectionTrim.factoryOf(c);
        ConnectionTrim.trim(c);
        state.complete(new Object[] {before, ConnectionTrim.factoryOf(c), ConnectionTrim.sharesAllocator(c)});
      } catch (ReflectiveOperationException e) {
        state.fail(e);
      }
    }).onComplete(connected));
    NetSocket socket = await(connected.future());
    Object[] s = await(state.future());
    assertThat(s[0]).isNotNull();
    assertThat(s[1]).isNull();
    assertThat(s[2]).isEqualTo(true);
    Promise<String> echoed = Promise.promise();
    StringBuilder got = new StringBuilder();
    socket.handler(b -> {
      got.append(b.toString(StandardCharsets.US_ASCII));
      if (got.length() >= 5000) {
        echoed.tryComplete(got.toString());
      }
    });
    socket.write(Buffer.buffer("x".repeat(5000)));
    assertThat(await(echoed.future())).hasSize(5000);
  }

  @Test
  void aRequestReadToItsEndLetsGoOfItsInboundQueueAndIsStillAnswered() throws Exception {
    Promise<Object[]> state = Promise.promise();
    HttpServer server = vertx.createHttpServer(new HttpServerOptions().setStrictThreadMode(true)).requestHandler(req -> {
      StringBuilder body = new StringBuilder();
      req.handler(b -> body.append(b.toString(StandardCharsets.US_ASCII)));
      req.endHandler(v -> {
        try {
          Object before = ConnectionTrim.inboundOf(req);
          ConnectionTrim.forgetInbound(req);
          state.complete(new Object[] {before, ConnectionTrim.inboundOf(req)});
        } catch (ReflectiveOperationException e) {
          state.fail(e);
        }
        // answered later, as a held request is
        vertx.setTimer(50, t -> req.response().end("got " + body));
      });
    });
    int port = await(server.listen(0, "127.0.0.1")).actualPort();
    String answer = await(vertx.createHttpClient().request(HttpMethod.POST, port, "127.0.0.1", "/")
        .compose(r -> r.send(Buffer.buffer("x".repeat(3000))))
        .compose(r -> r.body()))
        .toString(StandardCharsets.US_ASCII);
    Object[] s = await(state.future());
    assertThat(s[0]).isNotNull();
    assertThat(s[1]).isNull();
    assertThat(answer).isEqualTo("got " + "x".repeat(3000));
  }
}
