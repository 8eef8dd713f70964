package io.xbosh.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vertx.core.Vertx;
import io.xbosh.Xbosh;
import io.xbosh.config.XboshConfig;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.ProsodyProcess;
import io.xbosh.testing.RedisProcess;
import io.xbosh.testing.TestCertificate;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * XEP-0124 §19.1: a session begun encrypted stays encrypted. Two pods share one redis-server: one
 * speaks HTTPS itself, the other plain HTTP behind a (simulated) TLS-terminating proxy whose
 * {@code X-Forwarded-Proto} it trusts.
 */
class SecureSessionIT {

  static final String B = BoshSession.B;

  static TestCertificate cert;
  static ProsodyProcess prosody;
  static RedisProcess redis;
  static Vertx vertx;
  static Xbosh httpsPod;
  static Xbosh plainPod;
  static HttpClient https;
  static final HttpClient plain = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();

  @BeforeAll
  static void startAll() throws Exception {
    cert = TestCertificate.create();
    https = cert.trustingClient();
    prosody = ProsodyProcess.start(Map.of("alice", "alicepw"));
    redis = RedisProcess.start();
    vertx = Vertx.vertx();
    Map<String, String> env = new HashMap<>(Map.of(
        "XBOSH_HTTP_HOST", "127.0.0.1",
        "XBOSH_HTTP_PORT", "0",
        "XBOSH_EVENT_LOOPS", "1",
        "XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(),
        "XBOSH_REDIS_URL", redis.url()));
    Map<String, String> secured = new HashMap<>(env);
    secured.put("XBOSH_NODE_ID", "https-pod");
    secured.put("XBOSH_HTTP_TLS_CERT", cert.cert().toString());
    secured.put("XBOSH_HTTP_TLS_KEY", cert.key().toString());
    httpsPod = Xbosh.start(vertx, XboshConfig.from(io.xbosh.testing.OneClientAddress.withLimitsOff(secured))).toCompletionStage().toCompletableFuture().get(20, TimeUnit.SECONDS);
    Map<String, String> proxied = new HashMap<>(env);
    proxied.put("XBOSH_NODE_ID", "proxied-pod");
    proxied.put("XBOSH_TRUST_FORWARDED_PROTO", "true");
    plainPod = Xbosh.start(vertx, XboshConfig.from(io.xbosh.testing.OneClientAddress.withLimitsOff(proxied))).toCompletionStage().toCompletableFuture().get(20, TimeUnit.SECONDS);
  }

  @AfterAll
  static void stopAll() throws Exception {
    for (Xbosh x : new Xbosh[] {httpsPod, plainPod}) {
      if (x != null) {
        x.stop().toCompletionStage().toCompletableFuture().get(20, TimeUnit.SECONDS);
      }
    }
    if (vertx != null) {
      vertx.close().toCompletionStage().toCompletableFuture().get(20, TimeUnit.SECONDS);
    }
    if (redis != null) {
      redis.close();
    }
    if (prosody != null) {
      prosody.close();
    }
    if (cert != null) {
      Files.deleteIfExists(cert.cert());
      Files.deleteIfExists(cert.key());
      Files.deleteIfExists(cert.cert().getParent());
    }
  }

  static URI httpsEndpoint() {
    return URI.create("https://localhost:" + httpsPod.port() + "/http-bind");
  }

  static URI plainEndpoint() {
    return URI.create("http://127.0.0.1:" + plainPod.port() + "/http-bind");
  }

  static HttpResponse<String> post(HttpClient client, URI to, String body, String... headers) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(to).header("Content-Type", "text/xml; charset=utf-8")
        .POST(HttpRequest.BodyPublishers.ofString(body));
    if (headers.length > 0) {
      b.headers(headers);
    }
    return client.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
  }

  static String ping(String sid, long rid) {
    return "<body " + B + " sid='" + sid + "' rid='" + rid + "'><iq xmlns='jabber:client' type='get' id='p" + rid
        + "' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq></body>";
  }

  @Test
  void b91_aSessionBegunOverHttpsDropsAPlainRequestAndLivesOn() throws Exception {
    BoshSession s = BoshSession.login(https, List.of(httpsEndpoint()), "localhost", "alice", "alicepw", "secure");
    long next = s.rid + 1;
    // the same session through the other pod, without encryption: the connection closes unanswered
    assertThatThrownBy(() -> post(plain, plainEndpoint(), ping(s.sid, next))).isInstanceOf(IOException.class);
    // nothing of it was processed: the rid is still free, and the session answers over HTTPS
    HttpResponse<String> again = post(https, httpsEndpoint(), ping(s.sid, next));
    assertThat(again.statusCode()).isEqualTo(200);
    assertThat(again.body()).doesNotContain("type=\"terminate\"");
    s.rid = next;
    assertThat(BoshSession.pingResult(s, "localhost", "still-secure")).contains("type=\"result\"");
    assertThat(httpsPod.pod().owns(s.sid)).isTrue();
  }

  @Test
  void b91_aSessionBegunThroughATrustedTlsProxyDropsPlainRequestsToo() throws Exception {
    String created = post(plain, plainEndpoint(), "<body " + B + " rid='10' to='localhost' wait='5' hold='1' ver='1.11'/>",
        "X-Forwarded-Proto", "https").body();
    String sid = BoshSession.attr(created, "sid");
    assertThat(sid).as(created).isNotNull();
    assertThatThrownBy(() -> post(plain, plainEndpoint(), "<body " + B + " sid='" + sid + "' rid='11' type='terminate'/>"))
        .isInstanceOf(IOException.class);
    assertThatThrownBy(() -> post(plain, plainEndpoint(), "<body " + B + " sid='" + sid + "' rid='11'/>", "X-Forwarded-Proto", "http"))
        .isInstanceOf(IOException.class);
    // a malformed attribute in a plain request does not end it either
    assertThatThrownBy(() -> post(plain, plainEndpoint(), "<body " + B + " sid='" + sid + "' rid='11' ack='-1'/>"))
        .isInstanceOf(IOException.class);
    // a plain resend of the creation rid does not get the cached response either
    assertThatThrownBy(() -> post(plain, plainEndpoint(), "<body " + B + " sid='" + sid + "' rid='10'/>"))
        .isInstanceOf(IOException.class);
    assertThat(post(plain, plainEndpoint(), "<body " + B + " sid='" + sid + "' rid='11' type='terminate'/>", "X-Forwarded-Proto", "https")
        .body()).contains("type=\"terminate\"").doesNotContain("condition=");
  }

  @Test
  void b91_aSessionBegunInPlainTakesPlainRequests() throws Exception {
    String created = post(plain, plainEndpoint(), "<body " + B + " rid='20' to='localhost' wait='5' hold='1' ver='1.11'/>").body();
    String sid = BoshSession.attr(created, "sid");
    assertThat(post(plain, plainEndpoint(), "<body " + B + " sid='" + sid + "' rid='21' type='terminate'/>").body())
        .contains("type=\"terminate\"").doesNotContain("condition=");
  }
}
