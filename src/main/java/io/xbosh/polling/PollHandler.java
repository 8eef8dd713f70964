package io.xbosh.polling;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.RoutingContext;
import io.xbosh.http.ClientAddress;
import io.xbosh.http.ClientLimits;
import io.xbosh.http.Transport;
import io.xbosh.pod.HeldRequest;
import io.xbosh.pod.Pod;
import io.xbosh.protocol.BodyParser;
import io.xbosh.protocol.BodyWriter;
import io.xbosh.protocol.BoshBody;
import io.xbosh.protocol.BoshException;
import io.xbosh.protocol.Namespaces;
import io.xbosh.protocol.Negotiator;
import io.xbosh.protocol.ScriptContent;
import io.xbosh.protocol.SessionParams;
import io.xbosh.protocol.TerminateCondition;
import io.xbosh.protocol.XmlEscape;
import io.xbosh.session.Accepted;
import io.xbosh.session.RequestFlags;
import io.xbosh.session.SessionRecord;
import io.xbosh.session.SessionStore;
import io.xbosh.upstream.Connector;
import io.xbosh.upstream.SessionLinks;
import io.xbosh.upstream.StreamOpened;
import io.xbosh.upstream.UpstreamLink;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Jabber HTTP Polling (XEP-0025) as an adapter onto the BOSH session store: each session is a BOSH
 * polling session (hold 0, so the store answers every request at once with what is queued), and
 * each poll one request of it, numbered by the store ({@link SessionStore#NEXT_RID}) since polls carry no rid.
 * Nothing about a session stays in the pod that served a poll, so any pod answers any poll; the
 * session's upstream link lives on the pod that created it, as for BOSH.
 *
 * <p>The key sequence is the store's XEP-0124 §15 key check, fed through {@link PollKeys}; the
 * stream header and {@code </stream:stream>} of the client's stream become session creation,
 * restart and terminate ({@link ClientStream}); content goes on as script-syntax content (XEP-0252:
 * elements may span polls), which the owner reassembles.
 */
public final class PollHandler implements Handler<RoutingContext> {

  private static final Logger log = LoggerFactory.getLogger(PollHandler.class);
  private static final SecureRandom RANDOM = new SecureRandom();
  static final String METHODS = "POST, OPTIONS";
  /** How long a poll waits for the store's answer before it reports Server Error (it is answered at once). */
  static final long ANSWER_TIMEOUT_MS = 10_000;
  /** What {@link #newIdentifier} makes. */
  private static final java.util.regex.Pattern IDENTIFIER = java.util.regex.Pattern.compile("[0-9a-f]{36}");

  /**
   * @param path                the endpoint's path, the cookie's too
   * @param maxBodyBytes        largest poll body; a larger one is Bad Request
   * @param corsOrigins         origins whose pages may poll (as for BOSH)
   * @param trustForwardedProto whether {@code X-Forwarded-Proto: https} means the poll came encrypted
   * @param preauthSeconds      how long a new session may take to authenticate
   */
  public record Settings(String path, int maxBodyBytes, Set<String> corsOrigins, boolean trustForwardedProto, int preauthSeconds) {
  }

  private final Pod pod;
  private final BodyParser parser;
  private final Negotiator negotiator;
  private final Connector connector;
  private final Settings settings;
  private final ClientLimits limits;

  public PollHandler(Pod pod, BodyParser parser, Negotiator negotiator, Connector connector, Settings settings, ClientLimits limits) {
    this.pod = pod;
    this.parser = parser;
    this.negotiator = negotiator;
    this.connector = connector;
    this.settings = settings;
    this.limits = limits;
  }

  /** One poll on its way: where its answer goes, how it came, from whom. */
  private record Intake(HttpServerResponse res, boolean encrypted, String address) {
  }

  @Override
  public void handle(RoutingContext ctx) {
    HttpServerRequest req = ctx.request();
    HttpServerResponse res = ctx.response();
    boolean crossOrigin = cors(req, res);
    if (req.method() == HttpMethod.OPTIONS) {
      if (crossOrigin) {
        res.putHeader(HttpHeaders.ACCESS_CONTROL_ALLOW_METHODS, METHODS)
            .putHeader(HttpHeaders.ACCESS_CONTROL_ALLOW_HEADERS, "Content-Type")
            .putHeader(HttpHeaders.ACCESS_CONTROL_MAX_AGE, "86400");
      }
      res.putHeader(HttpHeaders.ALLOW, METHODS).setStatusCode(204).end();
      return;
    }
    if (req.method() != HttpMethod.POST) {
      // XEP-0025 §3: "All requests to the server are HTTP POST requests"
      pod.metrics().request("poll_method_not_allowed");
      res.putHeader(HttpHeaders.ALLOW, METHODS).setStatusCode(405).putHeader(HttpHeaders.CONTENT_LENGTH, "0").end();
      return;
    }
    String length = req.getHeader(HttpHeaders.CONTENT_LENGTH);
    if (length != null && length.length() < 12 && length.chars().allMatch(Character::isDigit)
        && Long.parseLong(length) > settings.maxBodyBytes()) {
      tooLarge(req, res);
      return;
    }
    if (pod.atHeldCapacity()) {
      pod.metrics().request("overloaded");
      error(res, PollError.SERVER);
      return;
    }
    String address = ClientAddress.of(ctx);
    if (!limits.requestStarted(address)) {
      // the per-address request limit BOSH has: one address may not take the pod's capacity
      pod.metrics().request("overloaded_address");
      error(res, PollError.SERVER);
      return;
    }
    boolean[] counted = {true};
    res.endHandler(v -> {
      if (counted[0]) {
        counted[0] = false;
        limits.requestDone(address);
      }
    });
    Intake in = new Intake(res, encrypted(req), address);
    readBody(req, res).onSuccess(bytes -> process(bytes, in));
  }

  private boolean encrypted(HttpServerRequest req) {
    return req.isSSL() || settings.trustForwardedProto() && "https".equalsIgnoreCase(req.getHeader("X-Forwarded-Proto"));
  }

  /** CORS exactly as on the BOSH path (XBOSH_CORS_ORIGINS). */
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

  private Future<byte[]> readBody(HttpServerRequest req, HttpServerResponse res) {
    Promise<byte[]> promise = Promise.promise();
    Buffer body = Buffer.buffer(512);
    req.handler(chunk -> {
      if (res.ended()) {
        return;
      }
      if (body.length() + chunk.length() > settings.maxBodyBytes()) {
        tooLarge(req, res);
        promise.tryFail("too large");
        return;
      }
      body.appendBuffer(chunk);
    });
    req.endHandler(v -> promise.tryComplete(body.getBytes()));
    req.exceptionHandler(promise::tryFail);
    req.resume();
    return promise.future();
  }

  /** Bad Request, and the connection closes: the rest of the body is not read. */
  private void tooLarge(HttpServerRequest req, HttpServerResponse res) {
    if (!res.ended()) {
      pod.metrics().request("too_large");
      Transport.lastOnConnection(req);
      error(res, PollError.BAD_REQUEST);
      Transport.endRequest(req);
    }
  }

  private void error(HttpServerResponse res, PollError error) {
    PollReply.send(res, settings.path(), error.id(), "");
  }

  private void process(byte[] bytes, Intake in) {
    PollRequest poll;
    ClientStream stream;
    try {
      poll = PollRequest.parse(bytes);
      stream = ClientStream.of(poll.xml());
    } catch (PollException e) {
      log.debug("bad poll: {}", e.getMessage());
      pod.metrics().request("poll_bad_request");
      // the session, if there is one, is left as it was: the identifier alone is no proof (§3)
      error(in.res(), e.error());
      return;
    }
    if (poll.opensSession()) {
      create(poll, stream, in);
    } else {
      poll(poll, stream, in);
    }
  }

  // ---- the first poll: the client's stream header opens a session (XEP-0025 §4 steps 1-3)

  private void create(PollRequest poll, ClientStream stream, Intake in) {
    HttpServerResponse res = in.res();
    if (stream.header() == null || stream.header().to() == null) {
      pod.metrics().request("poll_bad_request");
      error(res, PollError.BAD_REQUEST);
      return;
    }
    SessionParams params;
    try {
      params = negotiator.negotiate(creationBody(stream.header()));
    } catch (BoshException e) {
      pod.metrics().request(e.condition().wireName());
      error(res, PollError.BAD_REQUEST);
      return;
    }
    if (pod.draining() || pod.atSessionCapacity()) {
      pod.metrics().request(pod.draining() ? "draining" : "overloaded");
      error(res, PollError.SERVER);
      return;
    }
    ClientLimits.Refusal refused = limits.creationStarted(in.address(), System.nanoTime());
    if (refused != null) {
      pod.metrics().request("creation_limited");
      log.debug("polling session creation from {} refused: {}", in.address(), refused);
      error(res, PollError.SERVER);
      return;
    }
    String sid = newIdentifier();
    String newKey = poll.key() == null ? null : PollKeys.storeNext(poll.key());
    connector.connect(pod.vertx().getOrCreateContext(), sid, null, params, in.address())
        .compose(connected -> {
          StreamOpened opened = connected.opened();
          // the record's creation response is never resent (polls have no rid to resend)
          String response = BodyWriter.response(null, List.of(opened.features()));
          // a random first rid, as BOSH clients choose theirs (XEP-0124 §14): no request on the BOSH path guesses it
          long rid = 1 + RANDOM.nextInt(Integer.MAX_VALUE);
          return pod.store().create(new SessionRecord(sid, params, pod.id(), rid, newKey, null, in.encrypted()))
              .map(v -> connected)
              .onFailure(e -> connected.link().abort());
        })
        .onSuccess(connected -> {
          pod.own(new SessionLinks(sid, null, connected.link(), null, pod,
              () -> new ScriptContent(parser, settings.maxBodyBytes())), in.address());
          limits.preauthDeadline(pod, settings.preauthSeconds(), sid, connected.link(), in.address());
          pod.metrics().sessionCreated();
          pod.metrics().request("poll_created");
          log.info("sid={} polling session created for {}", sid, params.to());
          StreamOpened opened = connected.opened();
          String header = "<?xml version='1.0'?>" + serverHeader(opened.id(), opened.from() != null ? opened.from() : params.to());
          PollReply.send(res, settings.path(), sid, header + opened.features());
        })
        .onFailure(e -> {
          limits.preauthEnded(in.address());
          log.info("polling session creation for {} failed: {}", params.to(), e.getMessage());
          pod.metrics().request(e instanceof BoshException be ? be.condition().wireName() : "error");
          error(res, e instanceof BoshException be && be.condition() == TerminateCondition.HOST_UNKNOWN
              ? PollError.BAD_REQUEST : PollError.SERVER);
        });
  }

  /** The BOSH creation request this stream header stands for, so the same negotiation applies. */
  private BoshBody creationBody(ClientStream.Header h) {
    StringBuilder b = new StringBuilder(BodyWriter.OPEN).append(" rid=\"1\" wait=\"0\" hold=\"0\" ver=\"1.6\" to=\"");
    XmlEscape.attribute(b, h.to()).append('"');
    if (h.lang() != null) {
      b.append(" xml:lang=\"");
      XmlEscape.attribute(b, h.lang()).append('"');
    }
    if (h.version() != null) {
      b.append(" xmlns:xmpp=\"").append(Namespaces.XBOSH).append("\" xmpp:version=\"1.0\"");
    }
    return parser.parse(b.append("/>").toString().getBytes(StandardCharsets.UTF_8));
  }

  /** The server's side of the stream header, as a socket client would read it. */
  static String serverHeader(String id, String from) {
    StringBuilder b = new StringBuilder("<stream:stream xmlns:stream='").append(Namespaces.STREAMS)
        .append("' xmlns='").append(Namespaces.CLIENT).append("' id='");
    XmlEscape.attribute(b, id != null ? id : newIdentifier()).append('\'');
    if (from != null) {
      b.append(" from='");
      XmlEscape.attribute(b, from).append('\'');
    }
    return b.append(" version='1.0'>").toString();
  }

  /** 144 random bits in hex: XEP-0025 §3 allows [A-Za-z0-9:-] only, and ':0' must not end it. */
  static String newIdentifier() {
    byte[] b = new byte[18];
    RANDOM.nextBytes(b);
    return HexFormat.of().formatHex(b);
  }


  // ---- every later poll: one request of the BOSH session (XEP-0025 §4 steps 4-5)

  private void poll(PollRequest poll, ClientStream stream, Intake in) {
    String sid = poll.identifier();
    if (!IDENTIFIER.matcher(sid).matches()) {
      // never handed out here (a BOSH sid is base64url): no store round trip, no BOSH session reached
      pod.metrics().request("poll_unknown");
      error(in.res(), PollError.UNKNOWN);
      return;
    }
    boolean restart = stream.header() != null;
    boolean content = !stream.content().isEmpty();
    RequestFlags flags = RequestFlags.NONE.withUnencrypted(!in.encrypted());
    if (restart) {
      flags = flags.withRestart();
    }
    if (stream.close()) {
      flags = flags.withTerminate();
    }
    if (content) {
      flags = flags.withFragment();
    }
    if (poll.key() != null) {
      flags = flags.withKey(PollKeys.storeKey(poll.key()));
    }
    if (poll.key() != null || poll.newKey() != null) {
      // a key without a new one: the next key must hash to it; with one, to the new one
      flags = flags.withNewKey(PollKeys.storeNext(poll.newKey() != null ? poll.newKey() : poll.key()));
    }
    if (content && !stream.close() && pod.congested(sid)) {
      // the server is not reading this session's content: nothing is accepted
      pod.metrics().request("upstream_busy");
      error(in.res(), PollError.SERVER);
      return;
    }
    PollReply reply = new PollReply(settings.path(), sid);
    if (restart) {
      // RFC 6120 §4.2: the server answers a stream header with its own; its features follow in a later poll
      reply.streamHeader(serverHeader(null, stream.header().to()));
    }
    HeldRequest held = HeldRequest.register(pod, in.res(), reply);
    held.bind(sid, 0);
    pod.store().accept(sid, SessionStore.NEXT_RID, held.holder(), flags, stream.content())
        .onSuccess(acc -> accepted(sid, acc, held, reply, in.encrypted()))
        .onFailure(e -> refused(sid, e, held, reply, in.encrypted()));
  }

  private void accepted(String sid, Accepted acc, HeldRequest held, PollReply reply, boolean encrypted) {
    if (acc.outcome() == Accepted.Outcome.DROPPED) {
      // XEP-0124 §19.1, as for BOSH: a plain poll of a session begun over HTTPS closes its connection
      pod.metrics().request("insecure");
      held.drop();
      return;
    }
    if (acc.outcome() == Accepted.Outcome.ENDED) {
      // the session ended while no poll was open: its final body, then the end of the stream
      pod.metrics().request("poll_ended");
      held.respond(200, PollReply.CONTENT_TYPE, acc.immediate());
      return;
    }
    if (!pod.reachable(acc.owner()) || !pod.forward(sid, acc.forwards())) {
      log.warn("sid={} owner pod {} not reachable; ending polling session", sid, acc.owner());
      pod.dispatch(acc.answers());
      end(sid, held, reply, Pod.OWNER_LOST, PollError.SERVER, encrypted);
      return;
    }
    pod.dispatch(acc.answers());
    pod.metrics().request("poll_" + acc.outcome().name().toLowerCase(java.util.Locale.ROOT));
    if (acc.forwards().stream().anyMatch(io.xbosh.session.Forward::terminate)) {
      pod.metrics().terminated("client");
    }
    // hold 0: the answer is among acc.answers(); the timeout only guards against a lost one
    held.settle(PollReply.CONTENT_TYPE, ANSWER_TIMEOUT_MS, h -> {
      reply.error(PollError.SERVER);
      h.respond(200, PollReply.CONTENT_TYPE, "");
    });
  }

  /**
   * The store refused the poll and changed nothing. item-not-found is an unknown session (Unknown
   * Error, §3) or a key that does not follow (Key Sequence Error, §4 step 5: the poll "must not be
   * processed, and must not extend the session keepalive"); policy-violation is an empty poll too
   * soon after an empty one (the BOSH polling rule, XEP-0124 §12): Bad Request. The session is
   * left as it was: whoever sent the poll may not hold its key, and the identifier alone must not
   * end a session. A client that gives up on it leaves it to expire after the polling inactivity.
   */
  private void refused(String sid, Throwable e, HeldRequest held, PollReply reply, boolean encrypted) {
    if (!(e instanceof BoshException be)) {
      log.warn("sid={} store failure on a poll: {}", sid, e.getMessage());
      pod.metrics().request("store_unavailable");
      reply.error(PollError.SERVER);
      held.respond(200, PollReply.CONTENT_TYPE, "");
      return;
    }
    if (be.condition() == TerminateCondition.ITEM_NOT_FOUND) {
      pod.store().states(List.of(sid)).onComplete(ar -> {
        PollError error = ar.failed() ? PollError.SERVER
            : ar.result().live().contains(sid) ? PollError.KEY_SEQUENCE : PollError.UNKNOWN;
        pod.metrics().request(error == PollError.KEY_SEQUENCE ? "poll_bad_key" : "poll_unknown");
        reply.error(error);
        held.respond(200, PollReply.CONTENT_TYPE, "");
      });
      return;
    }
    pod.metrics().request("poll_" + be.condition().wireName());
    reply.error(be.condition() == TerminateCondition.POLICY_VIOLATION ? PollError.BAD_REQUEST : PollError.SERVER);
    held.respond(200, PollReply.CONTENT_TYPE, "");
  }

  /** Ends a live session over this poll and answers it with the error once the store has. */
  private void end(String sid, HeldRequest held, PollReply reply, TerminateCondition condition, PollError error, boolean encrypted) {
    pod.store().refuse(sid, BodyWriter.terminateOpen(condition), encrypted).onComplete(ar -> {
      if (ar.succeeded() && ar.result().dropped()) {
        held.drop();
        return;
      }
      if (ar.succeeded()) {
        if (ar.result().ended()) {
          pod.metrics().terminated(condition.wireName());
        }
        pod.retire(sid);
        pod.dispatch(ar.result().answers());
      } else {
        log.warn("sid={} store failure while ending a polling session: {}", sid, ar.cause().getMessage());
      }
      reply.error(error);
      held.respond(200, PollReply.CONTENT_TYPE, "");
    });
  }
}
