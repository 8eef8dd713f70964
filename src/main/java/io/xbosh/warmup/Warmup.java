package io.xbosh.warmup;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.xbosh.Xbosh;
import io.xbosh.config.XboshConfig;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Compiles the request path before a pod says it is ready. A freshly started JVM interprets
 * xbosh's code and compiles it as it runs hot; on two cores the first minute of real traffic pays
 * for that several times over (BENCHMARKS.md, "Cold start"). So, while {@code /ready} still answers
 * 503, the pod runs real BOSH sessions (create, SASL PLAIN, restart, bind, session, roster
 * requests, messages through held requests, terminate) through its own HTTP stack: a second,
 * throwaway {@link Xbosh} in the same process, with the same listener settings, bound to loopback
 * on a free port, with an in-process session store of its own and a {@link WarmupXmppServer} as
 * its XMPP server. The real store (Redis or in-process), the real XMPP server and the real
 * listener see none of it; the classes and the compiled code are the same ones real sessions use.
 *
 * <p>Bounded twice: at most {@code sessions} sessions, at most {@code seconds} (whichever comes
 * first; a failing session counts as one run, so a broken warm-up still ends on time).
 */
public final class Warmup {

  private static final Logger log = LoggerFactory.getLogger(Warmup.class);
  private static final String BOSH_NS = "xmlns='http://jabber.org/protocol/httpbind'";
  /** Roster requests and messages per warm-up session: what a client does after logging in. */
  static final int ROUND_TRIPS = 10;
  static final int MESSAGES = 5;

  /** What a warm-up did. */
  public record Report(int sessions, int failed, long millis, long compileMillis) {
  }

  private final Vertx vertx;
  private final XboshConfig config;
  private final long deadlineNanos;
  private HttpClientAgent http;
  private String endpoint;
  private int started;
  private int finished;
  private int failed;
  private volatile boolean stopped;

  /** A warm-up for a pod of this config; {@link #run} starts it. */
  public Warmup(Vertx vertx, XboshConfig config) {
    this.vertx = vertx;
    this.config = config;
    this.deadlineNanos = System.nanoTime() + config.warmup().seconds() * 1_000_000_000L;
  }

  /** The throwaway pod's config: the real listener's settings on loopback, everything behind it in process. */
  static XboshConfig podConfig(XboshConfig real, int xmppPort) {
    Map<String, Object> c = new java.util.HashMap<>();
    c.put("httpHost", "127.0.0.1");
    c.put("httpPort", 0);
    c.put("managementPort", -1);
    c.put("adminToken", null);
    c.put("redisUrl", null);
    c.put("redisCluster", false);
    c.put("redisSentinelMaster", null);
    c.put("upstream", new XboshConfig.HostPort("127.0.0.1", xmppPort));
    c.put("upstreamHosts", Map.of());
    c.put("domains", Set.of());
    c.put("routeAllow", Set.of());
    c.put("dnsServer", null);
    c.put("upstreamTls", XboshConfig.UpstreamTls.OFF);
    c.put("upstreamTrust", null);
    c.put("upstreamProxyProtocol", XboshConfig.ProxyProtocol.OFF);
    c.put("nodeId", real.nodeId() + "-warmup");
    c.put("createsPerSecond", 0);
    c.put("maxConnectionsPerAddress", 0);
    c.put("maxPreauthPerAddress", 1_000_000);
    c.put("maxHeldPerAddress", 1_000_000);
    c.put("trustForwardedFor", false);
    c.put("trustForwardedProto", false);
    c.put("drainSeconds", 0);
    c.put("warmup", new XboshConfig.Warmup(0, 0, 1));
    return real.with(c);
  }

  /** Runs it; never fails (a broken warm-up is logged and ends, and the pod is ready without it). */
  public Future<Report> run() {
    long start = System.nanoTime();
    long compileBefore = compileMillis();
    WarmupXmppServer xmpp = new WarmupXmppServer(vertx);
    Future<Report> done = xmpp.start()
        .compose(port -> Xbosh.startWarmupPod(vertx, podConfig(config, port)))
        .compose(pod -> sessions(pod).eventually(pod::stop))
        .map(v -> new Report(finished, failed, (System.nanoTime() - start) / 1_000_000, compileMillis() - compileBefore))
        .eventually(() -> http == null ? Future.succeededFuture() : http.close())
        .eventually(xmpp::close);
    return done.recover(e -> {
      log.warn("warm-up failed, the pod is ready without it: {}", e.toString());
      return Future.succeededFuture(new Report(finished, failed, (System.nanoTime() - start) / 1_000_000, compileMillis() - compileBefore));
    });
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

  private Future<Void> sessions(Xbosh pod) {
    boolean tls = config.httpTlsCert() != null;
    endpoint = (tls ? "https" : "http") + "://127.0.0.1:" + pod.port() + config.httpPath();
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
    // the counters are touched on this context only
    vertx.getOrCreateContext().runOnContext(v -> launch[0].run());
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
      String create = "<body " + BOSH_NS + " xmlns:xmpp='urn:xmpp:xbosh' rid='" + rid + "' to='" + WarmupXmppServer.DOMAIN
          + "' xml:lang='en' wait='10' hold='1' ver='1.11' xmpp:version='1.0'/>";
      String auth = Base64.getEncoder().encodeToString(("\0warmup" + index + "\0warmup").getBytes(StandardCharsets.UTF_8));
      Future<String> f = post(create).compose(r -> {
        sid = attr(r, "sid");
        if (sid == null) {
          return Future.failedFuture("no sid in " + r);
        }
        return until(r, "mechanism");
      });
      f = f.compose(r -> exchange("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth>", "success"))
          .compose(r -> until(post(body(" xmlns:xmpp='urn:xmpp:xbosh' to='" + WarmupXmppServer.DOMAIN + "' xmpp:restart='true'", "")),
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
      return f.compose(r -> post(body(" type='terminate'", "<presence xmlns='jabber:client' type='unavailable'/>"), true)).mapEmpty();
    }

    /** A message sent while a poll is held, as a hold=1 client does; done when its echo is back. */
    Future<String> chat(String text) {
      Future<String> poll = post(body("", ""));
      Future<String> message = post(body("", "<message xmlns='jabber:client' to='echo@" + WarmupXmppServer.DOMAIN
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
