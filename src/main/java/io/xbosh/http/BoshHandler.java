package io.xbosh.http;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.http.HttpVersion;
import io.vertx.ext.web.RoutingContext;
import io.xbosh.pod.HeldRequest;
import io.xbosh.pod.Pod;
import io.xbosh.protocol.BodyParser;
import io.xbosh.protocol.BodyWriter;
import io.xbosh.protocol.BoshBody;
import io.micrometer.core.instrument.Timer;
import io.xbosh.metrics.XboshMetrics;
import io.xbosh.protocol.BoshException;
import io.xbosh.protocol.BoshValues;
import io.xbosh.protocol.Namespaces;
import io.xbosh.protocol.Negotiator;
import io.xbosh.protocol.ScriptContent;
import io.xbosh.protocol.SessionParams;
import io.xbosh.protocol.TerminateCondition;
import io.xbosh.session.Accepted;
import io.xbosh.session.Forward;
import io.xbosh.session.RequestFlags;
import io.xbosh.session.SessionRecord;
import io.xbosh.session.SessionStore;
import io.xbosh.session.StreamRequest;
import io.xbosh.upstream.Connector;
import io.xbosh.upstream.Link;
import io.xbosh.upstream.SessionLinks;
import io.xbosh.upstream.StreamOpened;
import io.xbosh.vertx.ConnectionTrim;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The BOSH endpoint. Every answer on this path is a {@code <body/>} with a Content-Length (B-03);
 * HTTP error statuses are used only for transport problems (wrong method, oversized body, pod at
 * capacity) and for legacy clients (B-52).
 */
public final class BoshHandler implements Handler<RoutingContext> {

  private static final Logger log = LoggerFactory.getLogger(BoshHandler.class);
  private static final SecureRandom RANDOM = new SecureRandom();

  /**
   * Limits the handler applies.
   *
   * @param maxPause   the {@code maxpause} advertised to clients, seconds; 0: pausing is off
   * @param maxStreams streams a session may have open (XEP-0124 §16); 1: multiple streams are off
   * @param trustForwardedProto whether {@code X-Forwarded-Proto: https} means the request came encrypted
   * @param trustForwardedFor   whether the last address of {@code X-Forwarded-For} is the client's
   * @param preauthSeconds      how long a new session may take to authenticate
   */
  public record Settings(int maxBodyBytes, int maxPause, int maxStreams, Set<String> corsOrigins, boolean trustForwardedProto,
      boolean trustForwardedFor, int preauthSeconds) {

    boolean streams() {
      return maxStreams > 1;
    }
  }

  /** Methods of the BOSH path: POST (XEP-0124 §5), GET (script syntax, XEP-0252), OPTIONS (CORS). */
  static final String METHODS = "GET, POST, OPTIONS";

  private static final java.util.regex.Pattern KEY = RequestFlags.KEY;
  /** XEP-0124 §16.4: stream names xbosh hands out are base64url; anything else names no stream of it. */
  private static final java.util.regex.Pattern STREAM = RequestFlags.STREAM;

  /** How often a draining pod asks again whether a request's turn to be answered has come. */
  private static final long IN_ORDER_RETRY_MS = 200;
  /**
   * How long an overactivity refusal waits for a racing abandon (a reloaded page's closed request,
   * XEP-0124 §11) before it ends the session; well below the default {@code polling} (2 s), so an
   * empty request sent that soon after the previous one is still refused.
   */
  static final long ABANDON_GRACE_MS = 500;

  private final Pod pod;
  private final BodyParser parser;
  private final Negotiator negotiator;
  private final Connector connector;
  private final Settings settings;
  private final ClientLimits limits;
  /** the ends of every held request's wait: each knows its session and rid (no pair of lambdas per request) */
  private final java.util.function.Consumer<HeldRequest> waitOver = h -> release(h.sid(), h.rid(), h);
  private final java.util.function.Consumer<HeldRequest> abandoned = h -> abandon(h.sid(), h.rid(), h);

  public BoshHandler(Pod pod, BodyParser parser, Negotiator negotiator, Connector connector, Settings settings, ClientLimits limits) {
    this.pod = pod;
    this.parser = parser;
    this.negotiator = negotiator;
    this.connector = connector;
    this.settings = settings;
    this.limits = limits;
  }

