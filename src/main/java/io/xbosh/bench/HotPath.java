package io.xbosh.bench;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The hot path of one client on one persistent HTTP/1.1 connection, measured request by request:
 * SASL PLAIN (the request carrying {@code <auth/>} until the response with {@code <success/>}), the
 * stream restart (until the new stream's features), and warm iq round trips (one request carrying
 * an XMPP ping until the response with its result). No request is held in between, so each round
 * trip is exactly what the endpoint adds to the server's own answer time. A blocking client on a
 * raw socket keeps the generator's own cost out of the numbers.
 *
 * <pre>
 * java -cp target/xbosh.jar io.xbosh.bench.HotPath --url http://127.0.0.1:5280/http-bind --domain localhost
 *     --user u0 --password pw [--logins 100] [--warmup 10000] [--iqs 3000] [--pad BYTES] [--pid name=P]... [--label L]
 * </pre>
 *
 * Prints one line: label, auth p50, restart p50, iq p50/p99 (ms), and CPU ms per 1,000 iq round
 * trips of every {@code --pid} (read from /proc around the measured iqs).
 */
public final class HotPath {

  private static final String BOSH_NS = "xmlns='http://jabber.org/protocol/httpbind'";
  private static final Pattern SID = Pattern.compile("\\ssid=[\"']([^\"']+)[\"']");

  private final URI url;
  private final String domain;
  private Socket socket;
  private InputStream in;
  private OutputStream out;
  private String sid;
  private long rid;
  /** an element of the requested size in each ping, which the server ignores: client payload volume */
  private String pad = "";

  private HotPath(URI url, String domain) {
    this.url = url;
    this.domain = domain;
  }

