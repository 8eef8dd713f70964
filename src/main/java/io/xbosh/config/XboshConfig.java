package io.xbosh.config;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * Every setting of xbosh, read once from the environment at start and validated there. Nothing
 * else reads the environment.
 */
public record XboshConfig(
    String httpHost,
    int httpPort,
    String httpPath,
    int managementPort,
    Secret adminToken,
    String wsPath,
    int wsMaxFrameBytes,
    int wsPingSeconds,
    String wsSeeOtherUri,
    String redisUrl,
    boolean redisCluster,
    int redisPoolSize,
    boolean redisLoopConnections,
    String redisSentinelMaster,
    String redisUser,
    Secret redisPassword,
    String redisTlsCa,
    String redisTlsCert,
    String redisTlsKey,
    boolean redisTlsVerifyHost,
    HostPort upstream,
    Map<String, HostPort> upstreamHosts,
    Set<String> domains,
    String nodeId,
    int eventLoops,
    int maxWait,
    int maxHold,
    int inactivity,
    int pollingInactivity,
    int polling,
    int maxPause,
    int maxBodyBytes,
    int maxStanzaBytes,
    int maxQueuedStanzas,
    int maxReadAheadBytes,
    int maxQueuedBytes,
    int maxResponseBytes,
    int maxSessions,
    int maxHeldRequests,
    int maxHeldPerAddress,
    int maxConnections,
    int maxConnectionsPerAddress,
    int headTimeoutMs,
    int bodyTimeoutMs,
    int preauthSeconds,
    int maxPreauthSessions,
    int maxPreauthPerAddress,
    int createsPerSecond,
    int connectTimeoutMs,
    int maxConnectsInFlight,
    int sweepMs,
    int tombstoneSeconds,
    int heartbeatMs,
    int podDeadMs,
    int drainSeconds,
    Set<String> corsOrigins,
    Set<String> routeAllow,
    HostPort dnsServer,
    UpstreamTls upstreamTls,
    String upstreamTrust,
    ProxyProtocol upstreamProxyProtocol,
    int maxStreams,
    String httpTlsCert,
    String httpTlsKey,
    boolean http2Cleartext,
    boolean trustForwardedProto,
    boolean trustForwardedFor,
    String pollPath,
    Warmup warmup,
    AmqpConfig amqp) {

  /**
   * Before {@code /ready}: BOSH sessions through a throwaway pod of this process (in-process store,
   * an in-process XMPP server on loopback) until {@code sessions} have run or {@code seconds} have
   * passed, so the JIT has compiled the request path before real clients arrive.
   */
  public record Warmup(int sessions, int seconds, int concurrency) {
    /** False when either bound is 0: the pod is ready as soon as it listens. */
    public boolean on() {
      return sessions > 0 && seconds > 0;
    }
  }

  /**
   * This config with some components replaced, named as the record names them (e.g.
   * {@code "httpHost"}); for the warm-up pod, which differs from the real one in a few settings.
   */
  public XboshConfig with(Map<String, Object> changes) {
    java.lang.reflect.RecordComponent[] components = XboshConfig.class.getRecordComponents();
    Object[] values = new Object[components.length];
    Class<?>[] types = new Class<?>[components.length];
    Set<String> unknown = new TreeSet<>(changes.keySet());
    try {
      for (int i = 0; i < components.length; i++) {
        String name = components[i].getName();
        types[i] = components[i].getType();
        values[i] = changes.containsKey(name) ? changes.get(name) : components[i].getAccessor().invoke(this);
        unknown.remove(name);
      }
      if (!unknown.isEmpty()) {
        throw new IllegalArgumentException("no such settings: " + unknown);
      }
      return XboshConfig.class.getDeclaredConstructor(types).newInstance(values);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
  }

  /** How xbosh secures its link to the XMPP server (XEP-0124 §19.2, XEP-0206 §2). */
  public enum UpstreamTls {
    /** plain TCP, STARTTLS never attempted */
    OFF,
    /** STARTTLS when the server offers it */
    OPTIONAL,
    /** STARTTLS, or the session fails with remote-connection-failed */
    REQUIRED,
    /** TLS from the first byte (XEP-0368 direct TLS) */
    DIRECT
  }

  /** Whether xbosh tells the XMPP server the BOSH client's address in a PROXY protocol header (HAProxy's proxy-protocol.txt). */
  public enum ProxyProtocol {
    /** no header: the server sees the pod's address */
    OFF,
    /** the human-readable header (version 1) */
    V1,
    /** the binary header (version 2) */
    V2
  }

  /** A value never printed: its {@code toString} hides it, so logging the config cannot leak it. */
  public record Secret(String value) {
    @Override
    public String toString() {
      return "(hidden)";
    }
  }

  /** The Redis URLs, split; empty without Redis. */
  public List<String> redisUrls() {
    return redisUrl == null ? List.of() : List.of(redisUrl.split(","));
  }

  /** True when the Redis URLs ask for TLS ({@code rediss://}). */
  public boolean redisTls() {
    return redisUrl != null && redisUrl.startsWith("rediss://");
  }

  /** SRV mode: {@code XBOSH_UPSTREAM=srv} leaves {@link #upstream()} null. */
  public boolean srvMode() {
    return upstream == null;
  }

  /** A {@code host:port} pair. */
  public record HostPort(String host, int port) {
    static HostPort parse(String s) {
      int colon = s.lastIndexOf(':');
      if (colon <= 0 || colon == s.length() - 1) {
        throw new IllegalArgumentException("expected host:port, got '" + s + "'");
      }
      String host = s.substring(0, colon);
      if (host.startsWith("[") && host.endsWith("]")) {
        host = host.substring(1, host.length() - 1);
      }
      int port;
      try {
        port = Integer.parseInt(s.substring(colon + 1));
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("port is not a number in '" + s + "'");
      }
      if (port < 1 || port > 65535) {
        throw new IllegalArgumentException("port out of range in '" + s + "'");
      }
      return new HostPort(host, port);
    }

    @Override
    public String toString() {
      return host + ":" + port;
    }
  }

  /** One documented variable: name, default, meaning. */
  public record Variable(String name, String defaultValue, String description) {
  }

  private static final Pattern NODE_ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");

  /** The variables, in the order README documents them. */
  public static final List<Variable> VARIABLES = List.of(
      new Variable("XBOSH_HTTP_HOST", "0.0.0.0", "address the HTTP listener binds"),
      new Variable("XBOSH_HTTP_PORT", "5280", "HTTP port (0 picks a free one)"),
      new Variable("XBOSH_HTTP_PATH", "/http-bind", "path of the BOSH endpoint"),
      new Variable("XBOSH_MANAGEMENT_PORT", "(unset: the HTTP port)", "port of a second listener, on XBOSH_HTTP_HOST, for /health, /ready, /metrics and the admin API; these then leave the BOSH port (0 picks a free one)"),
      new Variable("XBOSH_ADMIN_TOKEN_FILE", "(unset: no admin API)", "file holding the bearer token of the admin API (/admin/..., on the management port only), e.g. mounted from a Secret"),
      new Variable("XBOSH_WS_PATH", "/xmpp-websocket", "path of the XMPP-over-WebSocket endpoint (RFC 7395) on the same port; empty or off: none"),
      new Variable("XBOSH_POLL_PATH", "(unset: off)", "path of the Jabber HTTP Polling endpoint (XEP-0025, legacy clients) on the same port; on: /http-poll; unset, empty or off: none"),
      new Variable("XBOSH_WS_MAX_FRAME_BYTES", "65536", "largest WebSocket message (one client element) accepted; larger ones end the stream with policy-violation"),
      new Variable("XBOSH_WS_PING_SECONDS", "30", "seconds between WebSocket pings; a peer that answers nothing for that long again is dead and its XMPP stream closed; 0: no pings"),
      new Variable("XBOSH_WS_SEE_OTHER_URI", "(unset)", "on SIGTERM, WebSocket clients get <close see-other-uri='...'/> with this URI (the public wss:// address of the deployment) at once; unset: they keep their stream until the drain time is up, then system-shutdown"),
      new Variable("XBOSH_HTTP_TLS_CERT", "(unset: plain HTTP)", "PEM certificate chain: the listener speaks HTTPS (set XBOSH_HTTP_TLS_KEY with it)"),
      new Variable("XBOSH_HTTP_TLS_KEY", "(unset)", "PEM private key of XBOSH_HTTP_TLS_CERT"),
      new Variable("XBOSH_HTTP2_CLEARTEXT", "false", "true: the plain-HTTP listener also speaks HTTP/2 without TLS (h2c, prior knowledge or upgrade), for a load balancer that carries many clients' held requests on a few connections (HAProxy: server ... proto h2); one connection may carry up to XBOSH_MAX_HELD_REQUESTS streams"),
      new Variable("XBOSH_TRUST_FORWARDED_PROTO", "false", "true: a request whose X-Forwarded-Proto is https came encrypted (set only behind a proxy that overwrites the header); sessions begun encrypted refuse plain requests"),
      new Variable("XBOSH_TRUST_FORWARDED_FOR", "false", "true: the last address of X-Forwarded-For is the client's, for the per-address limits of requests and session creation and for the address logged at a session's end (set only behind a proxy that appends it); the per-address connection limit is then off"),
      new Variable("XBOSH_REDIS_URL", "(unset)", "Redis connection string, e.g. redis://127.0.0.1:6379/0, or comma-separated seed nodes of a Redis Cluster; unset: in-process session store (single pod)"),
      new Variable("XBOSH_REDIS_CLUSTER", "false", "true: XBOSH_REDIS_URL names Redis Cluster nodes"),
      new Variable("XBOSH_REDIS_POOL_SIZE", "32", "pooled Redis connections per pod"),
      new Variable("XBOSH_REDIS_LOOP_CONNECTIONS", "false", "true: each event loop sends its scripts over one Redis connection of its own, pipelined, at most 1,024 calls in flight on it (not on a Redis Cluster; under bursts its round trips stall, see ARCHITECTURE.md); false: every script leases a pooled connection"),
      new Variable("XBOSH_REDIS_SENTINEL", "(unset)", "master name of a Redis Sentinel deployment: XBOSH_REDIS_URL then lists the sentinels; xbosh follows failovers"),
      new Variable("XBOSH_REDIS_USER", "(unset: default)", "Redis ACL user name"),
      new Variable("XBOSH_REDIS_PASSWORD", "(unset)", "Redis password (never printed); prefer XBOSH_REDIS_PASSWORD_FILE"),
      new Variable("XBOSH_REDIS_PASSWORD_FILE", "(unset)", "file holding the Redis password, e.g. mounted from a Kubernetes Secret (one trailing newline ignored)"),
      new Variable("XBOSH_REDIS_TLS_CA", "(JVM trust store)", "PEM bundle of the certificate authorities trusted for the Redis servers' certificates (rediss:// URLs)"),
      new Variable("XBOSH_REDIS_TLS_CERT", "(unset)", "PEM client certificate chain presented to Redis (set XBOSH_REDIS_TLS_KEY with it)"),
      new Variable("XBOSH_REDIS_TLS_KEY", "(unset)", "PEM private key of XBOSH_REDIS_TLS_CERT"),
      new Variable("XBOSH_REDIS_TLS_VERIFY_HOST", "true", "false: accept a Redis certificate that does not name the host in the URL (the chain is still checked)"),
      new Variable("XBOSH_UPSTREAM", "127.0.0.1:5222", "host:port of the XMPP server's c2s listener, for every domain not in XBOSH_UPSTREAM_HOSTS; srv: look up each domain's _xmpp-client._tcp SRV records, else domain:5222 (set XBOSH_DOMAINS with it)"),
      new Variable("XBOSH_UPSTREAM_HOSTS", "(empty)", "per-domain servers: domain=host:port,domain2=host:port; domain=amqp://host:port/vhost (or amqps://) serves the domain from a RabbitMQ broker (README: Notifications from RabbitMQ)"),
      new Variable("XBOSH_AMQP_TRUST", "(JVM trust store)", "PEM file of the certificate authorities trusted for amqps:// brokers' certificates (which must also name the URI's host)"),
      new Variable("XBOSH_AMQP_CERT", "(none)", "PEM certificate xbosh presents to amqps:// brokers that ask for one (with XBOSH_AMQP_KEY); the login stays the user's SASL PLAIN one"),
      new Variable("XBOSH_AMQP_KEY", "(none)", "PEM private key (PKCS#8) of XBOSH_AMQP_CERT"),
      new Variable("XBOSH_AMQP_PREFETCH", "50", "unacknowledged broker deliveries one BOSH client's queue consumer holds at most"),
      new Variable("XBOSH_AMQP_OFFLINE_SECONDS", "604800", "how long a client's durable queue outlives its last session (x-expires)"),
      new Variable("XBOSH_AMQP_QUEUE_MAX", "10000", "messages a client's durable queue keeps at most; beyond, the oldest are dropped (x-max-length)"),
      new Variable("XBOSH_AMQP_RECONNECT_SECONDS", "60", "how long a session with a durable queue tries to reach its broker again before it ends with remote-connection-failed"),
      new Variable("XBOSH_DOMAINS", "(empty: any)", "comma-separated domains clients may ask for in 'to'; others get host-unknown"),
      new Variable("XBOSH_ROUTE_ALLOW", "(empty: route ignored)", "comma-separated host:port (or host:*) a client's route='xmpp:host:port' may name; others get host-unknown"),
      new Variable("XBOSH_DNS_SERVER", "(system resolver)", "host:port of the DNS server for SRV lookups"),
      new Variable("XBOSH_UPSTREAM_TLS", "optional", "off, optional (STARTTLS when offered), required (STARTTLS or remote-connection-failed), direct (TLS from the first byte)"),
      new Variable("XBOSH_UPSTREAM_TRUST", "(JVM trust store)", "PEM file of the certificate authorities trusted for the XMPP server's certificate"),
      new Variable("XBOSH_UPSTREAM_PROXY_PROTOCOL", "off", "off, v2 or v1: send a PROXY protocol header first on every c2s connection so the XMPP server sees the BOSH client's address (the server must expect it)"),
      new Variable("XBOSH_NODE_ID", "host name", "this pod's id ([A-Za-z0-9._-], unique in the deployment)"),
      new Variable("XBOSH_EVENT_LOOPS", "cores - 1, at least 1", "HTTP verticle instances (event loops serving clients)"),
      new Variable("XBOSH_MAX_WAIT", "60", "largest 'wait' granted, seconds; keep below proxy timeouts"),
      new Variable("XBOSH_MAX_HOLD", "2", "largest 'hold' granted"),
      new Variable("XBOSH_INACTIVITY", "60", "'inactivity' of long-polling sessions, seconds"),
      new Variable("XBOSH_POLLING_INACTIVITY", "120", "'inactivity' of polling sessions (hold or wait 0), seconds"),
      new Variable("XBOSH_POLLING", "2", "'polling': shortest interval between empty polls, seconds"),
      new Variable("XBOSH_MAX_PAUSE", "120", "'maxpause': longest pause a client may ask for, seconds; 0 turns pausing off"),
      new Variable("XBOSH_MAX_STREAMS", "4", "streams a session may have open at once (XEP-0124 §16 multiple streams); 1 turns the feature off"),
      new Variable("XBOSH_MAX_BODY_BYTES", "65536", "largest request body; larger gets HTTP 413"),
      new Variable("XBOSH_MAX_STANZA_BYTES", "262144", "largest stanza accepted from the XMPP server"),
      new Variable("XBOSH_MAX_QUEUED_STANZAS", "1000", "server stanzas buffered per session before reading from the server pauses"),
      new Variable("XBOSH_MAX_READ_AHEAD_BYTES", "1048576", "bytes of server stanzas an upstream link holds read but not yet in the store before reading from the server pauses"),
      new Variable("XBOSH_MAX_QUEUED_BYTES", "4194304", "bytes of server stanzas buffered per session before reading from the server pauses"),
      new Variable("XBOSH_MAX_RESPONSE_BYTES", "1048576", "bytes of server stanzas one response carries at most (at least one stanza)"),
      new Variable("XBOSH_MAX_SESSIONS", "10000", "upstream links this pod owns at most; beyond it creation is refused"),
      new Variable("XBOSH_MAX_HELD_REQUESTS", "20000", "HTTP requests this pod holds at most; beyond it HTTP 503"),
      new Variable("XBOSH_MAX_HELD_PER_ADDRESS", "(a tenth of XBOSH_MAX_HELD_REQUESTS, at least 4)", "BOSH requests one client address may have held or in progress; beyond it HTTP 503; the last tenth of XBOSH_MAX_HELD_REQUESTS only goes to addresses with none"),
      new Variable("XBOSH_MAX_CONNECTIONS", "10000", "open client connections per pod (keep well below the process's file descriptor limit); beyond it new connections are closed; the last tenth only goes to addresses with none open"),
      new Variable("XBOSH_MAX_CONNECTIONS_PER_ADDRESS", "256", "open client connections per client address; beyond it new connections are closed; 0: no limit"),
      new Variable("XBOSH_HEAD_TIMEOUT_MS", "10000", "time for a request head to arrive (from the connection's opening, or the request's first byte); then HTTP 408 and the connection closes"),
      new Variable("XBOSH_BODY_TIMEOUT_MS", "30000", "time for a request body to arrive after its head; then the connection closes"),
      new Variable("XBOSH_PREAUTH_SECONDS", "30", "a session whose server has not sent SASL success within this time ends with policy-violation and its upstream link closes"),
      new Variable("XBOSH_MAX_PREAUTH_SESSIONS", "1000", "sessions not yet authenticated per pod (each holds a connection to the XMPP server); beyond it creation gets HTTP 429; the last tenth only goes to addresses with none"),
      new Variable("XBOSH_MAX_PREAUTH_PER_ADDRESS", "20", "sessions not yet authenticated per client address; beyond it creation gets HTTP 429"),
      new Variable("XBOSH_CREATES_PER_SECOND", "5", "session creations per client address per second (bursts of twice as many); beyond it HTTP 429; 0: no limit"),
      new Variable("XBOSH_CONNECT_TIMEOUT_MS", "10000", "time to connect to the XMPP server and receive its stream features"),
      new Variable("XBOSH_MAX_CONNECTS_IN_FLIGHT", "100", "connections to the XMPP server being opened at once per pod (TCP, TLS, until stream features); beyond it session creation gets HTTP 503 with Retry-After"),
      new Variable("XBOSH_SWEEP_MS", "5000", "how often a pod reads the sessions its expiry index says may have expired, and closes the upstream links of expired ones"),
      new Variable("XBOSH_TOMBSTONE_SECONDS", "120", "how long an ended session answers its final body before its sid is unknown"),
      new Variable("XBOSH_HEARTBEAT_MS", "1000", "how often a pod renews its heartbeat in Redis and reads the others'"),
      new Variable("XBOSH_POD_DEAD_MS", "3000", "a pod whose heartbeat (on Redis' clock) is this old is dead: its sessions end with internal-server-error; at least 3 heartbeats. A pod also fails /ready after Redis has not answered it for this long"),
      new Variable("XBOSH_DRAIN_SECONDS", "30", "on SIGTERM, how long owned sessions keep their upstream link before system-shutdown"),
      new Variable("XBOSH_CORS_ORIGINS", "(empty: none)", "comma-separated origins (https://app.example.org) whose pages may call the BOSH path from another origin; * allows any"),
      new Variable("XBOSH_WARMUP_SESSIONS", "300", "before /ready, BOSH sessions run through the pod itself (its listener, its store, its connector) to an XMPP server inside the process, so the JIT compiles the request path and the Redis pool is open before real clients come; their ids no client can have, their keys deleted after; 0: no warm-up, ready as soon as it listens"),
      new Variable("XBOSH_WARMUP_SECONDS", "30", "the warm-up ends after this many seconds even if not all its sessions ran; 0: no warm-up"),
      new Variable("XBOSH_WARMUP_CONCURRENCY", "8", "warm-up sessions at once"),
      new Variable("XBOSH_LOG_FORMAT", "text", "log format, read by logback.xml: text, or json (one object per line)"),
      new Variable("XBOSH_LOG_LEVEL", "INFO", "log level, read by logback.xml (TRACE logs every payload; never use it in production)"));

  /**
   * {@code XBOSH_*} variables of the environment that xbosh does not know, each with the nearest
   * known name: a misspelt setting is otherwise silently ignored.
   */
  public static List<String> unknownVariables(Map<String, String> env) {
    List<String> out = new ArrayList<>();
    for (String name : new TreeSet<>(env.keySet())) {
      if (!name.startsWith("XBOSH_") || VARIABLES.stream().anyMatch(v -> v.name().equals(name))) {
        continue;
      }
      String nearest = VARIABLES.stream().map(Variable::name).min(java.util.Comparator.comparingInt(v -> distance(v, name))).orElseThrow();
      out.add(name + " is not a setting of xbosh" + (distance(nearest, name) <= 3 ? " (did you mean " + nearest + "?)" : "")
          + "; it is ignored");
    }
    return out;
  }

  /** {@link #unknownVariables} of the process environment. */
  public static List<String> unknownVariablesInEnv() {
    return unknownVariables(System.getenv());
  }

  private static int distance(String a, String b) {
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      prev[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
        cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }

  /**
   * The listeners' event loops when {@code XBOSH_EVENT_LOOPS} is not set: one core fewer than the
   * JVM sees, at least one. A login step that lands on one loop while its link and Redis connection
   * are on another wakes both threads and waits for a core twice; at 2 cores one loop halved the
   * pod's context switches per login (BENCHMARKS.md, "Warm: one event loop at two cores"), and the
   * spare core runs the liveness loop, the JIT and the collector.
   */
  static int defaultEventLoops(int cores) {
    return Math.max(1, cores - 1);
  }

  public static XboshConfig fromEnv() {
    return from(System.getenv());
  }

  /**
   * Builds the config from a variable map.
   *
   * @throws IllegalArgumentException listing every bad value, one per line
   */
  public static XboshConfig from(Map<String, String> env) {
    Reader r = new Reader(env);
    String nodeId = r.get("XBOSH_NODE_ID", defaultNodeId(), s -> {
      if (!NODE_ID.matcher(s).matches()) {
        throw new IllegalArgumentException("must match " + NODE_ID.pattern());
      }
      return s;
    });
    int maxHeld = r.intIn("XBOSH_MAX_HELD_REQUESTS", 20000, 1, 10_000_000);
    XboshConfig c = new XboshConfig(
        r.get("XBOSH_HTTP_HOST", "0.0.0.0", Function.identity()),
        r.intIn("XBOSH_HTTP_PORT", 5280, 0, 65535),
        r.get("XBOSH_HTTP_PATH", "/http-bind", s -> {
          if (!s.startsWith("/")) {
            throw new IllegalArgumentException("must start with /");
          }
          return s;
        }),
        r.intIn("XBOSH_MANAGEMENT_PORT", -1, 0, 65535),
        r.get("XBOSH_ADMIN_TOKEN_FILE", null, f -> {
          Secret token = secretFile(f);
          if (token.value().length() < 16) {
            throw new IllegalArgumentException("the token must have at least 16 characters");
          }
          return token;
        }),
        wsPath(env, r),
        r.intIn("XBOSH_WS_MAX_FRAME_BYTES", 65536, 1024, 16 * 1024 * 1024),
        r.intIn("XBOSH_WS_PING_SECONDS", 30, 0, 3600),
        r.get("XBOSH_WS_SEE_OTHER_URI", null, s -> {
          if (!s.startsWith("wss://") && !s.startsWith("ws://")) {
            throw new IllegalArgumentException("must start with wss:// or ws://");
          }
          if (s.chars().anyMatch(ch -> ch < 0x21 || ch == '"' || ch == '\'' || ch == '<' || ch == '>' || ch == '&')) {
            throw new IllegalArgumentException("must be a URI without spaces, quotes, <, > or &");
          }
          return s;
        }),
        r.redacted("XBOSH_REDIS_URL", XboshConfig::redactUrl, XboshConfig::parseRedisUrls),
        r.get("XBOSH_REDIS_CLUSTER", false, XboshConfig::bool),
        r.intIn("XBOSH_REDIS_POOL_SIZE", 32, 1, 1024),
        r.get("XBOSH_REDIS_LOOP_CONNECTIONS", false, XboshConfig::bool),
        r.get("XBOSH_REDIS_SENTINEL", null, s -> {
          if (!s.matches("[A-Za-z0-9._-]{1,128}")) {
            throw new IllegalArgumentException("must be a master name ([A-Za-z0-9._-])");
          }
          return s;
        }),
        r.get("XBOSH_REDIS_USER", null, s -> {
          if (!s.matches("[!-~]{1,128}")) {
            throw new IllegalArgumentException("must be printable ASCII without spaces");
          }
          return s;
        }),
        redisPassword(r),
        r.get("XBOSH_REDIS_TLS_CA", null, XboshConfig::readable),
        r.get("XBOSH_REDIS_TLS_CERT", null, XboshConfig::readable),
        r.get("XBOSH_REDIS_TLS_KEY", null, XboshConfig::readable),
        r.get("XBOSH_REDIS_TLS_VERIFY_HOST", true, XboshConfig::bool),
        r.get("XBOSH_UPSTREAM", new HostPort("127.0.0.1", 5222), s -> s.equals("srv") ? null : HostPort.parse(s)),
        Objects.requireNonNullElse(r.redacted("XBOSH_UPSTREAM_HOSTS", XboshConfig::redactUrl, XboshConfig::parseHostMap), Map.of()),
        r.get("XBOSH_DOMAINS", Set.of(), XboshConfig::parseSet),
        nodeId,
        r.intIn("XBOSH_EVENT_LOOPS", defaultEventLoops(Runtime.getRuntime().availableProcessors()), 1, 256),
        r.intIn("XBOSH_MAX_WAIT", 60, 1, 3600),
        r.intIn("XBOSH_MAX_HOLD", 2, 0, 16),
        r.intIn("XBOSH_INACTIVITY", 60, 1, 86400),
        r.intIn("XBOSH_POLLING_INACTIVITY", 120, 1, 86400),
        r.intIn("XBOSH_POLLING", 2, 0, 3600),
        r.intIn("XBOSH_MAX_PAUSE", 120, 0, 86400),
        r.intIn("XBOSH_MAX_BODY_BYTES", 65536, 1024, 16 * 1024 * 1024),
        r.intIn("XBOSH_MAX_STANZA_BYTES", 262144, 1024, 64 * 1024 * 1024),
        r.intIn("XBOSH_MAX_QUEUED_STANZAS", 1000, 1, 1_000_000),
        r.intIn("XBOSH_MAX_READ_AHEAD_BYTES", 1048576, 1024, 1024 * 1024 * 1024),
        r.intIn("XBOSH_MAX_QUEUED_BYTES", 4 << 20, 1024, 1 << 30),
        r.intIn("XBOSH_MAX_RESPONSE_BYTES", 1 << 20, 1024, 1 << 30),
        r.intIn("XBOSH_MAX_SESSIONS", 10000, 1, 10_000_000),
        maxHeld,
        r.intIn("XBOSH_MAX_HELD_PER_ADDRESS", Math.max(4, maxHeld / 10), 1, 10_000_000),
        r.intIn("XBOSH_MAX_CONNECTIONS", 10000, 1, 10_000_000),
        r.intIn("XBOSH_MAX_CONNECTIONS_PER_ADDRESS", 256, 0, 10_000_000),
        r.intIn("XBOSH_HEAD_TIMEOUT_MS", 10000, 100, 600_000),
        r.intIn("XBOSH_BODY_TIMEOUT_MS", 30000, 100, 600_000),
        r.intIn("XBOSH_PREAUTH_SECONDS", 30, 1, 3600),
        r.intIn("XBOSH_MAX_PREAUTH_SESSIONS", 1000, 1, 10_000_000),
        r.intIn("XBOSH_MAX_PREAUTH_PER_ADDRESS", 20, 1, 10_000_000),
        r.intIn("XBOSH_CREATES_PER_SECOND", 5, 0, 1_000_000),
        r.intIn("XBOSH_CONNECT_TIMEOUT_MS", 10000, 100, 600_000),
        r.intIn("XBOSH_MAX_CONNECTS_IN_FLIGHT", 100, 1, 1_000_000),
        r.intIn("XBOSH_SWEEP_MS", 5000, 50, 600_000),
        r.intIn("XBOSH_TOMBSTONE_SECONDS", 120, 1, 86400),
        r.intIn("XBOSH_HEARTBEAT_MS", 1000, 100, 60_000),
        r.intIn("XBOSH_POD_DEAD_MS", 3000, 300, 600_000),
        r.intIn("XBOSH_DRAIN_SECONDS", 30, 0, 86400),
        r.get("XBOSH_CORS_ORIGINS", Set.of(), XboshConfig::parseOrigins),
        r.get("XBOSH_ROUTE_ALLOW", Set.of(), XboshConfig::parseRoutes),
        r.get("XBOSH_DNS_SERVER", null, HostPort::parse),
        r.get("XBOSH_UPSTREAM_TLS", UpstreamTls.OPTIONAL, s -> switch (s) {
          case "off" -> UpstreamTls.OFF;
          case "optional" -> UpstreamTls.OPTIONAL;
          case "required" -> UpstreamTls.REQUIRED;
          case "direct" -> UpstreamTls.DIRECT;
          default -> throw new IllegalArgumentException("must be off, optional, required or direct");
        }),
        r.get("XBOSH_UPSTREAM_TRUST", null, XboshConfig::readable),
        r.get("XBOSH_UPSTREAM_PROXY_PROTOCOL", ProxyProtocol.OFF, s -> switch (s) {
          case "off" -> ProxyProtocol.OFF;
          case "v1" -> ProxyProtocol.V1;
          case "v2" -> ProxyProtocol.V2;
          default -> throw new IllegalArgumentException("must be off, v1 or v2");
        }),
        r.intIn("XBOSH_MAX_STREAMS", 4, 1, 16),
        r.get("XBOSH_HTTP_TLS_CERT", null, XboshConfig::readable),
        r.get("XBOSH_HTTP_TLS_KEY", null, XboshConfig::readable),
        r.get("XBOSH_HTTP2_CLEARTEXT", false, XboshConfig::bool),
        r.get("XBOSH_TRUST_FORWARDED_PROTO", false, XboshConfig::bool),
        r.get("XBOSH_TRUST_FORWARDED_FOR", false, XboshConfig::bool),
        pollPath(env, r),
        new Warmup(r.intIn("XBOSH_WARMUP_SESSIONS", 300, 0, 100_000), r.intIn("XBOSH_WARMUP_SECONDS", 30, 0, 3600),
            r.intIn("XBOSH_WARMUP_CONCURRENCY", 8, 1, 256)),
        new AmqpConfig(Objects.requireNonNullElse(r.redacted("XBOSH_UPSTREAM_HOSTS", XboshConfig::redactUrl, AmqpConfig::parseHosts), Map.of()),
            r.get("XBOSH_AMQP_TRUST", null, XboshConfig::readable),
            r.intIn("XBOSH_AMQP_PREFETCH", AmqpConfig.NONE.prefetch(), 1, 1000),
            r.intIn("XBOSH_AMQP_OFFLINE_SECONDS", AmqpConfig.NONE.offlineSeconds(), 1, 365 * 24 * 3600),
            r.intIn("XBOSH_AMQP_QUEUE_MAX", AmqpConfig.NONE.queueMax(), 1, 10_000_000),
            r.intIn("XBOSH_AMQP_RECONNECT_SECONDS", AmqpConfig.NONE.reconnectSeconds(), 0, 3600),
            r.get("XBOSH_AMQP_CERT", null, XboshConfig::readable),
            r.get("XBOSH_AMQP_KEY", null, XboshConfig::readable)));
    r.get("XBOSH_LOG_FORMAT", "text", s -> switch (s) {
      case "text", "json" -> s;
      default -> throw new IllegalArgumentException("must be text or json (lower case)");
    });
    r.get("XBOSH_LOG_LEVEL", "INFO", s -> switch (s.toUpperCase(java.util.Locale.ROOT)) {
      case "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF" -> s;
      default -> throw new IllegalArgumentException("must be TRACE, DEBUG, INFO, WARN, ERROR or OFF");
    });
    if ((c.httpTlsCert() == null) != (c.httpTlsKey() == null)) {
      r.error("XBOSH_HTTP_TLS_CERT and XBOSH_HTTP_TLS_KEY go together");
    }
    if ((c.amqp().cert() == null) != (c.amqp().key() == null)) {
      r.error("XBOSH_AMQP_CERT and XBOSH_AMQP_KEY go together");
    }
    checkRedis(c, r);
    if (c.adminToken() != null && !c.separateManagement()) {
      r.error("XBOSH_ADMIN_TOKEN_FILE needs XBOSH_MANAGEMENT_PORT: the admin API is never on the BOSH port");
    }
    if (c.separateManagement() && c.managementPort() != 0 && c.managementPort() == c.httpPort()) {
      r.error("XBOSH_MANAGEMENT_PORT must differ from XBOSH_HTTP_PORT");
    }
    if (c.podDeadMs() < 3 * c.heartbeatMs()) {
      r.error("XBOSH_POD_DEAD_MS must be at least three times XBOSH_HEARTBEAT_MS (a pod may miss two beats and live)");
    }
    if (c.wsPath() != null && c.wsPath().equals(c.httpPath())) {
      r.error("XBOSH_WS_PATH and XBOSH_HTTP_PATH must differ");
    }
    if (c.pollPath() != null && (c.pollPath().equals(c.httpPath()) || c.pollPath().equals(c.wsPath()))) {
      r.error("XBOSH_POLL_PATH must differ from XBOSH_HTTP_PATH and XBOSH_WS_PATH");
    }
    r.check();
    return c;
  }

  private static String parseRedisUrls(String s) {
    boolean tls = s.startsWith("rediss://");
    for (String url : s.split(",")) {
      if (!url.startsWith("redis://") && !url.startsWith("rediss://") && !url.startsWith("unix://")) {
        throw new IllegalArgumentException("each URL must start with redis://, rediss:// or unix://");
      }
      if (url.startsWith("rediss://") != tls) {
        throw new IllegalArgumentException("either every URL is rediss:// (TLS) or none is");
      }
      try {
        java.net.URI uri = new java.net.URI(url);
        if (!url.startsWith("unix://") && uri.getHost() == null) {
          throw new IllegalArgumentException("a URL has no host name");
        }
      } catch (java.net.URISyntaxException e) {
        throw new IllegalArgumentException("a URL is malformed");
      }
    }
    return s;
  }

  /** A Redis URL list as it may be printed: any password replaced by ***. */
  public static String redactUrl(String s) {
    return s.replaceAll("(?<=://)([^@/,]*):[^@/,]*@", "$1:***@").replaceAll("(?i)([?&]password=)[^&,]*", "$1***");
  }

  private static Secret redisPassword(Reader r) {
    Secret inline = r.redacted("XBOSH_REDIS_PASSWORD", s -> "***", Secret::new);
    Secret fromFile = r.get("XBOSH_REDIS_PASSWORD_FILE", null, XboshConfig::secretFile);
    if (inline != null && fromFile != null) {
      r.error("XBOSH_REDIS_PASSWORD and XBOSH_REDIS_PASSWORD_FILE: set one of them");
    }
    return inline != null ? inline : fromFile;
  }

  /** A secret in a file (a mounted Secret): its content without one trailing newline. */
  private static Secret secretFile(String f) {
    try {
      String p = java.nio.file.Files.readString(java.nio.file.Path.of(readable(f)));
      p = p.endsWith("\r\n") ? p.substring(0, p.length() - 2) : p.endsWith("\n") ? p.substring(0, p.length() - 1) : p;
      if (p.isEmpty()) {
        throw new IllegalArgumentException("the file is empty");
      }
      return new Secret(p);
    } catch (java.io.IOException e) {
      throw new IllegalArgumentException("cannot be read: " + e.getMessage());
    }
  }

  /** Whether /health, /ready, /metrics and the admin API have a listener of their own. */
  public boolean separateManagement() {
    return managementPort >= 0;
  }

  private static void checkRedis(XboshConfig c, Reader r) {
    boolean redisSettings = c.redisCluster() || c.redisSentinelMaster() != null || c.redisUser() != null
        || c.redisPassword() != null || c.redisTlsCa() != null || c.redisTlsCert() != null;
    if (c.redisUrl() == null) {
      if (redisSettings) {
        r.error("Redis settings (cluster, sentinel, user, password, TLS) need XBOSH_REDIS_URL");
      }
      return;
    }
    if (c.redisCluster() && c.redisSentinelMaster() != null) {
      r.error("XBOSH_REDIS_CLUSTER and XBOSH_REDIS_SENTINEL: set one of them");
    }
    if ((c.redisTlsCert() == null) != (c.redisTlsKey() == null)) {
      r.error("XBOSH_REDIS_TLS_CERT and XBOSH_REDIS_TLS_KEY go together");
    }
    if (!c.redisTls() && (c.redisTlsCa() != null || c.redisTlsCert() != null)) {
      r.error("XBOSH_REDIS_TLS_CA and XBOSH_REDIS_TLS_CERT need rediss:// URLs in XBOSH_REDIS_URL");
    }
    if (c.redisPassword() != null && c.redisUrls().stream().anyMatch(u -> u.matches("[a-z]+://[^@/]*:[^@/]*@.*"))) {
      r.error("XBOSH_REDIS_URL has a password and XBOSH_REDIS_PASSWORD(_FILE) is set: set one of them");
    }
  }

  /** The WebSocket path; set but empty, or {@code off}: no WebSocket endpoint. */
  private static String wsPath(Map<String, String> env, Reader r) {
    String raw = env.get("XBOSH_WS_PATH");
    if (raw != null && (raw.isBlank() || raw.trim().equals("off"))) {
      return null;
    }
    return r.get("XBOSH_WS_PATH", "/xmpp-websocket", s -> {
      if (!s.startsWith("/")) {
        throw new IllegalArgumentException("must start with / (or be empty or off)");
      }
      return s;
    });
  }

  /** The HTTP Polling path (XEP-0025); off unless set: {@code on} is {@code /http-poll}. */
  private static String pollPath(Map<String, String> env, Reader r) {
    String raw = env.get("XBOSH_POLL_PATH");
    if (raw == null || raw.isBlank() || raw.trim().equals("off")) {
      return null;
    }
    return r.get("XBOSH_POLL_PATH", null, s -> {
      if (s.equals("on")) {
        return "/http-poll";
      }
      if (!s.matches("/[A-Za-z0-9._~/-]*")) {
        throw new IllegalArgumentException("must be on, off, or a path starting with / (letters, digits, . _ ~ - /)");
      }
      return s;
    });
  }

  private static String readable(String s) {
    if (!java.nio.file.Files.isReadable(java.nio.file.Path.of(s))) {
      throw new IllegalArgumentException("not a readable file");
    }
    return s;
  }

  private static boolean bool(String s) {
    return switch (s) {
      case "true" -> true;
      case "false" -> false;
      default -> throw new IllegalArgumentException("must be true or false");
    };
  }

  private static Set<String> parseOrigins(String s) {
    Set<String> out = new TreeSet<>();
    for (String o : s.split(",")) {
      String origin = o.trim();
      if (origin.isEmpty()) {
        continue;
      }
      if (!origin.equals("*") && !origin.matches("https?://[A-Za-z0-9.-]+(:\\d{1,5})?")) {
        throw new IllegalArgumentException("'" + origin + "' is not an origin like https://app.example.org");
      }
      out.add(origin);
    }
    return out;
  }

  private static Set<String> parseRoutes(String s) {
    Set<String> out = new TreeSet<>();
    for (String e : s.split(",")) {
      String entry = e.trim().toLowerCase(java.util.Locale.ROOT);
      if (entry.isEmpty()) {
        continue;
      }
      if (!entry.matches("(\\[[0-9a-f:.]{2,45}]|[a-z0-9.-]{1,253}):(\\*|\\d{1,5})")) {
        throw new IllegalArgumentException("'" + entry + "' is not host:port or host:*");
      }
      out.add(entry);
    }
    return Set.copyOf(out);
  }

  /** Text for {@code --help}. */
  public static String help() {
    StringBuilder sb = new StringBuilder("xbosh: XMPP-over-BOSH connection manager\n\nEnvironment variables:\n");
    for (Variable v : VARIABLES) {
      sb.append(String.format("  %-26s default %-16s %s%n", v.name(), v.defaultValue(), v.description()));
    }
    return sb.toString();
  }

  private static String defaultNodeId() {
    String host;
    try {
      host = InetAddress.getLocalHost().getHostName();
    } catch (Exception e) {
      host = "xbosh";
    }
    String id = host.replaceAll("[^A-Za-z0-9._-]", "-");
    return id.length() > 64 ? id.substring(0, 64) : id;
  }

  private static Map<String, HostPort> parseHostMap(String s) {
    Map<String, HostPort> m = new LinkedHashMap<>();
    for (String entry : s.split(",")) {
      entry = entry.trim();
      if (entry.isEmpty()) {
        continue;
      }
      int eq = entry.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException("expected domain=host:port, got '" + entry + "'");
      }
      if (AmqpConfig.isBroker(entry.substring(eq + 1))) {
        continue; // a broker: AmqpConfig's
      }
      m.put(entry.substring(0, eq).trim().toLowerCase(), HostPort.parse(entry.substring(eq + 1).trim()));
    }
    return Map.copyOf(m);
  }

  private static Set<String> parseSet(String s) {
    Set<String> set = new TreeSet<>();
    for (String d : s.split(",")) {
      if (!d.isBlank()) {
        set.add(d.trim().toLowerCase());
      }
    }
    return Set.copyOf(set);
  }

  /** Collects every problem before failing, so an operator fixes them all at once. */
  private static final class Reader {
    private final Map<String, String> env;
    private final List<String> errors = new ArrayList<>();

    Reader(Map<String, String> env) {
      this.env = env;
    }

    <T> T get(String name, T dflt, Function<String, T> parse) {
      String raw = env.get(name);
      if (raw == null || raw.isBlank()) {
        return dflt;
      }
      try {
        return parse.apply(raw.trim());
      } catch (IllegalArgumentException e) {
        errors.add(name + "='" + raw + "': " + e.getMessage());
        return dflt;
      }
    }

    /** Like {@link #get}, but an error echoes the value only as {@code redact} prints it. */
    <T> T redacted(String name, Function<String, String> redact, Function<String, T> parse) {
      String raw = env.get(name);
      if (raw == null || raw.isBlank()) {
        return null;
      }
      try {
        return parse.apply(raw.trim());
      } catch (IllegalArgumentException e) {
        errors.add(name + "='" + redact.apply(raw) + "': " + e.getMessage());
        return null;
      }
    }

    int intIn(String name, int dflt, int min, int max) {
      return get(name, dflt, s -> {
        int v;
        try {
          v = Integer.parseInt(s);
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException("not a whole number");
        }
        if (v < min || v > max) {
          throw new IllegalArgumentException("must be between " + min + " and " + max);
        }
        return v;
      });
    }

    void error(String message) {
      errors.add(message);
    }

    void check() {
      if (!errors.isEmpty()) {
        throw new IllegalArgumentException("invalid configuration:\n  " + String.join("\n  ", errors));
      }
    }
  }
}