  @Override
  public void handle(RoutingContext ctx) {
    handle(ctx.request(), ClientAddress.of(ctx.request(), settings.trustForwardedFor()), null);
  }

  /**
   * A request on the BOSH path.
   *
   * @param address the client's address ({@link ClientAddress})
   * @param ended   called once when the response has ended or its connection closed before; may be null
   */
  public void handle(HttpServerRequest req, String address, Handler<Void> ended) {
    HttpServerResponse res = req.response();
    Ending slot = new Ending(limits, address, ended);
    res.endHandler(slot);
    boolean crossOrigin = cors(req, res);
    if (req.method() == HttpMethod.OPTIONS) {
      if (crossOrigin) {
        // preflight: browsers send text/xml bodies with a Content-Type header, which needs asking
        res.putHeader(HttpHeaders.ACCESS_CONTROL_ALLOW_METHODS, METHODS)
            .putHeader(HttpHeaders.ACCESS_CONTROL_ALLOW_HEADERS, "Content-Type, Content-Encoding")
            .putHeader(HttpHeaders.ACCESS_CONTROL_MAX_AGE, "86400");
      }
      res.putHeader(HttpHeaders.ALLOW, METHODS).setStatusCode(204).end();
      return;
    }
    // XEP-0252: a GET with the body after '?' is script syntax
    boolean script = req.method() == HttpMethod.GET && req.query() != null && !req.query().isEmpty();
    Reply reply = Reply.of(req, script);
    if (req.method() != HttpMethod.POST && !script) {
      // XEP-0124 §5: requests are POSTs
      res.putHeader(HttpHeaders.ALLOW, METHODS);
      pod.metrics().request("method_not_allowed");
      reply.write(res, 405, Negotiator.DEFAULT_CONTENT, terminateBody(TerminateCondition.BAD_REQUEST, ""));
      return;
    }
    String length = req.getHeader(HttpHeaders.CONTENT_LENGTH);
    if (length != null && length.length() < 12 && length.chars().allMatch(Character::isDigit)
        && Long.parseLong(length) > settings.maxBodyBytes()) {
      tooLarge(res, reply);
      return;
    }
    if (pod.atHeldCapacity()) {
      pod.metrics().request("overloaded");
      res.putHeader("Retry-After", "1");
      reply.write(res, 503, Negotiator.DEFAULT_CONTENT, BodyWriter.recoverableError());
      return;
    }
    if (!limits.requestStarted(address)) {
      // one address may not hold the pod's capacity for everyone else
      pod.metrics().request("overloaded_address");
      res.putHeader("Retry-After", "1");
      reply.write(res, 503, Negotiator.DEFAULT_CONTENT, BodyWriter.recoverableError());
      return;
    }
    slot.counted = true;
    boolean encrypted = encrypted(req);
    Intake in = new Intake(res, reply, encrypted, address);
    if (script) {
      decodeAndProcess(() -> RequestBody.fromQuery(req.query(), settings.maxBodyBytes()), in, true);
      return;
    }
    String coding = req.getHeader(HttpHeaders.CONTENT_ENCODING);
    if (req.version() != HttpVersion.HTTP_2) {
      // every header this path reads has been read: a held request keeps its HttpServerRequest for
      // the whole wait, and with it the header map (ARCHITECTURE "Memory per idle session"); Vert.x
      // decided keep-alive and 100-continue from them when the head arrived
      req.headers().clear();
    }
    readBody(req, res, reply).onSuccess(raw ->
        decodeAndProcess(() -> RequestBody.decode(coding, raw, settings.maxBodyBytes()), in, false));
  }

  /**
   * The end of a request's response, called once: when the answer is written, or when the
   * connection closes before it. One object rather than a lambda and its flags: a held request
   * keeps it for its whole wait.
   */
  private static final class Ending implements Handler<Void> {
    private final ClientLimits limits;
    private final String address;
    private Handler<Void> ended;
    /** the request counts against its address's held requests */
    boolean counted;

    Ending(ClientLimits limits, String address, Handler<Void> ended) {
      this.limits = limits;
      this.address = address;
      this.ended = ended;
    }

    @Override
    public void handle(Void v) {
      if (counted) {
        counted = false;
        limits.requestDone(address);
      }
      Handler<Void> e = ended;
      if (e != null) {
        ended = null;
        e.handle(null);
      }
    }
  }

