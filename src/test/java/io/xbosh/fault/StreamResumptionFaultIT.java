package io.xbosh.fault;

import static org.assertj.core.api.Assertions.assertThat;

import io.xbosh.testing.BoshSession;
import io.xbosh.testing.FaultCluster;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * XEP-0198 across a pod kill (issue 12, item 7): a client enables stream management with
 * resumption over BOSH, is cut off by a kill -9 of the pod that holds its link, and resumes its
 * XMPP stream on a new BOSH session through another pod. Every message sent to it, before and
 * while it was cut off, arrives exactly once. Prosody's mod_smacks keeps the stream; xbosh only
 * has to carry {@code <enable/>}, {@code <r/>}/{@code <a/>} and {@code <resume/>} as it carries any
 * payload, and tell the client its BOSH session ended.
 */
class StreamResumptionFaultIT {

  private static final String SM = "urn:xmpp:sm:3";
  private static final Pattern STANZA = Pattern.compile("<(message|presence|iq)[\\s>/]");
  private static final Pattern BODY = Pattern.compile("<body>(sm-\\d+)</body>");
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  /** A raw BOSH session that counts the stanzas it handled for XEP-0198 and answers {@code <r/>}. */
  private final class Client {
    final List<URI> endpoints;
    int next;
    String sid;
    long rid = 3_000_000 + (long) (Math.random() * 1_000_000);
    boolean counting;
    long handled;
    String smId;
    boolean ackRequested;
    final List<String> bodies = new ArrayList<>();

    Client(List<URI> endpoints) {
      this.endpoints = endpoints;
    }

    String post(String body) throws Exception {
      URI to = endpoints.get(next++ % endpoints.size());
      HttpResponse<String> r = BoshSession.post(http, to, body);
      assertThat(r.statusCode()).as("HTTP status from " + to + " for " + body + ": " + r.body()).isEqualTo(200);
      take(r.body());
      return r.body();
    }

    void take(String response) {
      String counted = response;
      if (!counting && response.contains("<enabled")) {
        counting = true;
        smId = BoshSession.attr(response.substring(response.indexOf("<enabled")), "id");
        counted = response.substring(response.indexOf("<enabled"));
      } else if (!counting && response.contains("<resumed")) {
        counting = true;
        counted = response.substring(response.indexOf("<resumed"));
      } else if (!counting) {
        return;
      }
      Matcher m = STANZA.matcher(counted);
      while (m.find()) {
        handled++;
      }
      if (counted.contains("<r xmlns=\"" + SM + "\"") || counted.contains("<r xmlns='" + SM + "'")) {
        ackRequested = true;
      }
      Matcher b = BODY.matcher(counted);
      while (b.find()) {
        bodies.add(b.group(1));
      }
    }

    String create(String domain) throws Exception {
      String r = post("<body " + BoshSession.B + " " + BoshSession.X + " rid='" + rid + "' to='" + domain
          + "' xml:lang='en' wait='5' hold='1' ver='1.11' xmpp:version='1.0'/>");
      sid = BoshSession.attr(r, "sid");
      return until(r, "<mechanism>PLAIN</mechanism>");
    }

    /** Sends the next rid with these payloads (and an ack if the server asked for one). */
    String send(String payload) throws Exception {
      String ack = "";
      if (ackRequested) {
        ackRequested = false;
        ack = "<a xmlns='" + SM + "' h='" + handled + "'/>";
      }
      return post("<body " + BoshSession.B + " sid='" + sid + "' rid='" + (++rid) + "'>" + ack + payload + "</body>");
    }

    String until(String first, String marker) throws Exception {
      String r = first;
      for (int i = 0; i < 30 && !r.contains(marker); i++) {
        r = send("");
      }
      assertThat(r).as("no " + marker + " in 30 polls").contains(marker);
      return r;
    }

    void authenticate(String domain, String user, String password) throws Exception {
      create(domain);
      String auth = Base64.getEncoder().encodeToString(("\0" + user + "\0" + password).getBytes(StandardCharsets.UTF_8));
      until(send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth>"), "<success");
      String restarted = post("<body " + BoshSession.B + " " + BoshSession.X + " sid='" + sid + "' rid='" + (++rid) + "' to='" + domain
          + "' xmpp:restart='true'/>");
      String features = until(restarted, "urn:ietf:params:xml:ns:xmpp-bind");
      assertThat(features).as("Prosody offers stream management after authentication").contains(SM);
    }
  }

