package io.xbosh.warmup;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.SocketAddress;
import io.xbosh.Xbosh;
import io.xbosh.config.XboshConfig;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Compiles and opens the request path before a pod says it is ready. A freshly started JVM
 * interprets xbosh's code and compiles it as it runs hot; on two cores the first minute of real
 * traffic pays for that several times over (BENCHMARKS.md, "Cold start"). So, while {@code /ready}
 * still answers 503, the pod runs BOSH sessions (create, SASL PLAIN, restart, bind, session, roster
 * requests, messages through held requests, terminate) through its own production path: its real
 * listener (TLS included), {@code BoshHandler}, {@code Pod}, its configured session store (Redis:
 * the real client, its connection pool, the scripts, the pod's ownership records) and its
 * connector, to a {@link WarmupXmppServer} on loopback that {@link WarmupRoute} makes the server of
 * one random domain for the warm-up's duration. The real XMPP server sees none of it.
 *
 * <p>The sessions have ids no client session can have ({@link WarmupRoute#SID_PREFIX}); each logs
 * out, and afterwards the warm-up waits until the pod holds none of them and deletes whatever they
 * left in the store (their tombstones), by those ids only. Last it opens the store's whole
 * connection pool ({@code XBOSH_REDIS_POOL_SIZE}), which a few sessions at once leave mostly
 * unopened, a share on each listener's event loop ({@link Xbosh#openStoreConnections}).
 *
 * <p>Bounded: at most {@code sessions} sessions, at most {@code seconds} (whichever comes first; a
 * failing session counts as one run, so a broken warm-up still ends on time); the clean-up after it
 * waits at most {@link #SETTLE_MS} for the last sessions to end.
 */
public final class Warmup {

  private static final Logger log = LoggerFactory.getLogger(Warmup.class);
  private static final String BOSH_NS = "xmlns='http://jabber.org/protocol/httpbind'";
  /** Roster requests and messages per warm-up session: what a client does after logging in. */
  static final int ROUND_TRIPS = 10;
  static final int MESSAGES = 5;
  /** Longest the clean-up waits for the pod to let go of the warm-up's sessions. */
  static final long SETTLE_MS = 10_000;

  /** What a warm-up did. */
  public record Report(int sessions, int failed, long millis, long compileMillis) {
  }

  private final Vertx vertx;
  private final XboshConfig config;
  private final Xbosh pod;
  private final WarmupRoute route;
  private final long deadlineNanos;
  /** the context every counter and {@link #sids} is touched on */
  private final Context context;
  /** the ids of the sessions it created, for the clean-up: at most {@code XBOSH_WARMUP_SESSIONS} */
  private final Set<String> sids = new LinkedHashSet<>();
  private HttpClientAgent http;
  private String endpoint;
  private int started;
  private int finished;
  private int failed;
  private volatile boolean stopped;

  /** A warm-up of this pod, whose listeners are up; {@link #run} starts it. */
  public Warmup(Vertx vertx, Xbosh pod, WarmupRoute route) {
    this.vertx = vertx;
    this.config = pod.config();
    this.pod = pod;
    this.route = route;
    this.context = vertx.getOrCreateContext();
    this.deadlineNanos = System.nanoTime() + config.warmup().seconds() * 1_000_000_000L;
  }

  /** Where the warm-up reaches the pod's listener: its address, loopback for a wildcard one. */
  static String listenerHost(String httpHost) {
    return switch (httpHost) {
      case "0.0.0.0", "::", "[::]", "" -> "127.0.0.1";
      default -> httpHost.contains(":") && !httpHost.startsWith("[") ? "[" + httpHost + "]" : httpHost;
    };
  }

  /** Runs it; never fails (a broken warm-up is logged and ends, and the pod is ready without it). */
  public Future<Report> run() {
    long start = System.nanoTime();
    long compileBefore = compileMillis();
    WarmupXmppServer xmpp = new WarmupXmppServer(vertx, route.domain());
    Promise<Report> report = Promise.promise();
    context.runOnContext(v -> xmpp.start()
        .compose(port -> {
          route.serve(SocketAddress.inetSocketAddress(port, "127.0.0.1"));
          return sessions();
        })
        // links still open end with the server; the pod then lets go of their sessions
        .eventually(() -> http == null ? Future.succeededFuture() : http.close())
        .eventually(xmpp::close)
        .eventually(() -> {
          route.serve(null);
          return settled(System.nanoTime() + SETTLE_MS * 1_000_000L);
        })
        .eventually(this::cleanUp)
        .eventually(pod::openStoreConnections)
        .map(ok -> new Report(finished, failed, (System.nanoTime() - start) / 1_000_000, compileMillis() - compileBefore))
        .recover(e -> {
          log.warn("warm-up failed, the pod is ready without it: {}", e.toString());
          return Future.succeededFuture(new Report(finished, failed, (System.nanoTime() - start) / 1_000_000,
              compileMillis() - compileBefore));
        })
        .onComplete(report));
    return report.future();
  }

  /** Completes once the pod owns none of the warm-up's sessions, or at {@code deadline}. */
  private Future<Void> settled(long deadline) {
    if (sids.stream().noneMatch(pod.pod()::owns)) {
      return Future.succeededFuture();
    }
    Promise<Void> done = Promise.promise();
    vertx.setPeriodic(20, t -> {
      if (sids.stream().noneMatch(pod.pod()::owns) || System.nanoTime() > deadline) {
        vertx.cancelTimer(t);
        done.complete();
      }
    });
    return done.future();
  }

  /** Deletes what the warm-up's sessions left in the store, by their ids only. */
  private Future<Void> cleanUp() {
    List<String> ours = new ArrayList<>(sids);
    long stillOwned = ours.stream().filter(pod.pod()::owns).count();
    if (stillOwned > 0) {
      log.warn("{} warm-up sessions still open {} ms after the warm-up; deleting their records anyway", stillOwned, SETTLE_MS);
    }
    if (ours.isEmpty()) {
      return Future.succeededFuture();
    }
    // from the listeners' loops, a part each: one DEL per session at once opens pooled connections
    // up to the pool's size, and they belong to the loop that sent them (Xbosh#openStoreConnections)
    int parts = Math.max(1, pod.eventLoops().size());
    List<Future<Void>> deleted = new ArrayList<>();
    for (int i = 0; i < parts; i++) {
      List<String> part = new ArrayList<>();
      for (int j = i; j < ours.size(); j += parts) {
        part.add(ours.get(j));
      }
      if (!part.isEmpty()) {
        deleted.add(pod.onListenerLoop(i, () -> pod.pod().store().deleteWarmup(part)));
      }
    }
    return Future.all(deleted).<Void>mapEmpty()
        .onFailure(e -> log.warn("deleting the warm-up's {} sessions from the store failed: {}", ours.size(), e.toString()));
  }

  /** Ends the warm-up early: sessions under way finish their current request, no new one starts. */
  public void stop() {
    stopped = true;
  }

  private static long compileMillis() {
    CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
    return jit != null && jit.isCompilationTimeMonitoringSupported() ? jit.getTotalCompilationTime() : -1;
  }

  private boolean more() {
    return !stopped && started < config.warmup().sessions() && System.nanoTime() < deadlineNanos;
  }

  private Future<Void> sessions() {
    boolean tls = config.httpTlsCert() != null;
    endpoint = (tls ? "https" : "http") + "://" + listenerHost(config.httpHost()) + ":" + pod.port() + config.httpPath();
    int concurrency = config.warmup().concurrency();
    http = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true).setSsl(tls).setTrustAll(tls)
        .setVerifyHost(false), new PoolOptions().setHttp1MaxSize(concurrency * 2 + 2));
    Promise<Void> all = Promise.promise();
    int[] running = {0};
    Runnable[] launch = new Runnable[1];
    launch[0] = () -> {
      while (running[0] < concurrency && more()) {
        running[0]++;
        new Session(started++).run().onComplete(ar -> {
          running[0]--;
          finished++;
          if (ar.failed()) {
            failed++;
            log.debug("warm-up session failed: {}", ar.cause().toString());
          }
          if (running[0] == 0 && !more()) {
            all.tryComplete();
          } else {
            launch[0].run();
          }
        });
      }
      if (running[0] == 0) {
        all.tryComplete();
      }
    };
    launch[0].run();
    return all.future();
  }

  /** One client's life, as a browser client logs in and chats (hold=1). */
  private final class Session {
    final int index;
    long rid = 1_000_000L + (long) (Math.random() * 1_000_000_000L);
    String sid;

    Session(int index) {
      this.index = index;
    }

    Future<Void> run() {
      String create = "<body " + BOSH_NS + " xmlns:xmpp='urn:xmpp:xbosh' rid='" + rid + "' to='" + route.domain()
          + "' xml:lang='en' wait='10' hold='1' ver='1.11' xmpp:version='1.0'/>";
      String auth = Base64.getEncoder().encodeToString(("\0warmup" + index + "\0warmup").getBytes(StandardCharsets.UTF_8));
      Future<String> f = post(create).compose(r -> {
        String given = attr(r, "sid");
        if (given == null) {
          return Future.failedFuture("no sid in " + r);
        }
        sid = given;
        sids.add(sid);
        if (!sid.startsWith(WarmupRoute.SID_PREFIX)) {
          // not routed to the warm-up's server: stop at once, whatever this is
          stopped = true;
          log.warn("a warm-up session was not given a warm-up id; warm-up stopped");
          return Future.failedFuture("not a warm-up session: " + sid);
        }
        return until(r, "mechanism");
      });
      f = f.compose(r -> exchange("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth>", "success"))
          .compose(r -> until(post(body(" xmlns:xmpp='urn:xmpp:xbosh' to='" + route.domain() + "' xmpp:restart='true'", "")),
              "bind"))
          .compose(r -> exchange("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
              + "<resource>warmup</resource></bind></iq>", "<jid>"))
          .compose(r -> exchange("<iq xmlns='jabber:client' type='set' id='s'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>",
              "id='s'"))
          .compose(r -> exchange("<presence xmlns='jabber:client'/>", "<presence"));
      for (int i = 0; i < ROUND_TRIPS; i++) {
        String id = "r" + i;
        f = f.compose(r -> exchange("<iq xmlns='jabber:client' type='get' id='" + id + "'><query xmlns='jabber:iq:roster'/></iq>",
            "id='" + id + "'"));
      }
      for (int i = 0; i < MESSAGES; i++) {
        String text = "m" + index + "-" + i;
        f = f.compose(r -> chat(text));
      }
      return f.compose(r -> terminate()).recover(e -> sid == null ? Future.failedFuture(e)
          : terminate().transform(ignored -> Future.failedFuture(e))).mapEmpty();
    }

    /** Logs out: the pod ends the session and lets go of its link at once. */
    Future<String> terminate() {
      return post(body(" type='terminate'", "<presence xmlns='jabber:client' type='unavailable'/>"), true);
    }

    /** A message sent while a poll is held, as a hold=1 client does; done when its echo is back. */
    Future<String> chat(String text) {
      Future<String> poll = post(body("", ""));
      Future<String> message = post(body("", "<message xmlns='jabber:client' to='echo@" + route.domain()
          + "' type='chat'><body>" + text + "</body></message>"));
      String marker = "<body>" + text + "</body>";
      return Future.all(poll, message).compose(cf -> poll.result().contains(marker) || message.result().contains(marker)
          ? Future.succeededFuture(message.result())
          : until(message.result(), marker));
    }

    Future<String> exchange(String payload, String marker) {
      return until(post(body("", payload)), marker);
    }

    Future<String> until(Future<String> response, String marker) {
      return response.compose(r -> until(r, marker));
    }

    /**
     * Polls until a response contains {@code marker} (attribute quotes as written here, single:
     * xbosh writes double ones): the answer may come in a later response.
     */
    Future<String> until(String response, String marker) {
      if (response.replace('"', '\'').contains(marker)) {
        return Future.succeededFuture(response);
      }
      if (stopped || System.nanoTime() > deadlineNanos) {
        return Future.failedFuture("warm-up over");
      }
      return post(body("", "")).compose(r -> until(r, marker));
    }

    String body(String attrs, String payload) {
      return "<body " + BOSH_NS + " sid='" + sid + "' rid='" + (++rid) + "'" + attrs + ">" + payload + "</body>";
    }

    Future<String> post(String body) {
      return post(body, false);
    }

    /** @param ending a terminate answer is the expected one (the client ends the session) */
    Future<String> post(String body, boolean ending) {
      return http.request(new RequestOptions().setMethod(HttpMethod.POST).setAbsoluteURI(endpoint).setIdleTimeout(20_000)
              .putHeader("Content-Type", "text/xml; charset=utf-8"))
          .compose(req -> req.send(Buffer.buffer(body)))
          .compose(res -> res.body().compose(b -> res.statusCode() == 200
              ? Future.succeededFuture(b.toString(StandardCharsets.UTF_8))
              : Future.failedFuture("HTTP " + res.statusCode())))
          .compose(text -> !ending && (text.contains("type='terminate'") || text.contains("type=\"terminate\""))
              ? Future.failedFuture("terminated: " + text)
              : Future.succeededFuture(text));
    }
  }

  static String attr(String xml, String name) {
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("\\s" + name + "=[\"']([^\"']*)[\"']").matcher(xml);
    return m.find() ? m.group(1) : null;
  }
}