  /** One request on its way in: where its answer goes, how it came, from whom. */
  private record Intake(HttpServerResponse res, Reply reply, boolean encrypted, String address) {
  }

  /**
   * XEP-0124 §19.1: whether the request reached xbosh encrypted: over its own HTTPS listener, or
   * through a TLS-terminating proxy that says so and is trusted to.
   */
  private boolean encrypted(HttpServerRequest req) {
    return req.isSSL() || settings.trustForwardedProto() && "https".equalsIgnoreCase(req.getHeader("X-Forwarded-Proto"));
  }

  /** @param script XEP-0252: the content is a piece of the session's continuous content, not whole elements */
  private void decodeAndProcess(java.util.function.Supplier<byte[]> decoding, Intake in, boolean script) {
    HttpServerResponse res = in.res();
    Reply reply = in.reply();
    byte[] bytes;
    try {
      bytes = decoding.get();
    } catch (RequestBody.TooLarge e) {
      tooLarge(res, reply);
      return;
    } catch (BoshException e) {
      badRequest(res, reply, e);
      return;
    }
    process(bytes, in, script);
  }

  private void badRequest(HttpServerResponse res, Reply reply, BoshException e) {
    log.debug("bad request: {}", e.getMessage());
    pod.metrics().request("bad_request");
    fail(res, reply, e, Negotiator.DEFAULT_CONTENT, false);
  }

  /**
   * Adds the CORS answer when the request's Origin is configured (XBOSH_CORS_ORIGINS); other
   * origins get no CORS headers at all, so browsers keep their pages out.
   *
   * @return whether the origin is allowed
   */
  private boolean cors(HttpServerRequest req, HttpServerResponse res) {
    String origin = req.getHeader(HttpHeaders.ORIGIN);
    Set<String> allowed = settings.corsOrigins();
    if (allowed.isEmpty()) {
      return false;
    }
    res.putHeader(HttpHeaders.VARY, "Origin");
    if (origin == null || !(allowed.contains("*") || allowed.contains(origin))) {
      return false;
    }
    res.putHeader(HttpHeaders.ACCESS_CONTROL_ALLOW_ORIGIN, allowed.contains("*") ? "*" : origin);
    return true;
  }

  /** Collects the body up to the size limit; beyond it HTTP 413 and the connection closes. */
  private Future<byte[]> readBody(HttpServerRequest req, HttpServerResponse res, Reply reply) {
    io.vertx.core.Promise<byte[]> promise = io.vertx.core.Promise.promise();
    Buffer body = Buffer.buffer(512);
    req.handler(chunk -> {
      if (res.ended()) {
        return;
      }
      if (body.length() + chunk.length() > settings.maxBodyBytes()) {
        tooLarge(res, reply);
        Transport.endRequest(req);
        promise.tryFail("too large");
        return;
      }
      body.appendBuffer(chunk);
    });
    req.endHandler(v -> {
      // the request object lives as long as it is held: let go of the collected body and these
      // handlers, which would keep it (its buffer is 512 bytes or more) for the whole wait
      req.handler(null).exceptionHandler(null).endHandler(null);
      ConnectionTrim.forgetInbound(req);
      promise.tryComplete(body.getBytes());
    });
    req.exceptionHandler(e -> promise.tryFail(e));
    req.resume();
    return promise.future();
  }

  private void tooLarge(HttpServerResponse res, Reply reply) {
    if (!res.ended()) {
      pod.metrics().request("too_large");
      reply.write(res, 413, Negotiator.DEFAULT_CONTENT, terminateBody(TerminateCondition.BAD_REQUEST, ""));
    }
  }

  private void process(byte[] bytes, Intake in, boolean script) {
    HttpServerResponse res = in.res();
    Reply reply = in.reply();
    boolean encrypted = in.encrypted();
    BoshBody body;
    String fragment = "";
    try {
      if (script) {
        ScriptContent.Split split = ScriptContent.split(bytes);
        body = parser.parse(split.wrapper());
        fragment = split.content();
      } else {
        body = parser.parse(bytes);
      }
    } catch (BoshException e) {
      badRequest(res, reply, e);
      return;
    }
    if (body.sid() == null) {
      create(body, res, reply, encrypted, in.address());
    } else {
      accept(body, res, reply, encrypted, fragment, in.address());
    }
  }

  // ---- session creation (XEP-0124 §7, XEP-0206 §3-4)

