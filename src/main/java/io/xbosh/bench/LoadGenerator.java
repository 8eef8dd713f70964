package io.xbosh.bench;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.http.WebSocket;
import io.vertx.core.http.WebSocketClient;
import io.vertx.core.http.WebSocketClientOptions;
import io.vertx.core.http.WebSocketConnectOptions;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Simulated BOSH clients against any BOSH endpoint (xbosh, Prosody's mod_bosh, …), on one Vert.x
 * event loop. Each client creates a session, authenticates with SASL PLAIN, restarts, binds and
 * sends presence, then long-polls like a browser client (hold=1: one request always waiting, a
 * second one when it has something to send) while the run sends messages between clients at a set
 * total rate. Every message carries its sender, its sequence number and its send time, so the run
 * counts lost and duplicated messages and measures delivery latency end to end.
 *
 * <p>With {@code ws://} URLs the clients speak XMPP over WebSocket instead (the same login, then
 * one message per WebSocket message, no polling), each client on the URL of its index in turn: RFC
 * 7395 framing ({@code <open/>}, {@code <close/>}), or with {@link WsFraming#STREAM_HEADER} the
 * older draft's {@code <stream:stream>} header in a message (node-xmpp-bosh 0.7 speaks only that).
 */
public final class LoadGenerator {

  /**
   * Who logs in where. {@code urls}: requests go to each in turn (a load balancer without
   * stickiness). {@code h2cConnections}: 0 for HTTP/1.1 (a connection per request in flight, as
   * browsers do), else HTTP/2 without TLS (h2c, prior knowledge) over that many connections per
   * server, every session's requests multiplexed on them, as a load balancer talks to the pods.
   */
  public record Options(List<URI> urls, String domain, int sessions, String userPrefix, String password, int waitSeconds,
      int loginConcurrency, WsFraming framing, int h2cConnections) {

    public Options(List<URI> urls, String domain, int sessions, String userPrefix, String password, int waitSeconds,
        int loginConcurrency) {
      this(urls, domain, sessions, userPrefix, password, waitSeconds, loginConcurrency, WsFraming.RFC7395, 0);
    }

    public Options(List<URI> urls, String domain, int sessions, String userPrefix, String password, int waitSeconds,
        int loginConcurrency, WsFraming framing) {
      this(urls, domain, sessions, userPrefix, password, waitSeconds, loginConcurrency, framing, 0);
    }

    boolean webSocket() {
      String scheme = urls.get(0).getScheme();
      return "ws".equals(scheme) || "wss".equals(scheme);
    }
  }

  /** How a WebSocket client opens its stream. */
  public enum WsFraming {
    /** RFC 7395: {@code <open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>} */
    RFC7395,
    /** draft-moffitt-xmpp-over-websocket: the c2s stream header as a message */
    STREAM_HEADER
  }

  /** What a run measured. Latencies in microseconds. */
  public record Result(int sessions, int failedLogins, long loginMs, long sent, long received, long lost, long duplicated,
      long p50, long p95, long p99, long max, double deliveredPerSecond, long httpRequests, Map<String, Long> errors) {

    public String summary() {
      return String.format("sessions=%d failedLogins=%d loginMs=%d sent=%d received=%d lost=%d duplicated=%d "
              + "p50=%.1fms p95=%.1fms p99=%.1fms max=%.1fms delivered/s=%.1f httpRequests=%d errors=%s",
          sessions, failedLogins, loginMs, sent, received, lost, duplicated, p50 / 1000.0, p95 / 1000.0, p99 / 1000.0,
          max / 1000.0, deliveredPerSecond, httpRequests, errors);
    }
  }

  private static final Pattern MESSAGE_BODY = Pattern.compile("<body>m\\|(\\d+)\\|(\\d+)\\|(\\d+)</body>");
  private static final String BOSH_NS = "xmlns='http://jabber.org/protocol/httpbind'";

  private final Vertx vertx;
  private final Options options;
  private final HttpClientAgent http;
  private final WebSocketClient webSockets;
  private final List<Client> clients = new ArrayList<>();
  private LatencyRecorder latency = new LatencyRecorder();
  private Map<String, Long> errors = new TreeMap<>();
  private int failedLogins;
  private volatile boolean closed;
  private long loginMs;
  private volatile String loginSummary = "not logged in";
  private int loginRetries;
  private long retryDelayMs;
  private long retried;
  private long sent;
  private long received;
  private long duplicated;
  private long httpRequests;
  private int next;

  public LoadGenerator(Vertx vertx, Options options) {
    this.vertx = vertx;
    this.options = options;
    this.http = options.h2cConnections() > 0 ? h2c(vertx, options)
        : vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true),
            new PoolOptions().setHttp1MaxSize(Math.max(8, options.sessions() * 2 + 8)).setMaxWaitQueueSize(-1));
    this.webSockets = vertx.createWebSocketClient(new WebSocketClientOptions().setTcpNoDelay(true)
        .setMaxConnections(Math.max(8, options.sessions() + 8)));
  }

  /**
   * HTTP/2 prior knowledge over {@code h2cConnections} connections per server: each carries at most
   * its share of the requests in flight (a held poll per session, a second one while it sends), so
   * the pool opens them all rather than piling every stream on the first.
   */
  private static HttpClientAgent h2c(Vertx vertx, Options options) {
    int n = options.h2cConnections();
    int share = Math.max(1, (options.sessions() * 2 + n - 1) / n + 1);
    return vertx.createHttpClient(new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2).setHttp2ClearTextUpgrade(false)
            .setTcpNoDelay(true).setHttp2MultiplexingLimit(share).setHttp2KeepAliveTimeout(3600),
        new PoolOptions().setHttp2MaxSize(n).setMaxWaitQueueSize(-1));
  }

  /** Creates and logs in every client; completes when all are in (or failed). */
  public Future<Void> login() {
    return login(0, 0);
  }

  /**
   * The same, but a client whose login fails starts again with a new session after {@code retryDelayMs},
   * up to {@code retries} times: on a machine loaded enough that the XMPP server answers a
   * connection later than the pod's connect timeout, a browser would try again too.
   */
  public Future<Void> login(int retries, long retryDelayMs) {
    this.loginRetries = Math.max(0, retries);
    this.retryDelayMs = Math.max(0, retryDelayMs);
    Promise<Void> done = Promise.promise();
    vertx.runOnContext(v -> {
      long start = System.nanoTime();
      for (int i = 0; i < options.sessions(); i++) {
        clients.add(options.webSocket() ? new WsClient(i) : new Client(i));
      }
      loginAll().onComplete(ar -> {
        loginMs = (System.nanoTime() - start) / 1_000_000;
        failedLogins = (int) clients.stream().filter(c -> !c.ready).count();
        loginSummary = summarizeLogins();
        done.complete();
      });
    });
    return done.future();
  }

  /**
   * One measured phase: messages at {@code rate} per second in total for {@code durationMs} (rate 0:
   * the sessions only long-poll), then up to {@code settleMs} for what is in flight to arrive.
   */
  public Future<Result> phase(double rate, long durationMs, long settleMs) {
    Promise<Result> done = Promise.promise();
    vertx.runOnContext(v -> {
      sent = 0;
      received = 0;
      duplicated = 0;
      httpRequests = 0;
      latency = new LatencyRecorder();
      errors = new TreeMap<>();
      exchange(rate, durationMs, settleMs).onComplete(x -> done.complete(result(durationMs)));
    });
    return done.future();
  }

  /** After {@link #login()}: how many clients got in, how long the logins took, and why some failed. */
  public String loginSummary() {
    return loginSummary;
  }

  private String summarizeLogins() {
    // a terminate's text carries its sid: every such error is a kind of its own, so name a few
    String some = errors.entrySet().stream().limit(5)
        .map(e -> e.getValue() + "x " + e.getKey().substring(0, Math.min(160, e.getKey().length())))
        .collect(java.util.stream.Collectors.joining("; "));
    return String.format("%d of %d sessions, %d failed, %d ms, %d logins retried, errors (%d kinds) %s",
        clients.size() - failedLogins, clients.size(), failedLogins, loginMs, retried, errors.size(),
        errors.isEmpty() ? "none" : some);
  }

  /** Stops the clients (their outstanding requests fail quietly) and closes the HTTP and WebSocket clients. */
  public Future<Void> close() {
    closed = true;
    return Future.join(http.close(), webSockets.close()).mapEmpty();
  }

  private Result result(long durationMs) {
    double seconds = Math.max(durationMs, 1) / 1000.0;
    return new Result(clients.size(), failedLogins, loginMs, sent, received, sent - received, duplicated,
        latency.percentile(50), latency.percentile(95), latency.percentile(99), latency.max(), received / seconds,
        httpRequests, java.util.Collections.unmodifiableMap(new TreeMap<>(errors)));
  }

  private void error(String kind) {
    errors.merge(kind, 1L, Long::sum);
  }

  // ---- logging in, a bounded number at a time

  private Future<Void> loginAll() {
    Promise<Void> all = Promise.promise();
    int[] started = {0};
    int[] finished = {0};
    Runnable[] launch = new Runnable[1];
    launch[0] = () -> {
      while (started[0] < clients.size() && started[0] - finished[0] < options.loginConcurrency()) {
        Client c = clients.get(started[0]++);
        loginWithRetries(c, loginRetries).onComplete(ar -> {
          if (ar.failed()) {
            error("login: " + ar.cause().getMessage());
          }
          finished[0]++;
          if (finished[0] == clients.size()) {
            all.complete();
          } else {
            launch[0].run();
          }
        });
      }
    };
    if (clients.isEmpty()) {
      all.complete();
    } else {
      launch[0].run();
    }
    return all.future();
  }

  private Future<Void> loginWithRetries(Client c, int retriesLeft) {
    return c.login().recover(e -> {
      if (retriesLeft <= 0 || closed) {
        return Future.failedFuture(e);
      }
      retried++;
      Promise<Void> again = Promise.promise();
      vertx.setTimer(Math.max(1, retryDelayMs), t -> loginWithRetries(c, retriesLeft - 1).onComplete(again));
      return again.future();
    });
  }

  // ---- the exchange: messages at a total rate, each to another client

  private Future<Void> exchange(double rate, long durationMs, long settleMs) {
    Promise<Void> done = Promise.promise();
    List<Client> ready = clients.stream().filter(c -> c.ready).toList();
    if (rate <= 0 || ready.size() < 2) {
      // idle: the sessions stay open, long-polling, for the duration
      vertx.setTimer(Math.max(durationMs, 1), t -> done.complete());
      return done.future();
    }
    long start = System.nanoTime();
    double[] due = {0};
    long tick = vertx.setPeriodic(5, t -> {
      double elapsed = (System.nanoTime() - start) / 1e9;
      due[0] = rate * elapsed;
      while (sent < (long) due[0]) {
        Client from = ready.get(next++ % ready.size());
        Client to = ready.get((from.index + 1 + ThreadLocalRandom.current().nextInt(ready.size() - 1)) % ready.size());
        from.send(to);
      }
    });
    vertx.setTimer(durationMs, t -> {
      vertx.cancelTimer(tick);
      // let what is in flight arrive, then stop
      long deadline = System.nanoTime() + settleMs * 1_000_000L;
      vertx.setPeriodic(50, p -> {
        if (received + duplicated >= sent || System.nanoTime() > deadline) {
          vertx.cancelTimer(p);
          done.complete();
        }
      });
    });
    return done.future();
  }

  // ---- one simulated client

  private class Client {
    final int index;
    final String user;
    final Map<Integer, BitSet> seen = new java.util.HashMap<>();
    final ArrayDeque<String> pending = new ArrayDeque<>();
    String sid;
    String jid;
    long rid = ThreadLocalRandom.current().nextLong(1_000_000, 1_000_000_000L);
    int outstanding;
    int seq;
    boolean ready;

    Client(int index) {
      this.index = index;
      this.user = options.userPrefix() + index;
    }

    URI endpoint() {
      return options.urls().get((int) (httpRequests % options.urls().size()));
    }

    Future<String> post(String body) {
      httpRequests++;
      URI to = endpoint();
      return http.request(new RequestOptions().setMethod(HttpMethod.POST).setAbsoluteURI(to.toString())
              .putHeader("Content-Type", "text/xml; charset=utf-8"))
          .compose(req -> req.send(Buffer.buffer(body)))
          .compose(res -> res.body().map(b -> {
            if (res.statusCode() != 200) {
              throw new IllegalStateException("HTTP " + res.statusCode());
            }
            return b.toString(StandardCharsets.UTF_8);
          }))
          .map(text -> {
            if (text.contains("type=\"terminate\"") || text.contains("type='terminate'")) {
              throw new IllegalStateException("terminated: " + text);
            }
            return text;
          });
    }

    String body(String attrs, String payload) {
      return "<body " + BOSH_NS + " sid='" + sid + "' rid='" + (++rid) + "'" + attrs + ">" + payload + "</body>";
    }

    Future<Void> login() {
      String create = "<body " + BOSH_NS + " xmlns:xmpp='urn:xmpp:xbosh' rid='" + rid + "' to='" + options.domain()
          + "' xml:lang='en' wait='" + options.waitSeconds() + "' hold='1' ver='1.11' xmpp:version='1.0'/>";
      String auth = Base64.getEncoder().encodeToString(("\0" + user + "\0" + options.password()).getBytes(StandardCharsets.UTF_8));
      return post(create)
          .compose(r -> {
            sid = attr(r, "sid");
            if (sid == null) {
              throw new IllegalStateException("no sid");
            }
            return until(r, "mechanism");
          })
          .compose(r -> post(body("", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth>")))
          .compose(r -> until(r, "success"))
          .compose(r -> post(body(" xmlns:xmpp='urn:xmpp:xbosh' to='" + options.domain() + "' xmpp:restart='true'", "")))
          .compose(r -> until(r, "bind"))
          .compose(r -> post(body("", "<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
              + "<resource>load</resource></bind></iq>")))
          .compose(r -> until(r, "<jid>"))
          .compose(r -> {
            Matcher m = Pattern.compile("<jid>([^<]+)</jid>").matcher(r);
            jid = m.find() ? m.group(1) : user + "@" + options.domain() + "/load";
            return post(body("", "<presence xmlns='jabber:client'/>"));
          })
          .map(r -> {
            onPayload(r);
            ready = true;
            pump();
            return null;
          });
    }

    /** Polls until a response contains {@code marker}: a server may answer in a later response. */
    Future<String> until(String response, String marker) {
      if (response.contains(marker)) {
        return Future.succeededFuture(response);
      }
      return post(body("", "")).compose(r -> until(r, marker));
    }

    void send(Client to) {
      int s = seq++;
      sent++;
      pending.add("<message xmlns='jabber:client' to='" + to.jid + "' type='chat'><body>m|" + index + "|" + s + "|"
          + System.nanoTime() + "</body></message>");
      pump();
    }

    /** hold=1: one request always waiting for the server, a second one to send what is pending. */
    void pump() {
      if (!ready || closed) {
        return;
      }
      while (outstanding < 2 && (outstanding == 0 || !pending.isEmpty())) {
        StringBuilder payload = new StringBuilder();
        while (!pending.isEmpty()) {
          payload.append(pending.poll());
        }
        outstanding++;
        post(body("", payload.toString())).onComplete(ar -> {
          outstanding--;
          if (ar.succeeded()) {
            onPayload(ar.result());
          } else if (!closed) {
            String why = String.valueOf(ar.cause().getMessage());
            boolean ended = why.startsWith("terminated");
            error(ended ? "terminated" : why);
            ready = ready && !ended;
          }
          pump();
        });
      }
    }

    void onPayload(String response) {
      Matcher m = MESSAGE_BODY.matcher(response);
      long now = System.nanoTime();
      while (m.find()) {
        int from = Integer.parseInt(m.group(1));
        int s = Integer.parseInt(m.group(2));
        long at = Long.parseLong(m.group(3));
        BitSet b = seen.computeIfAbsent(from, k -> new BitSet());
        if (b.get(s)) {
          duplicated++;
        } else {
          b.set(s);
          received++;
          latency.record((now - at) / 1000);
        }
      }
    }
  }

  /** One simulated WebSocket client: the same login as over BOSH, then each stanza in a message of its own. */
  private final class WsClient extends Client {
    private static final long LOGIN_STEP_MS = 60_000;
    private WebSocket ws;
    /** during the login: the answer awaited, and the text it contains */
    private Promise<String> awaited;
    private String marker;

    WsClient(int index) {
      super(index);
    }

    private String open() {
      return options.framing() == WsFraming.STREAM_HEADER
          ? "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='" + options.domain()
              + "' version='1.0'>"
          : "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='" + options.domain() + "' version='1.0'/>";
    }

    /** Sends a message and completes with the first message from the server that contains {@code marker}. */
    private Future<String> exchange(String message, String marker) {
      Promise<String> answer = Promise.promise();
      awaited = answer;
      this.marker = marker;
      long timer = vertx.setTimer(LOGIN_STEP_MS, t -> answer.tryFail("no answer with " + marker + " within " + LOGIN_STEP_MS + " ms"));
      answer.future().onComplete(x -> vertx.cancelTimer(timer));
      ws.writeTextMessage(message).onFailure(e -> {
        if (awaited != null) {
          awaited.tryFail(e);
        }
      });
      return answer.future();
    }

    @Override
    Future<Void> login() {
      URI to = options.urls().get(index % options.urls().size());
      String auth = Base64.getEncoder().encodeToString(("\0" + user + "\0" + options.password()).getBytes(StandardCharsets.UTF_8));
      return webSockets.connect(new WebSocketConnectOptions().setAbsoluteURI(to.toString()).addSubProtocol("xmpp"))
          .compose(w -> {
            ws = w;
            w.textMessageHandler(this::onMessage);
            w.closeHandler(v -> {
              if (!closed) {
                error(ready ? "closed" : "closed during login");
              }
              ready = false;
              if (awaited != null) {
                awaited.tryFail("closed");
              }
            });
            return exchange(open(), "mechanism");
          })
          .compose(r -> exchange("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth>", "success"))
          .compose(r -> exchange(open(), "urn:ietf:params:xml:ns:xmpp-bind"))
          .compose(r -> exchange("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
              + "<resource>load</resource></bind></iq>", "<jid>"))
          .map(r -> {
            awaited = null;
            Matcher m = Pattern.compile("<jid>([^<]+)</jid>").matcher(r);
            jid = m.find() ? m.group(1) : user + "@" + options.domain() + "/load";
            ws.writeTextMessage("<presence xmlns='jabber:client'/>");
            ready = true;
            pump();
            return null;
          });
    }

    private void onMessage(String text) {
      if (awaited != null) {
        if (text.contains(marker)) {
          awaited.tryComplete(text);
        }
        return;
      }
      onPayload(text);
    }

    /** Each pending stanza goes out at once, in a message of its own (RFC 7395 §3.3.3). */
    @Override
    void pump() {
      if (!ready || closed) {
        return;
      }
      while (!pending.isEmpty()) {
        ws.writeTextMessage(pending.poll()).onFailure(e -> error("write: " + e.getMessage()));
      }
    }
  }

  static String attr(String xml, String name) {
    Matcher m = Pattern.compile("\\s" + Pattern.quote(name) + "=[\"']([^\"']*)[\"']").matcher(xml);
    return m.find() ? m.group(1) : null;
  }
}