  public static void main(String[] args) throws Exception {
    String urlArg = null;
    String domain = "localhost";
    String user = "u0";
    String password = "pw";
    String label = "target";
    int logins = 100;
    int warmup = 10000;
    int iqs = 3000;
    int pad = 0;
    List<Long> pids = new ArrayList<>();
    List<String> names = new ArrayList<>();
    for (int i = 0; i < args.length; i += 2) {
      String v = args[i + 1];
      switch (args[i]) {
        case "--url" -> urlArg = v;
        case "--domain" -> domain = v;
        case "--user" -> user = v;
        case "--password" -> password = v;
        case "--label" -> label = v;
        case "--logins" -> logins = Integer.parseInt(v);
        case "--warmup" -> warmup = Integer.parseInt(v);
        case "--iqs" -> iqs = Integer.parseInt(v);
        case "--pad" -> pad = Integer.parseInt(v);
        case "--pid" -> {
          // name=pid or pid
          int eq = v.indexOf('=');
          names.add(eq < 0 ? v : v.substring(0, eq));
          pids.add(Long.parseLong(eq < 0 ? v : v.substring(eq + 1)));
        }
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    HotPath h = new HotPath(URI.create(urlArg), domain);
    h.pad = pad == 0 ? "" : "<pad xmlns='urn:xbosh:bench'>" + "x".repeat(pad) + "</pad>";
    h.connect();
    h.login(user, password);
    for (int i = 0; i < warmup; i++) {
      h.ping(i);
    }
    double[] cpuBefore = new double[pids.size()];
    for (int i = 0; i < pids.size(); i++) {
      cpuBefore[i] = ProcessStats.cpuSeconds(pids.get(i));
    }
    double[] rtt = new double[iqs];
    long start = System.nanoTime();
    for (int i = 0; i < iqs; i++) {
      long t0 = System.nanoTime();
      h.ping(warmup + i);
      rtt[i] = (System.nanoTime() - t0) / 1e6;
    }
    double wall = (System.nanoTime() - start) / 1e9;
    StringBuilder cpu = new StringBuilder();
    for (int i = 0; i < pids.size(); i++) {
      double ms = (ProcessStats.cpuSeconds(pids.get(i)) - cpuBefore[i]) * 1000;
      cpu.append(String.format(Locale.ROOT, " cpu_%s=%.0fms/1000", names.get(i), ms * 1000 / iqs));
    }
    h.terminate();
    // logins after the iqs, each a new session on the same connection, so what they share with the
    // iqs is warm; the later half only counts: the first ones warm up what only logins run
    double[] auth = new double[logins];
    double[] restart = new double[logins];
    for (int i = 0; i < logins; i++) {
      double[] t = h.login(user, password);
      auth[i] = t[0];
      restart[i] = t[1];
      h.terminate();
    }
    // the later half of the logins: the first ones pay for JIT warm-up on both sides
    double[] authWarm = Arrays.copyOfRange(auth, logins / 2, logins);
    double[] restartWarm = Arrays.copyOfRange(restart, logins / 2, logins);
    System.out.println(String.format(Locale.ROOT,
        "%s auth_p50=%.2f restart_p50=%.2f iq_p50=%.3f iq_p99=%.3f iqs=%d wall_s=%.1f%s",
        label, pct(authWarm, 50), pct(restartWarm, 50), pct(rtt, 50), pct(rtt, 99), iqs, wall, cpu));
  }

  static double pct(double[] v, double p) {
    double[] s = v.clone();
    Arrays.sort(s);
    int i = (int) Math.ceil(p / 100.0 * s.length) - 1;
    return s[Math.max(0, Math.min(s.length - 1, i))];
  }

  private void connect() throws IOException {
    socket = new Socket();
    socket.setTcpNoDelay(true);
    socket.connect(new InetSocketAddress(url.getHost(), url.getPort()));
    in = new BufferedInputStream(socket.getInputStream(), 65536);
    out = socket.getOutputStream();
  }

  /** @return milliseconds of auth and of restart */
  private double[] login(String user, String password) throws IOException {
    rid = ThreadLocalRandom.current().nextLong(1_000_000, 1_000_000_000L);
    String r = post("<body " + BOSH_NS + " xmlns:xmpp='urn:xmpp:xbosh' rid='" + rid + "' to='" + domain
        + "' xml:lang='en' wait='60' hold='1' ver='1.11' xmpp:version='1.0'/>");
    Matcher m = SID.matcher(r);
    if (!m.find()) {
      throw new IllegalStateException("no sid: " + r);
    }
    sid = m.group(1);
    until(r, "mechanism");
    String plain = Base64.getEncoder().encodeToString(("\0" + user + "\0" + password).getBytes(StandardCharsets.UTF_8));
    long t0 = System.nanoTime();
    until(post(body("", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + plain + "</auth>")), "success");
    long t1 = System.nanoTime();
    until(post(body(" xmlns:xmpp='urn:xmpp:xbosh' to='" + domain + "' xmpp:restart='true'", "")), "bind");
    long t2 = System.nanoTime();
    until(post(body("", "<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
        + "<resource>hot</resource></bind></iq>")), "<jid>");
    until(post(body("", "<iq xmlns='jabber:client' type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")), "s1");
    return new double[] {(t1 - t0) / 1e6, (t2 - t1) / 1e6};
  }

  private void ping(int n) throws IOException {
    String id = "p" + n;
    until(post(body("", "<iq xmlns='jabber:client' type='get' id='" + id + "' to='" + domain
        + "'><ping xmlns='urn:xmpp:ping'/>" + pad + "</iq>")), "'" + id + "'", "\"" + id + "\"");
  }

  private void terminate() throws IOException {
    post(body(" type='terminate'", "<presence xmlns='jabber:client' type='unavailable'/>"));
  }

  private String body(String attrs, String payload) {
    return "<body " + BOSH_NS + " sid='" + sid + "' rid='" + (++rid) + "'" + attrs + ">" + payload + "</body>";
  }

  /** Polls until a response contains one of the markers: a server may answer in a later response. */
  private String until(String response, String... markers) throws IOException {
    String r = response;
    for (int i = 0; i < 100; i++) {
      for (String marker : markers) {
        if (r.contains(marker)) {
          return r;
        }
      }
      if (r.contains("type='terminate'") || r.contains("type=\"terminate\"")) {
        throw new IllegalStateException("terminated: " + r);
      }
      r = post(body("", ""));
    }
    throw new IllegalStateException("no " + markers[0] + " in 100 responses");
  }

  private String post(String xml) throws IOException {
    byte[] b = xml.getBytes(StandardCharsets.UTF_8);
    String head = "POST " + url.getRawPath() + " HTTP/1.1\r\nHost: " + url.getHost() + ":" + url.getPort()
        + "\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: " + b.length + "\r\n\r\n";
    ByteArrayOutputStream req = new ByteArrayOutputStream(head.length() + b.length);
    req.write(head.getBytes(StandardCharsets.US_ASCII));
    req.write(b);
    out.write(req.toByteArray());
    out.flush();
    return readResponse();
  }

  private String readResponse() throws IOException {
    String status = line();
    if (!status.startsWith("HTTP/1.1 200")) {
      throw new IllegalStateException("HTTP: " + status);
    }
    int length = -1;
    boolean chunked = false;
    for (String l = line(); !l.isEmpty(); l = line()) {
      String lower = l.toLowerCase(Locale.ROOT);
      if (lower.startsWith("content-length:")) {
        length = Integer.parseInt(lower.substring(15).trim());
      } else if (lower.startsWith("transfer-encoding:") && lower.contains("chunked")) {
        chunked = true;
      }
    }
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    if (chunked) {
      for (int n = Integer.parseInt(line().trim(), 16); n > 0; n = Integer.parseInt(line().trim(), 16)) {
        body.write(in.readNBytes(n));
        line();
      }
      line();
    } else {
      body.write(in.readNBytes(length));
    }
    return body.toString(StandardCharsets.UTF_8);
  }

  private String line() throws IOException {
    StringBuilder sb = new StringBuilder();
    for (int c = in.read(); c != '\n'; c = in.read()) {
      if (c < 0) {
        throw new IOException("connection closed");
      }
      if (c != '\r') {
        sb.append((char) c);
      }
    }
    return sb.toString();
  }
}