  private void create(BoshBody body, HttpServerResponse res, Reply reply, boolean encrypted, String address) {
    SessionParams params;
    try {
      params = negotiator.negotiate(body);
    } catch (BoshException e) {
      pod.metrics().request(e.condition().wireName());
      fail(res, reply, e, Negotiator.DEFAULT_CONTENT, Negotiator.legacyClient(body));
      return;
    }
    if (pod.draining()) {
      // the load balancer has not noticed yet: the client retries and lands elsewhere
      pod.metrics().request("draining");
      res.putHeader(HttpHeaders.RETRY_AFTER, "1");
      reply.write(res, 503, params.content(), BodyWriter.recoverableError());
      return;
    }
    if (pod.atSessionCapacity()) {
      pod.metrics().request("overloaded");
      fail(res, reply, new BoshException(TerminateCondition.REMOTE_CONNECTION_FAILED, "pod at session capacity"), params.content(), params.legacy());
      return;
    }
    String givenKey;
    try {
      givenKey = key(body, "newkey", TerminateCondition.BAD_REQUEST);
    } catch (BoshException e) {
      pod.metrics().request("bad_request");
      fail(res, reply, e, params.content(), params.legacy());
      return;
    }
    boolean warmup = connector.inProcess(params.to());
    ClientLimits.Refusal refused = limits.creationStarted(address, System.nanoTime(), warmup);
    if (refused != null) {
      // a flood of sessions that never log in would hold a connection to the XMPP server each
      pod.metrics().request("creation_limited");
      log.debug("session creation from {} refused: {}", address, refused);
      res.putHeader(HttpHeaders.RETRY_AFTER, refused == ClientLimits.Refusal.RATE ? "1" : Integer.toString(settings.preauthSeconds()));
      reply.write(res, 429, params.content(), terminateBody(TerminateCondition.POLICY_VIOLATION, ""));
      return;
    }
    String newKey = givenKey;
    // the warm-up's sessions have ids no client session can have (io.xbosh.warmup.WarmupRoute): it deletes them after
    String sid = warmup ? SessionStore.WARMUP_SID_PREFIX + newSid() : newSid();
    // XEP-0124 §16.2: the first stream's name announces support for multiple streams
    String stream = settings.streams() ? newStreamName() : null;
    long rid = body.rid();
    XboshMetrics metrics = pod.metrics();
    Timer.Sample connecting = Timer.start(metrics.registry());
    // the server's per-address limits see the client, not the pod (XBOSH_UPSTREAM_PROXY_PROTOCOL)
    connector.openFirst(pod.vertx().getOrCreateContext(), sid, params, address)
        .onSuccess(opened -> connecting.stop(metrics.upstreamConnect()))
        .onFailure(e -> metrics.upstreamConnectFailed(e instanceof BoshException be ? be.condition().wireName() : "error"))
        .compose(connected -> {
          String response = creationResponse(sid, stream, params, body, rid, connected.opened());
          return pod.store().create(new SessionRecord(sid, params, pod.id(), rid, newKey, stream, encrypted))
              .recover(e -> Future.failedFuture(new StoreFailure(e)))
              .map(v -> new Created(connected.link(), response))
              .onFailure(e -> connected.link().abort());
        })
        .onSuccess(created -> {
          String response = created.response();
          pod.own(new SessionLinks(sid, stream, created.link(), settings.streams() ? connector : null, pod,
              () -> new ScriptContent(parser, settings.maxBodyBytes())), address, params.inactivity());
          limits.preauthDeadline(pod, settings.preauthSeconds(), sid, created.link(), address);
          metrics.sessionCreated();
          metrics.request("created");
          log.info("sid={} created for {} (wait={} hold={})", sid, params.to(), params.waitSeconds(), params.hold());
          reply.write(res, 200, params.content(), response);
        })
        .onFailure(e -> {
          limits.preauthEnded(address);
          if (Connector.busy(e)) {
            // the pod has XBOSH_MAX_CONNECTS_IN_FLIGHT connections to servers opening: nothing was tried
            log.debug("session creation from {} refused: too many upstream connects in flight", address);
            metrics.request("connects_busy");
            res.putHeader(HttpHeaders.RETRY_AFTER, "1");
            reply.write(res, 503, params.content(), BodyWriter.recoverableError());
            return;
          }
          if (e instanceof StoreFailure) {
            // out of memory, failing over, unreachable: the client retries the creation (XEP-0124 §17.3)
            log.warn("session creation: store failure: {}", e.getCause().getMessage());
            metrics.request("store_unavailable");
            res.putHeader(HttpHeaders.RETRY_AFTER, "1");
            reply.write(res, 503, params.content(), BodyWriter.recoverableError());
            return;
          }
          metrics.request(e instanceof BoshException be ? be.condition().wireName() : "error");
          fail(res, reply, e, params.content(), params.legacy());
        });
  }


