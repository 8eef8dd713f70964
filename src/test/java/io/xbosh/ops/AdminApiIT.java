package io.xbosh.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.xbosh.testing.BoshSession;
import io.xbosh.testing.InProcessXbosh;
import io.xbosh.testing.ProsodyProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The management port: probes and metrics off the BOSH port, and the admin API behind its token:
 * list, show and end this pod's sessions, drain the pod.
 */
class AdminApiIT {

  private static final String TOKEN = "an-admin-token-of-some-length";
  private static final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  private static HttpResponse<String> call(String method, URI uri, String token) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(uri).method(method, HttpRequest.BodyPublishers.noBody());
    if (token != null) {
      b.header("Authorization", "Bearer " + token);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void operatorsListShowAndEndSessionsAndDrainThePodOnTheManagementPortOnly() throws Exception {
    Path tokenFile = Files.createTempFile("xbosh-admin", ".token");
    try (ProsodyProcess prosody = ProsodyProcess.start(Map.of("alice", "alicepw"))) {
      Files.writeString(tokenFile, TOKEN + "\n");
      try (InProcessXbosh x = InProcessXbosh.start(Map.of("XBOSH_UPSTREAM", "127.0.0.1:" + prosody.c2sPort(),
          "XBOSH_MANAGEMENT_PORT", "0", "XBOSH_ADMIN_TOKEN_FILE", tokenFile.toString(), "XBOSH_DRAIN_SECONDS", "30"))) {
        String bosh = "http://127.0.0.1:" + x.port();
        String mgmt = "http://127.0.0.1:" + x.xbosh().managementPort();
        assertThat(x.xbosh().managementPort()).isPositive().isNotEqualTo(x.port());
        // probes and metrics moved off the public port
        for (String path : List.of("/metrics", "/ready", "/health", "/admin/sessions")) {
          assertThat(call("GET", URI.create(bosh + path), TOKEN).statusCode()).as(path + " on the BOSH port").isEqualTo(404);
        }
        assertThat(call("GET", URI.create(mgmt + "/ready"), null).statusCode()).isEqualTo(200);
        assertThat(call("GET", URI.create(mgmt + "/metrics"), null).body()).contains("xbosh_sessions_owned");
        // the admin API wants the token
        URI sessions = URI.create(mgmt + "/admin/sessions");
        assertThat(call("GET", sessions, null).statusCode()).isEqualTo(401);
        assertThat(call("GET", sessions, "wrong-token-wrong-token").statusCode()).isEqualTo(401);

        BoshSession s = BoshSession.login(http, List.of(x.endpoint()), ProsodyProcess.DOMAIN, "alice", "alicepw", "admin");
        HttpResponse<String> list = call("GET", sessions, TOKEN);
        assertThat(list.statusCode()).isEqualTo(200);
        JsonArray all = new JsonArray(list.body());
        assertThat(all).hasSize(1);
        JsonObject one = all.getJsonObject(0);
        assertThat(one.getString("sid")).isEqualTo(s.sid);
        assertThat(one.getString("client")).isEqualTo("127.0.0.1");
        assertThat(one.getInteger("streams")).isEqualTo(1);
        assertThat(one.getLong("age_seconds")).isNotNegative();
        JsonObject shown = new JsonObject(call("GET", URI.create(mgmt + "/admin/sessions/" + s.sid), TOKEN).body());
        assertThat(shown.getString("sid")).isEqualTo(s.sid);
        assertThat(shown.getString("pod")).isEqualTo(x.xbosh().pod().id());
        // nothing of the session's content, SASL least of all
        assertThat(list.body() + shown).doesNotContain("alicepw").doesNotContain("auth");
        assertThat(call("GET", URI.create(mgmt + "/admin/sessions/nosuchsid"), TOKEN).statusCode()).isEqualTo(404);

        // ending it: the client hears the condition
        assertThat(call("DELETE", URI.create(mgmt + "/admin/sessions/" + s.sid + "?condition=nonsense"), TOKEN).statusCode())
            .isEqualTo(400);
        HttpResponse<String> ended = call("DELETE", URI.create(mgmt + "/admin/sessions/" + s.sid + "?condition=see-other-uri"), TOKEN);
        assertThat(ended.statusCode()).isEqualTo(200);
        assertThat(new JsonObject(ended.body()).getString("ended")).isEqualTo("see-other-uri");
        String next = s.send("").body();
        assertThat(next).contains("type=\"terminate\"").contains("condition=\"see-other-uri\"");
        await().atMost(Duration.ofSeconds(10)).until(() -> new JsonArray(call("GET", sessions, TOKEN).body()).isEmpty());
        assertThat(call("DELETE", URI.create(mgmt + "/admin/sessions/" + s.sid), TOKEN).statusCode()).isEqualTo(404);

        // drain: the pod leaves the load balancer, the process stays
        assertThat(call("POST", URI.create(mgmt + "/admin/drain"), null).statusCode()).isEqualTo(401);
        assertThat(call("POST", URI.create(mgmt + "/admin/drain"), TOKEN).statusCode()).isEqualTo(202);
        assertThat(call("GET", URI.create(mgmt + "/ready"), null).statusCode()).isEqualTo(503);
        assertThat(call("GET", URI.create(mgmt + "/health"), null).statusCode()).isEqualTo(200);
      }
    } finally {
      Files.deleteIfExists(tokenFile);
    }
  }
}