  @Test
  void anSmClientCutOffByAPodKillResumesThroughAnotherPodAndLosesNothing() throws Exception {
    FaultAssertions.inDeployment(FaultCluster.Store.PERSISTENT, c -> {
      String domain = FaultCluster.DOMAIN;
      List<URI> all = List.of(c.podEndpoint(0), c.podEndpoint(1), c.podEndpoint(2));
      Client a = new Client(all);
      a.authenticate(domain, "sma", FaultCluster.PASSWORD);
      a.until(a.send("<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
          + "<resource>sm</resource></bind></iq>"), "<jid>");
      a.until(a.send("<enable xmlns='" + SM + "' resume='true'/>"), "<enabled");
      assertThat(a.smId).as("resumption id").isNotNull();
      int owner = FaultCluster.IDS.indexOf(c.owners().get(a.sid));
      assertThat(owner).as("pod owning the SM client's link").isGreaterThanOrEqualTo(0);
      List<URI> survivors = new ArrayList<>();
      for (int i = 1; i <= 2; i++) {
        survivors.add(c.podEndpoint((owner + i) % 3));
      }
      BoshSession b = BoshSession.login(http, survivors, domain, "smb", FaultCluster.PASSWORD, "sender");
      assertThat(c.owners().get(b.sid)).as("the sender's link is on a pod that lives").isNotEqualTo(c.id(owner));
      String to = "sma@" + domain + "/sm";
      BoshSession.sendAll(b, to, "sm-", 10);
      for (int i = 0; i < 40 && a.bodies.size() < 10; i++) {
        a.send("");
      }
      assertThat(a.bodies).as("messages before the kill").containsExactlyElementsOf(numbered(0, 10));
      long handledBeforeKill = a.handled;
      long killedAt = c.killPod(owner);
      String killedWallClock = java.time.LocalTime.now().toString();
      // the old BOSH session's next request goes out at once, through a surviving pod, and waits
      // there until the session is ended: the client is told without sending anything more. (It
      // goes beside the sender's messages: each of those waits out the sender's own 'wait', since
      // nothing answers it, and ten of them in turn would put the old session's request 20 s late.)
      Client probe = new Client(survivors);
      probe.sid = a.sid;
      probe.rid = a.rid;
      List<String> oldSessionAnswers = java.util.Collections.synchronizedList(new ArrayList<>());
      java.util.concurrent.atomic.AtomicLong toldAt = new java.util.concurrent.atomic.AtomicLong();
      java.util.concurrent.FutureTask<String> told = new java.util.concurrent.FutureTask<>(() -> {
        String answer = "";
        for (int i = 0; i < 20 && !answer.contains("type=\"terminate\""); i++) {
          answer = probe.send("");
          oldSessionAnswers.add(((System.nanoTime() - killedAt) / 1_000_000) + "ms:" + answer);
        }
        toldAt.set(System.nanoTime());
        return answer;
      });
      new Thread(told, "old-session-probe").start();
      // while it is cut off, ten more
      for (int i = 10; i < 20; i++) {
        b.send("<message xmlns='jabber:client' to='" + to + "'><body>sm-" + i + "</body></message>");
      }
      long sentMs = (System.nanoTime() - killedAt) / 1_000_000;
      String end = told.get(60, java.util.concurrent.TimeUnit.SECONDS);
      long toldMs = (toldAt.get() - killedAt) / 1_000_000;
      assertThat(end).as("the cut-off BOSH session ends").contains("type=\"terminate\"").contains("internal-server-error");
      assertThat(BODY.matcher(end).find()).as("no message of the resumed stream arrives in the old session's terminate").isFalse();
      // a new BOSH session through the survivors resumes the XMPP stream
      Client resumed = new Client(survivors);
      resumed.authenticate(domain, "sma", FaultCluster.PASSWORD);
      String r = resumed.until(resumed.send("<resume xmlns='" + SM + "' previd='" + a.smId + "' h='" + handledBeforeKill + "'/>"),
          "<resumed");
      for (int i = 0; i < 40 && resumed.bodies.size() < 10; i++) {
        resumed.send("");
      }
      List<String> got = new ArrayList<>(a.bodies);
      got.addAll(resumed.bodies);
      System.out.println("FAULT XEP-0198 resumption across pod kill -9: toldMs=" + toldMs + " sentMs=" + sentMs + " killedAt=" + killedWallClock
          + " before=" + a.bodies
          + " afterResume=" + resumed.bodies + " reaped=" + c.podLog("ending the") + " oldSessionAnswers=" + oldSessionAnswers);
      assertThat(got).as("every message exactly once across the kill and the resumption (before: " + a.bodies
          + ", after resuming: " + resumed.bodies + ")").containsExactlyInAnyOrderElementsOf(numbered(0, 20));
      // and the resumed stream works both ways
      assertThat(resumed.until(resumed.send("<iq xmlns='jabber:client' type='get' id='after-resume' to='" + domain
          + "'><ping xmlns='urn:xmpp:ping'/></iq>"), "id=\"after-resume\"")).contains("type=\"result\"");
      assertThat(toldMs).as("ms from the kill until the cut-off client's BOSH session was told it ended; its answers: "
          + oldSessionAnswers).isLessThanOrEqualTo(
          FaultCluster.detectionBoundMs());
    });
  }

  private static List<String> numbered(int from, int to) {
    List<String> out = new ArrayList<>();
    for (int i = from; i < to; i++) {
      out.add("sm-" + i);
    }
    return out;
  }
}