  private record Created(Link link, String response) {
  }

  /** The store could not record a new session: never the client's fault, always worth a retry. */
  private static final class StoreFailure extends RuntimeException {
    StoreFailure(Throwable cause) {
      super(cause.getMessage(), cause, false, false);
    }
  }

  private String creationResponse(String sid, String stream, SessionParams p, BoshBody body, long rid, StreamOpened opened) {
    Map<String, String> a = new LinkedHashMap<>();
    a.put("xmlns:xmpp", Namespaces.XBOSH);
    a.put("sid", sid);
    if (stream != null) {
      a.put("stream", stream);
    }
    a.put("wait", Integer.toString(p.waitSeconds()));
    a.put("requests", Integer.toString(p.requests()));
    a.put("inactivity", Integer.toString(p.inactivity()));
    a.put("polling", Integer.toString(p.polling()));
    a.put("hold", Integer.toString(p.hold()));
    if (settings.maxPause() > 0) {
      a.put("maxpause", Integer.toString(settings.maxPause()));
    }
    if (p.ver() != null) {
      a.put("ver", p.ver());
    }
    a.put("from", opened.from() != null ? opened.from() : p.to());
    // B-19: whether xbosh's own link to the server is encrypted
    a.put("secure", Boolean.toString(opened.secure()));
    if (p.ack()) {
      a.put("ack", Long.toString(rid));
    }
    if (opened.id() != null) {
      a.put("authid", opened.id());
    }
    if (body.attr(BoshBody.XMPP_VERSION) != null) {
      a.put("xmpp:version", "1.0"); // XEP-0206 §4: the version xbosh speaks to the server
    }
    a.put("xmpp:restartlogic", "true");
    a.put("accept", Reply.ACCEPT);
    return BodyWriter.withAttributes(a, List.of(opened.features()));
  }

  static String newSid() {
    return random(18); // 144 bits (B-11)
  }

  /** XEP-0124 §16.2: stream names are opaque, unpredictable and unique. */
  static String newStreamName() {
    return random(12);
  }

  private static String random(int bytes) {
    byte[] b = new byte[bytes];
    RANDOM.nextBytes(b);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(b);
  }

  // ---- every later request (XEP-0124 §8, §14)

  /**
   * @param fragment raw script-syntax content (XEP-0252), "" for none
   * @param address  the client's address, for a stream this request opens
   */
  private void accept(BoshBody body, HttpServerResponse res, Reply reply, boolean encrypted, String fragment, String address) {
    String sid = pod.sharedSid(body.sid());
    long rid = body.rid();
    HeldRequest held = HeldRequest.register(pod, res, reply, sid);
    held.bind(sid, rid);
    // XEP-0124 §16.3: an empty body with 'to' opens another stream (a restart carries 'to' too)
    boolean opening = settings.streams() && body.attr("to") != null && !body.isRestart() && !body.isTerminate()
        && body.payloads().isEmpty() && fragment.isBlank();
    boolean script = !fragment.isBlank() && !body.isRestart();
    RequestFlags flags;
    String payload;
    try {
      flags = new RequestFlags(body.isRestart(), body.isTerminate(), pause(body), opening, script, key(body, "key", TerminateCondition.ITEM_NOT_FOUND),
          key(body, "newkey", TerminateCondition.ITEM_NOT_FOUND),
          ack(body), stream(body, opening), !encrypted);
      // XEP-0206 §5: a restart request's payloads are ignored
      payload = opening ? streamRequest(body, address) : body.isRestart() ? "" : script ? fragment : String.join("", body.payloads());
    } catch (BoshException e) {
      failSession(sid, held, e, encrypted);
      return;
    }
    if (!payload.isEmpty() && !body.isTerminate() && pod.congested(sid)) {
      // backpressure: the server is not reading this session's payloads; the store never sees the
      // request, and the client sends it again (XEP-0124 §17.3 recoverable error)
      pod.metrics().request("upstream_busy");
      res.putHeader(HttpHeaders.RETRY_AFTER, "1");
      held.respond(503, Negotiator.DEFAULT_CONTENT, BodyWriter.recoverableError());
      return;
    }
    int stanzas = body.isRestart() ? 0 : body.payloads().size();
    accept(sid, rid, held, flags, payload, stanzas, true);
  }

