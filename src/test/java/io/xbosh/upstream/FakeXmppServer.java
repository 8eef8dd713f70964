package io.xbosh.upstream;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.NetServer;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.SocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A local XMPP server good for one link at a time: it answers a stream header with its own and
 * empty features, records what it receives, and lets a test write whatever it likes, a stream
 * error followed by an immediate close included.
 */
final class FakeXmppServer implements AutoCloseable {

  static final String HEADER = "<?xml version='1.0'?><stream:stream xmlns='jabber:client'"
      + " xmlns:stream='http://etherx.jabber.org/streams' id='fake1' from='fake.test' version='1.0'>";
  static final String FEATURES = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
      + "</mechanisms></stream:features>";

  private final NetServer server;
  private final StringBuffer received = new StringBuffer();
  private volatile CompletableFuture<NetSocket> socket = new CompletableFuture<>();
  private volatile boolean closedByPeer;

  /** @param afterFeatures written right behind the features, in the same write ("" for nothing) */
  FakeXmppServer(Vertx vertx, String afterFeatures) throws Exception {
    server = vertx.createNetServer().connectHandler(sock -> {
      socket.complete(sock);
      sock.closeHandler(v -> closedByPeer = true);
      sock.handler(buf -> {
        String s = buf.toString();
        received.append(s);
        if (s.contains("<stream:stream")) {
          sock.write(HEADER + FEATURES + afterFeatures);
        }
      });
    }).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS);
  }

  SocketAddress address() {
    return SocketAddress.inetSocketAddress(server.actualPort(), "127.0.0.1");
  }

  String received() {
    return received.toString();
  }

  boolean closedByPeer() {
    return closedByPeer;
  }

  /** The server's side of the link once a client connected. */
  NetSocket socket() throws Exception {
    return socket.get(10, TimeUnit.SECONDS);
  }

  void write(String data) throws Exception {
    NetSocket s = socket();
    s.write(data);
  }

  /** Writes and closes the connection in one go: data and FIN reach the client together. */
  void writeAndClose(String data) throws Exception {
    socket().end(Buffer.buffer(data));
  }

  @Override
  public void close() throws Exception {
    server.close().await(10, TimeUnit.SECONDS);
  }
}
