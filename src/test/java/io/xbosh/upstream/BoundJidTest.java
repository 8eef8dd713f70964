package io.xbosh.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** What the admin API learns of a session from the stanzas passing its links: the bound JID, nothing else. */
class BoundJidTest {

  @Test
  void theJidOfABindResultIsRead() {
    assertThat(SessionLinks.boundJid("<iq xmlns=\"jabber:client\" type=\"result\" id=\"b1\"><bind xmlns=\"urn:ietf:params:xml:ns:xmpp-bind\">"
        + "<jid>alice@example.org/phone</jid></bind></iq>")).isEqualTo("alice@example.org/phone");
    assertThat(SessionLinks.boundJid("<iq id='b1' type='result'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>"
        + "o&apos;neil@example.org/a&amp;b</jid></bind></iq>")).isEqualTo("o'neil@example.org/a&b");
  }

  @Test
  void otherStanzasGiveNothing() {
    // the client's own bind request passes the other way, but a set or an error is never a bound JID
    assertThat(SessionLinks.boundJid("<iq type=\"set\" id=\"b1\"><bind xmlns=\"urn:ietf:params:xml:ns:xmpp-bind\">"
        + "<jid>mallory@example.org/x</jid></bind></iq>")).isNull();
    assertThat(SessionLinks.boundJid("<iq type=\"error\" id=\"b1\"><bind xmlns=\"urn:ietf:params:xml:ns:xmpp-bind\"/>"
        + "<error type=\"cancel\"><conflict xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/></error></iq>")).isNull();
    assertThat(SessionLinks.boundJid("<iq type=\"result\" id=\"r1\"><query xmlns=\"jabber:iq:roster\"/></iq>")).isNull();
    assertThat(SessionLinks.boundJid("<message type=\"result\"><body>urn:ietf:params:xml:ns:xmpp-bind <jid>x</jid></body></message>"))
        .isNull();
    assertThat(SessionLinks.boundJid("<success xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\">dj1zZWNyZXQ=</success>")).isNull();
    assertThat(SessionLinks.boundJid("<iq type=\"result\" id=\"b1\"><bind xmlns=\"urn:ietf:params:xml:ns:xmpp-bind\"><jid>"
        + "a".repeat(4000) + "</jid></bind></iq>")).as("longer than any JID").isNull();
  }
}