  /**
   * Hands the request to the store. An overactivity refusal (policy-violation: more than
   * {@code requests} outstanding, or an empty request within {@code polling}) is asked once more
   * after {@link #ABANDON_GRACE_MS}: after a page reload the dead page's held request may still be
   * registered because its closed connection reached another pod (and that pod's abandon the
   * store) after the reloaded page's first request; the refusal changed nothing in the store.
   */
  private void accept(String sid, long rid, HeldRequest held, RequestFlags flags, String payload, int stanzas, boolean mayRetry) {
    long sent = System.nanoTime();
    // its reply may answer other requests of the session this pod holds: counted until they are dispatched
    pod.answering(sid, () -> pod.store().accept(sid, rid, held.holder(), flags, payload))
        .onSuccess(acc -> {
          // counted once per rid: resends and takeovers carry nothing new
          if (acc.outcome() == Accepted.Outcome.PROCESSED || acc.outcome() == Accepted.Outcome.PARKED) {
            pod.metrics().stanzasIn(stanzas);
          }
          noteLifetime(sid, acc, held, sent);
          applyAccepted(sid, rid, acc, held);
        })
        .onFailure(e -> {
          if (mayRetry && e instanceof BoshException be && be.condition() == TerminateCondition.POLICY_VIOLATION && !held.done()) {
            pod.vertx().setTimer(ABANDON_GRACE_MS, id -> accept(sid, rid, held, flags, payload, stanzas, false));
          } else {
            failSession(sid, held, e);
          }
        })
        .onComplete(ar -> pod.scriptDone(sid));
  }

  /**
   * XEP-0124 §15: a {@code key} or {@code newkey} attribute, or null. Keys are the hex digests
   * clients compute; anything else cannot be part of a valid sequence.
   */
  private static String key(BoshBody body, String name, TerminateCondition invalid) {
    String v = body.attr(name);
    if (v == null) {
      return null;
    }
    if (!KEY.matcher(v).matches()) {
      throw new BoshException(invalid, "malformed " + name);
    }
    return v;
  }

  /**
   * XEP-0124 §16.4: the stream a request is for, or null; for a request opening a stream, the new
   * stream's name. Ignored while multiple streams are off (§16.3).
   */
  private String stream(BoshBody body, boolean opening) {
    if (opening) {
      return newStreamName();
    }
    String stream = body.attr("stream");
    if (stream == null || !settings.streams()) {
      return null;
    }
    if (!STREAM.matcher(stream).matches()) {
      throw new BoshException(TerminateCondition.ITEM_NOT_FOUND, "no such stream");
    }
    return stream;
  }

  /**
   * XEP-0124 §16.3: what the owner needs to open the stream, and what the answer to the request
   * says besides its name: {@code from} (the domain asked for) and {@code xmpp:version} (XEP-0206 §4);
   * and the client's address, which the owner (maybe another pod) puts in the new stream's PROXY
   * protocol header.
   */
  private static String streamRequest(BoshBody body, String address) {
    String to = body.attr("to");
    String lang = body.attr("xml:lang");
    StringBuilder answer = new StringBuilder(" from=\"");
    io.xbosh.protocol.XmlEscape.attribute(answer, to).append('"');
    if (body.attr(BoshBody.XMPP_VERSION) != null) {
      answer.append(" xmlns:xmpp=\"").append(Namespaces.XBOSH).append("\" xmpp:version=\"1.0\"");
    }
    try {
      return new StreamRequest(answer.toString(), to, lang == null ? "en" : lang, body.attr("route"), body.attr("from"),
          "-".equals(address) ? null : address).encode();
    } catch (IllegalArgumentException e) {
      throw BoshException.badRequest(e.getMessage());
    }
  }

