package io.xbosh.session;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.xbosh.config.XboshConfig;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.ProsodyProcess;
import io.xbosh.testing.RedisProcess;
import io.xbosh.testing.TestAuthority;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Redis as a managed service runs it: TLS only, with its own certificate authority, client
 * certificates required, the default user off and xbosh's user holding exactly the ACL of
 * docs/ops/redis-acl.conf. The whole store contract runs over that connection, and two pods serve
 * a session through it (scripts, pod channel, heartbeats).
 */
class SecureRedisIT extends SessionStoreContract {

  private static final String PASSWORD = "s3cret-pw";

  private static TestAuthority ca;
  private static TestAuthority otherCa;
  private static TestAuthority.Issued client;
  private static Path passwordFile;
  private static RedisProcess redisServer;
  private static Vertx vertx;
  private static Redis redis;
  private static Redis redisClient;
  private static RedisSessionStore store;

  @BeforeAll
  static void startRedis() throws Exception {
    ca = TestAuthority.create("xbosh test CA");
    otherCa = TestAuthority.create("someone else's CA");
    TestAuthority.Issued server = ca.issue("localhost", "DNS:localhost");
    client = ca.issue("xbosh-pod");
    String acl = Files.readString(Path.of("docs/ops/redis-acl.conf")).lines()
        .filter(l -> l.startsWith("user ")).findFirst().orElseThrow();
    assertThat(acl).contains(">CHANGE-ME");
    Path aclFile = ca.file("users.acl", "user default off\n" + acl.replace(">CHANGE-ME", ">" + PASSWORD) + "\n");
    passwordFile = ca.file("redis-password", PASSWORD + "\n");
    redisServer = RedisProcess.startTls(server.cert(), server.key(), ca.cert(), List.of("--aclfile", aclFile.toString()));
    vertx = Vertx.vertx();
    redis = new RedisClients(vertx, XboshConfig.from(env())).commands();
    redisClient = redis;
    store = new RedisSessionStore(redis, false, "pod-a", 50, 60);
  }

  /** xbosh's settings for this server: CA, client certificate, user and password file. */
  private static Map<String, String> env() {
    Map<String, String> env = new HashMap<>();
    env.put("XBOSH_REDIS_URL", "rediss://localhost:" + redisServer.port());
    env.put("XBOSH_REDIS_TLS_CA", ca.cert().toString());
    env.put("XBOSH_REDIS_TLS_CERT", client.cert().toString());
    env.put("XBOSH_REDIS_TLS_KEY", client.key().toString());
    env.put("XBOSH_REDIS_USER", "xbosh");
    env.put("XBOSH_REDIS_PASSWORD_FILE", passwordFile.toString());
    return env;
  }

  @AfterAll
  static void stopRedis() throws Exception {
    if (redis != null) {
      get(redis.close());
    }
    if (vertx != null) {
      get(vertx.close());
    }
    if (redisServer != null) {
      redisServer.close();
    }
    if (ca != null) {
      ca.close();
    }
    if (otherCa != null) {
      otherCa.close();
    }
  }

  @Override
  SessionStore store() {
    return store;
  }

  @Override
  SessionStore store(int maxOut, int maxOutBytes, int maxResponseBytes) {
    return new RedisSessionStore(redisClient, false, "pod-a", maxOut, maxOutBytes, maxResponseBytes, 60, SessionStore.DEFAULT_MAX_STREAMS,
        new io.micrometer.core.instrument.simple.SimpleMeterRegistry());
  }

  /** PINGs through a client made from {@link #env()} with these changes. */
  private static String ping(Map<String, String> changes) throws Exception {
    Map<String, String> env = env();
    env.putAll(changes);
    Redis r = new RedisClients(vertx, XboshConfig.from(env)).commands();
    try {
      return get(r.send(Request.cmd(Command.PING))).toString();
    } finally {
      r.close();
    }
  }

