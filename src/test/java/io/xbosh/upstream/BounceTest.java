package io.xbosh.upstream;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class BounceTest {

  @Test
  void b55_messageBouncesWithRecipientUnavailableToItsSender() {
    assertThat(Bounce.of("<message xmlns=\"jabber:client\" from=\"bob@x/r\" to=\"alice@x/web\" id=\"m&amp;1\" type=\"chat\"><body>hi</body></message>"))
        .isEqualTo("<message xmlns=\"jabber:client\" type=\"error\" to=\"bob@x/r\" from=\"alice@x/web\" id=\"m&amp;1\">"
            + "<error type=\"wait\"><recipient-unavailable xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/></error></message>");
  }

  @Test
  void b55_iqRequestGetsServiceUnavailable() {
    assertThat(Bounce.of("<iq xmlns=\"jabber:client\" type=\"get\" from=\"x\" to=\"alice@x/web\" id=\"q1\"><ping xmlns=\"urn:xmpp:ping\"/></iq>"))
        .contains("type=\"error\"").contains("to=\"x\"").contains("id=\"q1\"").contains("<service-unavailable ");
  }

  @Test
  void b55_presenceResultsErrorsAndSenderlessStanzasAreDropped() {
    assertThat(Bounce.of("<presence xmlns=\"jabber:client\" from=\"bob@x/r\"/>")).isNull();
    assertThat(Bounce.of("<iq xmlns=\"jabber:client\" type=\"result\" from=\"x\" id=\"1\"/>")).isNull();
    assertThat(Bounce.of("<message xmlns=\"jabber:client\" type=\"error\" from=\"x\"/>")).isNull();
    assertThat(Bounce.of("<message xmlns=\"jabber:client\"><body>no from</body></message>")).isNull();
    assertThat(Bounce.of("<stream:features/>")).isNull();
  }
}