  /** XEP-0124 §9.2: the highest rid whose response the client has, all lower ones too; null for none. */
  private static Long ack(BoshBody body) {
    String ack = body.attr("ack");
    return ack == null ? null : BoshValues.parseUnsigned("ack", ack, BoshBody.MAX_RID);
  }

  /**
   * XEP-0124 §10: {@code pause='n'} asks for a longer inactivity until the next request. Ignored
   * when pausing is off (no {@code maxpause} was advertised); above {@code maxpause} it ends the
   * session with policy-violation.
   */
  private long pause(BoshBody body) {
    String pause = body.attr("pause");
    if (pause == null || settings.maxPause() == 0) {
      return 0;
    }
    long seconds = BoshValues.parseUnsigned("pause", pause, Long.MAX_VALUE);
    if (seconds > settings.maxPause()) {
      throw new BoshException(TerminateCondition.POLICY_VIOLATION, "pause above maxpause");
    }
    return seconds;
  }

  private void applyAccepted(String sid, long rid, Accepted acc, HeldRequest held) {
    if (acc.outcome() == Accepted.Outcome.DROPPED) {
      // XEP-0124 §19.1: close the connection, leave the session alone
      log.info("sid={} plain request for a session begun over HTTPS; connection closed", sid);
      pod.metrics().request("insecure");
      held.drop();
      return;
    }
    if (!pod.reachable(acc.owner()) || !pod.forward(sid, acc.forwards())) {
      log.warn("sid={} owner pod {} not reachable; ending session", sid, acc.owner());
      failSession(sid, held, new BoshException(Pod.OWNER_LOST, "upstream link lost"));
      pod.dispatch(acc.answers());
      return;
    }
    pod.dispatch(acc.answers());
    if (acc.outcome() == Accepted.Outcome.RESENT || acc.outcome() == Accepted.Outcome.TAKEOVER) {
      // the first copy's reply, and an owner-local forward in it, may have been lost
      pod.recoverForwards(sid);
    }
    pod.metrics().request(acc.outcome().name().toLowerCase(java.util.Locale.ROOT));
    if (acc.outcome() == Accepted.Outcome.PROCESSED && acc.forwards().stream().anyMatch(Forward::terminate)) {
      pod.metrics().terminated("client");
    }
    switch (acc.outcome()) {
      case RESENT, ENDED -> held.respond(200, acc.content() != null ? acc.content() : Negotiator.DEFAULT_CONTENT, acc.immediate());
      default -> held.settle(acc.content(), acc.waitSeconds() * 1000L, acc.deadline(), waitOver, abandoned);
    }
  }

  /**
   * What an accept on a session this pod owns tells its expiry index (no-op for other sessions);
   * before its forwards go out, so the server's answer to them is seen after it.
   */
  private void noteLifetime(String sid, Accepted acc, HeldRequest held, long sentNanos) {
    switch (acc.outcome()) {
      case ENDED -> pod.checkSoon(sid);
      case RESENT, DROPPED -> {
        // nothing changed in the store
      }
      default -> {
        boolean answeredNow = acc.answers().stream().anyMatch(a -> held.holder().equals(a.holder()));
        if (answeredNow) {
          pod.sawActivity(sid);
        } else {
          pod.sawHeld(sid, acc.waitSeconds(), sentNanos);
        }
      }
    }
  }

  /**
   * The client closed the connection of a held request: the store forgets the hold at once, so
   * stanzas wait for the next request instead of a response nobody reads, and the next request is
   * not counted against a dead one (XEP-0124 §11).
   */
  private void abandon(String sid, long rid, HeldRequest held) {
    pod.store().abandon(sid, rid, held.holder())
        .onSuccess(v -> pod.sawActivity(sid))
        .onFailure(e -> log.warn("sid={} forgetting the closed request rid={} failed: {}", sid, rid, e.getMessage()));
  }