  @Test
  void theServerIsReachedOverVerifiedTls() throws Exception {
    assertThat(ping(Map.of())).isEqualTo("PONG");
    // a server whose certificate another authority issued is refused
    assertThatThrownBy(() -> ping(Map.of("XBOSH_REDIS_TLS_CA", otherCa.cert().toString()))).isNotNull();
    // a certificate that does not name the host in the URL is refused unless verification is off
    String byAddress = "rediss://127.0.0.1:" + redisServer.port();
    assertThatThrownBy(() -> ping(Map.of("XBOSH_REDIS_URL", byAddress))).isNotNull();
    assertThat(ping(Map.of("XBOSH_REDIS_URL", byAddress, "XBOSH_REDIS_TLS_VERIFY_HOST", "false"))).isEqualTo("PONG");
  }

  @Test
  void withoutClientCertificateOrWithAWrongPasswordTheServerRefuses() throws Exception {
    Map<String, String> noCert = new HashMap<>(env());
    noCert.remove("XBOSH_REDIS_TLS_CERT");
    noCert.remove("XBOSH_REDIS_TLS_KEY");
    Redis r = new RedisClients(vertx, XboshConfig.from(noCert)).commands();
    try {
      assertThatThrownBy(() -> get(r.send(Request.cmd(Command.PING)))).isNotNull();
    } finally {
      r.close();
    }
    Path wrong = ca.file("wrong-password", "not-it");
    assertThatThrownBy(() -> ping(Map.of("XBOSH_REDIS_PASSWORD_FILE", wrong.toString()))).hasMessageContaining("WRONGPASS");
  }

  @Test
  void theAclAllowsXboshsKeysAndCommandsOnly() throws Exception {
    assertThatThrownBy(() -> get(redis.send(Request.cmd(Command.SET).arg("other:key").arg("v")))).hasMessageContaining("NOPERM");
    assertThatThrownBy(() -> get(redis.send(Request.cmd(Command.FLUSHALL)))).hasMessageContaining("NOPERM");
    assertThatThrownBy(() -> get(redis.send(Request.cmd(Command.KEYS).arg("*")))).hasMessageContaining("NOPERM");
    assertThat(get(redis.send(Request.cmd(Command.SET).arg("xb:probe").arg("v").arg("PX").arg(1000))).toString()).isEqualTo("OK");
    // the store's library: loaded and called by this user (else the store would fall back to scripts unseen)
    get(redis.send(Request.cmd(Command.FUNCTION).arg("LOAD").arg("REPLACE")
        .arg("#!lua name=xb_probe\nredis.register_function('xb_probe', function() return 1 end)")));
    assertThat(get(redis.send(Request.cmd(Command.FCALL).arg("xb_probe").arg(0))).toInteger()).isEqualTo(1);
    assertThatThrownBy(() -> get(redis.send(Request.cmd(Command.FUNCTION).arg("FLUSH")))).hasMessageContaining("NOPERM");
  }

  /** Two pods on the least-privilege user: creation, SASL, bind, a ping and terminate go to alternate pods. */
  @Test
  void twoPodsServeASessionThroughTheLeastPrivilegeUser() throws Exception {
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
    try (ProsodyProcess prosody = ProsodyProcess.start(Map.of("alice", "alicepw"))) {
      Map<String, String> env = env();
      env.put("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort());
      env.put("XBOSH_NODE_ID", "secure-a");
      try (InProcessXbosh a = InProcessXbosh.start(env)) {
        env.put("XBOSH_NODE_ID", "secure-b");
        try (InProcessXbosh b = InProcessXbosh.start(env)) {
          assertThat(a.xbosh().pod().ready()).isTrue();
          assertThat(b.xbosh().pod().ready()).isTrue();
          List<URI> both = List.of(a.endpoint(), b.endpoint());
          BoshSession s = BoshSession.login(http, both, ProsodyProcess.DOMAIN, "alice", "alicepw", "secure");
          assertThat(BoshSession.pingResult(s, ProsodyProcess.DOMAIN, "p1")).contains("type=\"result\"");
          String bye = s.sendBody("type='terminate'", "<presence xmlns='jabber:client' type='unavailable'/>").body();
          assertThat(bye).contains("type=\"terminate\"");
        }
      }
    }
  }
}
