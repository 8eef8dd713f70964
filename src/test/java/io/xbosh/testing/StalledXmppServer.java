package io.xbosh.testing;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;

/**
 * A raw TCP XMPP server for one connection that stops reading: it reads the stream header, answers
 * with its own and empty SASL features, then reads nothing (its receive buffer is small) until
 * {@link #startReading()}; then it records everything it receives.
 */
public final class StalledXmppServer implements AutoCloseable {

  public static final String HEADER = "<?xml version='1.0'?><stream:stream xmlns='jabber:client'"
      + " xmlns:stream='http://etherx.jabber.org/streams' id='stalled1' from='stalled.test' version='1.0'>";
  public static final String FEATURES = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
      + "</mechanisms></stream:features>";

  private final ServerSocket listener;
  private final CountDownLatch reading = new CountDownLatch(1);
  private final ByteArrayOutputStream received = new ByteArrayOutputStream();

  public StalledXmppServer() throws Exception {
    listener = new ServerSocket();
    listener.setReceiveBufferSize(4096);
    listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    Thread thread = new Thread(this::serve, "stalled-xmpp-server");
    thread.setDaemon(true);
    thread.start();
  }

  public int port() {
    return listener.getLocalPort();
  }

  public void startReading() {
    reading.countDown();
  }

  private void serve() {
    try (Socket s = listener.accept()) {
      InputStream in = s.getInputStream();
      OutputStream out = s.getOutputStream();
      byte[] buf = new byte[8192];
      StringBuilder header = new StringBuilder();
      while (!header.toString().matches("(?s).*<stream:stream[^>]*>.*")) {
        int n = in.read(buf);
        if (n < 0) {
          return;
        }
        header.append(new String(buf, 0, n, StandardCharsets.UTF_8));
      }
      out.write((HEADER + FEATURES).getBytes(StandardCharsets.UTF_8));
      out.flush();
      reading.await();
      int n;
      while ((n = in.read(buf)) >= 0) {
        synchronized (received) {
          received.write(buf, 0, n);
        }
      }
    } catch (Exception e) {
      // the listener was closed: the test is over
    }
  }

  /** What the server read after it started reading. */
  public String received() {
    synchronized (received) {
      return received.toString(StandardCharsets.UTF_8);
    }
  }

  @Override
  public void close() throws Exception {
    reading.countDown();
    listener.close();
  }
}