  /** XEP-0124 §8: the wait ran out; answer through the store so a racing stanza is never lost. */
  private void release(String sid, long rid, HeldRequest held) {
    // a draining pod answers before the wait ran out, but only in rid order (XEP-0124 §14)
    boolean early = pod.answersAtOnce() && held.waitLeftMs() > 0;
    pod.store().release(sid, rid, held.holder(), early).onComplete(ar -> {
      if (ar.succeeded()) {
        pod.sawActivity(sid);
      }
      if (ar.succeeded() && SessionStore.NOT_ITS_TURN.equals(ar.result())) {
        held.retryIn(Math.min(held.waitLeftMs(), IN_ORDER_RETRY_MS));
      } else if (ar.succeeded() && ar.result() != null) {
        held.answer(ar.result());
      } else if (ar.succeeded()) {
        // answered or replaced meanwhile: the answer may have been lost on the way (the channel was
        // down), so fetch what is owed; if nothing is known, close so the client resends
        pod.store().answered(sid, rid, held.holder()).onComplete(owed -> {
          if (owed.succeeded() && owed.result() != null) {
            held.answer(owed.result());
          } else {
            pod.vertx().setTimer(5000, id -> held.drop());
          }
        });
      } else {
        failSession(sid, held, ar.cause());
      }
    });
  }

  /** Maps a failure to the wire; item-not-found ends the session for good (XEP-0124 §14.2, §14.3). */
  private void failSession(String sid, HeldRequest held, Throwable e) {
    failSession(sid, held, e, true);
  }

  /** @param encrypted whether the request came encrypted (a plain one cannot end a session begun encrypted) */
  private void failSession(String sid, HeldRequest held, Throwable e, boolean encrypted) {
    if (held.done()) {
      return;
    }
    pod.metrics().request(e instanceof BoshException be ? be.condition().wireName() : "store_unavailable");
    if (e instanceof BoshException be) {
      String plain = terminateBody(be.condition(), be.children());
      if (!endsSession(be.condition())) {
        held.respond(be.httpStatus(), Negotiator.DEFAULT_CONTENT, plain);
        return;
      }
      // the session ends: answer only once the store says so, so a request racing this answer
      // finds the tombstone; with no other request held, the tombstone carries waiting stanzas
      pod.answering(sid, () -> pod.store().refuse(sid, BodyWriter.terminateOpen(be.condition()), encrypted)).onComplete(ar -> {
        if (ar.failed()) {
          // the end is not recorded: the session lives on, and the client's resend meets the same rule
          log.warn("sid={} store failure while ending the session over {}: {}", sid, be.condition().wireName(), ar.cause().getMessage());
          held.respond(503, Negotiator.DEFAULT_CONTENT, BodyWriter.recoverableError());
          return;
        }
        if (ar.result().dropped()) {
          held.drop(); // XEP-0124 §19.1
          return;
        }
        if (ar.succeeded() && ar.result().ended()) {
          pod.metrics().terminated(be.condition().wireName());
        }
        pod.retire(sid);
        String answer = plain;
        if (ar.succeeded()) {
          pod.dispatch(ar.result().answers());
          if (ar.result().answers().isEmpty() && ar.result().tombstone() != null) {
            answer = ar.result().tombstone();
          }
        }
        // the store knows whether the session's client expects HTTP error codes (XEP-0124 §17.1)
        boolean legacy = be.legacy() || ar.succeeded() && ar.result().legacy();
        held.respond(be.forLegacy(legacy).httpStatus(), Negotiator.DEFAULT_CONTENT, answer);
      }).onComplete(ar -> pod.scriptDone(sid));
      return;
    }
    // the store is unreachable: a recoverable error makes the client resend (XEP-0124 §17.3)
    log.warn("sid={} store failure: {}", sid, e.getMessage());
    held.respond(503, Negotiator.DEFAULT_CONTENT, BodyWriter.recoverableError());
  }

  private static boolean endsSession(TerminateCondition c) {
    return c == TerminateCondition.ITEM_NOT_FOUND || c == TerminateCondition.REMOTE_CONNECTION_FAILED
        || c == Pod.OWNER_LOST || c == TerminateCondition.POLICY_VIOLATION || c == TerminateCondition.BAD_REQUEST;
  }

  private static void fail(HttpServerResponse res, Reply reply, Throwable e, String content, boolean legacy) {
    if (e instanceof BoshException be) {
      reply.write(res, be.forLegacy(legacy).httpStatus(), content, terminateBody(be.condition(), be.children()));
    } else {
      log.warn("internal error: {}", e.toString());
      reply.write(res, 200, content, terminateBody(TerminateCondition.INTERNAL_SERVER_ERROR, ""));
    }
  }

  private static String terminateBody(TerminateCondition c, String children) {
    return BodyWriter.terminate(c, children == null || children.isEmpty() ? List.of() : List.of(children));
  }
}
