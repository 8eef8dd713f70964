package io.xbosh.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.IntStream;
import org.jivesoftware.smack.AbstractXMPPConnection;
import org.jivesoftware.smack.ConnectionConfiguration;
import org.jivesoftware.smack.ConnectionConfiguration.SecurityMode;
import org.jivesoftware.smack.bosh.BOSHConfiguration;
import org.jivesoftware.smack.bosh.XMPPBOSHConnection;
import org.jivesoftware.smack.filter.StanzaTypeFilter;
import org.jivesoftware.smack.packet.Message;
import org.jivesoftware.smack.tcp.XMPPTCPConnection;
import org.jivesoftware.smack.tcp.XMPPTCPConnectionConfiguration;
import org.jxmpp.jid.EntityFullJid;
import org.minidns.dnsname.DnsName;

/**
 * Real Smack clients for end-to-end tests, and the conversations the suites run with them.
 *
 * <p>Order as a Smack BOSH client's application sees it is not asserted: jbosh 0.9.2 (Smack 4.4.8's
 * BOSH layer) starts one response thread per negotiated {@code requests}, so two responses in flight
 * reach the application in either order, against Prosody's own mod_bosh as well. Order through
 * xbosh is asserted from a Smack BOSH sender to a TCP reader, and by the raw-HTTP suites.
 */
public final class SmackClients {

  private SmackClients() {
  }

  /** The settings both kinds of client share: the test domain on loopback, plain, password login. */
  private static <B extends ConnectionConfiguration.Builder<B, ?>> B common(B builder, String user, int port) throws Exception {
    return builder.setUsernameAndPassword(user, user + "pw")
        .setXmppDomain(ProsodyProcess.DOMAIN)
        .setHost(DnsName.from("127.0.0.1"))
        .setPort(port)
        .setSecurityMode(SecurityMode.disabled);
  }

  private static <C extends AbstractXMPPConnection> C login(C c) throws Exception {
    c.setReplyTimeout(20_000);
    c.connect().login();
    return c;
  }

  /** Smack over BOSH to {@code http://127.0.0.1:port/http-bind}; the password is the user name + "pw". */
  public static XMPPBOSHConnection bosh(int port, String user, String resource) throws Exception {
    return login(new XMPPBOSHConnection(common(BOSHConfiguration.builder(), user, port)
        .setFile("/http-bind").setUseHttps(false).setResource(resource).build()));
  }

  /** A plain c2s client straight to Prosody: it reads one TCP stream, so it sees the server's order. */
  public static XMPPTCPConnection tcp(int c2sPort, String user, String resource) throws Exception {
    return login(new XMPPTCPConnection(common(XMPPTCPConnectionConfiguration.builder(), user, c2sPort)
        .setResource(resource).build()));
  }

  /** Collects message bodies in arrival order; a synchronous listener keeps that order. */
  public static List<String> inbox(AbstractXMPPConnection c) {
    List<String> received = Collections.synchronizedList(new ArrayList<>());
    c.addSyncStanzaListener(stanza -> {
      String body = ((Message) stanza).getBody();
      if (body != null) {
        received.add(body);
      }
    }, StanzaTypeFilter.MESSAGE);
    return received;
  }

  public static List<String> numbered(String prefix, int n) {
    return IntStream.range(0, n).mapToObj(i -> prefix + i).toList();
  }

  private static void send(AbstractXMPPConnection from, EntityFullJid to, String body) throws Exception {
    from.sendStanza(from.getStanzaFactory().buildMessageStanza().to(to).setBody(body).build());
  }

  private static void awaitExactly(List<String> inbox, int n) {
    await().atMost(Duration.ofSeconds(120)).until(() -> inbox.size() >= n);
    await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(5)).until(() -> inbox.size() == n);
  }

  /** Two BOSH clients send {@code n} messages each way at once: each arrives exactly once. */
  public static void exchange(XMPPBOSHConnection a, XMPPBOSHConnection b, int n) throws Exception {
    List<String> aInbox = inbox(a);
    List<String> bInbox = inbox(b);
    for (int i = 0; i < n; i++) {
      send(a, b.getUser(), "a2b-" + i);
      send(b, a.getUser(), "b2a-" + i);
    }
    awaitExactly(bInbox, n);
    awaitExactly(aInbox, n);
    assertThat(bInbox).containsExactlyInAnyOrderElementsOf(numbered("a2b-", n));
    assertThat(aInbox).containsExactlyInAnyOrderElementsOf(numbered("b2a-", n));
  }

  /** A BOSH client sends {@code n} messages to a TCP client: they arrive in the order sent. */
  public static void sendInOrder(XMPPBOSHConnection from, XMPPTCPConnection to, int n) throws Exception {
    List<String> toInbox = inbox(to);
    for (int i = 0; i < n; i++) {
      send(from, to.getUser(), "ordered-" + i);
    }
    awaitExactly(toInbox, n);
    assertThat(toInbox).containsExactlyElementsOf(numbered("ordered-", n));
  }
}
