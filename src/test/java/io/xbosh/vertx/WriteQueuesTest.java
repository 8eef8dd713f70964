package io.xbosh.vertx;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetSocket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The small write queue on the Vert.x this build pins: a socket and an HTTP/2 stream get it and
 * still carry every write, in order, from their own loop and from other threads; an HTTP/1.x
 * connection in strict thread mode has no queue at all. Fails when a Vert.x upgrade moves the
 * fields it reaches.
 */
class WriteQueuesTest {

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
    assertThat(WriteQueues.available()).isTrue();
  }

  @Test
  void aSocketGetsTheSmallQueueAndStillCarriesEveryWriteInOrder() throws Exception {
    int writes = 2000;
    Promise<String> received = Promise.promise();
    StringBuilder got = new StringBuilder();
    NetServer server = vertx.createNetServer().connectHandler(s -> s.handler(b -> {
      got.append(b.toString(StandardCharsets.US_ASCII));
      if (got.length() >= writes * 6) {
        received.tryComplete(got.toString());
      }
    }));
    int port = await(server.listen(0, "127.0.0.1")).actualPort();
    AtomicReference<Class<?>> before = new AtomicReference<>();
    AtomicReference<Boolean> slimmed = new AtomicReference<>();
    // connected and slimmed on its event loop, as UpstreamLink does
    Promise<NetSocket> connected = Promise.promise();
    vertx.runOnContext(v -> vertx.createNetClient().connect(port, "127.0.0.1").onSuccess(s -> {
      try {
        before.set(WriteQueues.elementsOf(s));
      } catch (ReflectiveOperationException e) {
        throw new IllegalStateException(e);
      }
      slimmed.set(WriteQueues.slim(s));
    }).onComplete(connected));
    NetSocket socket = await(connected.future());
    assertThat(before.get().getSimpleName()).isEqualTo("MpscUnboundedArrayQueue");
    assertThat(slimmed.get()).isTrue();
    assertThat(WriteQueues.elementsOf(socket)).isEqualTo(ConcurrentLinkedQueue.class);
    // twice is harmless
    assertThat(WriteQueues.slim(socket)).isTrue();
    // half the writes from this (non-loop) thread, through the queue; half from the socket's loop
    for (int i = 0; i < writes / 2; i++) {
      socket.write(String.format("%05d,", i));
    }
    Promise<Void> rest = Promise.promise();
    vertx.runOnContext(v -> {
      for (int i = writes / 2; i < writes; i++) {
        socket.write(String.format("%05d,", i));
      }
      rest.complete();
    });
    await(rest.future());
    String all = received.future().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    String[] parts = all.split(",");
    assertThat(parts).hasSize(writes);
    for (int i = 0; i < writes / 2; i++) {
      assertThat(Integer.parseInt(parts[i])).isEqualTo(i);
    }
    assertThat(socket.writeQueueFull()).isFalse();
  }

  @Test
  void anHttp2StreamGetsTheSmallQueueAndAnHttp1ConnectionInStrictModeHasNone() throws Exception {
    AtomicReference<Boolean> h2Slimmed = new AtomicReference<>();
    AtomicReference<Class<?>> h2Elements = new AtomicReference<>();
    AtomicReference<Boolean> h1Slimmed = new AtomicReference<>();
    AtomicReference<Class<?>> h1Elements = new AtomicReference<>(Object.class);
    HttpServer server = vertx.createHttpServer(new HttpServerOptions().setHttp2ClearTextEnabled(true).setStrictThreadMode(true))
        .connectionHandler((HttpConnection c) -> {
          try {
            if (c instanceof io.vertx.core.net.impl.VertxConnection) {
              h1Elements.set(WriteQueues.elementsOf(c));
            }
          } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
          }
        })
        .requestHandler(req -> {
          if (req.version() == HttpVersion.HTTP_2) {
            h2Slimmed.set(WriteQueues.slim(req));
            try {
              h2Elements.set(WriteQueues.elementsOf(req));
            } catch (ReflectiveOperationException e) {
              throw new IllegalStateException(e);
            }
          } else {
            h1Slimmed.set(WriteQueues.slim(req));
          }
          // answered a moment later from a timer, as a held request is
          vertx.setTimer(20, t -> req.response().end("answer over " + req.version()));
        });
    int port = await(server.listen(0, "127.0.0.1")).actualPort();
    for (HttpVersion version : new HttpVersion[] {HttpVersion.HTTP_2, HttpVersion.HTTP_1_1}) {
      HttpClientAgent client = vertx.createHttpClient(new HttpClientOptions().setProtocolVersion(version).setHttp2ClearTextUpgrade(false));
      String body = await(client.request(new RequestOptions().setMethod(HttpMethod.POST).setHost("127.0.0.1").setPort(port).setURI("/"))
          .compose(r -> r.send(Buffer.buffer("x")))
          .compose(r -> r.body().map(b -> b.toString(StandardCharsets.UTF_8))));
      assertThat(body).isEqualTo("answer over " + version);
      await(client.close());
    }
    assertThat(h2Slimmed.get()).isTrue();
    assertThat(h2Elements.get()).isEqualTo(ConcurrentLinkedQueue.class);
    // an HTTP/1.x request has no stream queue of its own, and its strict connection no queue at all
    assertThat(h1Slimmed.get()).isFalse();
    assertThat(h1Elements.get()).isNull();
  }
}
