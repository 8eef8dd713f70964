package io.xbosh.websocket;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.WebSocket;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.http.WebSocketConnectOptions;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/** A raw RFC 7395 client on Vert.x's WebSocket client: sends messages, queues what comes back. */
final class WsClient implements AutoCloseable {

  static final String FRAMING = "urn:ietf:params:xml:ns:xmpp-framing";
  private static final long WAIT_S = 20;

  final WebSocket ws;
  final LinkedBlockingQueue<String> received = new LinkedBlockingQueue<>();
  final CompletableFuture<Short> closed = new CompletableFuture<>();

  private WsClient(WebSocket ws) {
    this.ws = ws;
    ws.textMessageHandler(received::add);
    ws.closeHandler(v -> closed.complete(ws.closeStatusCode()));
  }

  static WebSocketConnectOptions options(int port, String path) {
    return new WebSocketConnectOptions().setHost("127.0.0.1").setPort(port).setURI(path).addSubProtocol("xmpp");
  }

  static WsClient connect(WebSocketClient client, WebSocketConnectOptions options) throws Exception {
    return new WsClient(await(client.connect(options)));
  }

  static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(WAIT_S, TimeUnit.SECONDS);
  }

  void send(String text) throws Exception {
    await(ws.writeTextMessage(text));
  }

  void sendBinary(byte[] bytes) throws Exception {
    await(ws.writeBinaryMessage(Buffer.buffer(bytes)));
  }

  /** The next message; fails after a while without one. */
  String next() throws Exception {
    String m = received.poll(WAIT_S, TimeUnit.SECONDS);
    assertThat(m).as("a message within " + WAIT_S + " s").isNotNull();
    return m;
  }

  /** Skips messages until one matches, and returns it. */
  String until(Predicate<String> p) throws Exception {
    while (true) {
      String m = next();
      if (p.test(m)) {
        return m;
      }
    }
  }

  boolean isClosed() {
    return closed.isDone();
  }

  void awaitClosed() throws Exception {
    closed.get(WAIT_S, TimeUnit.SECONDS);
  }

  static String open(String to) {
    return "<open xmlns='" + FRAMING + "' to='" + to + "' version='1.0'/>";
  }

  /** Opens the stream, checks the answer and returns the features. */
  String openStream(String to) throws Exception {
    send(open(to));
    String open = next();
    assertThat(open).startsWith("<open ").contains("xmlns=\"" + FRAMING + "\"").contains("version=\"1.0\"")
        .contains("from=\"" + to + "\"").contains(" id=\"");
    String features = next();
    assertThat(features).startsWith("<stream:features xmlns:stream=\"http://etherx.jabber.org/streams\"");
    return features;
  }

  /** Open, SASL PLAIN, restart, bind: the full login of RFC 7395 §3.5 and RFC 6120. */
  String login(String domain, String user, String password, String resource) throws Exception {
    String features = openStream(domain);
    assertThat(features).contains("<mechanism>PLAIN</mechanism>").doesNotContain("starttls");
    String auth = Base64.getEncoder().encodeToString(("\0" + user + "\0" + password).getBytes(StandardCharsets.UTF_8));
    send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth>");
    assertThat(next()).startsWith("<success xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\"");
    send(open(domain));
    assertThat(next()).startsWith("<open ").contains("xmlns=\"" + FRAMING + "\"").contains(" id=\"");
    assertThat(next()).startsWith("<stream:features").contains("urn:ietf:params:xml:ns:xmpp-bind").doesNotContain("starttls");
    send("<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + resource
        + "</resource></bind></iq>");
    String bound = next();
    assertThat(bound).contains("<jid>" + user + "@" + domain + "/" + resource + "</jid>");
    return bound;
  }

  @Override
  public void close() {
    if (!ws.isClosed()) {
      ws.close();
    }
  }
}
