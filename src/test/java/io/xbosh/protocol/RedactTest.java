package io.xbosh.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** Rule 7 of "Limits and abuse" (docs/ARCHITECTURE.md): SASL is redacted by namespace, whatever its spelling. */
class RedactTest {

  private static final String SECRET = "AGVyaW4AUzNjcmV0";
  private static final String NS = "urn:ietf:params:xml:ns:xmpp-sasl";

  @ParameterizedTest
  @ValueSource(strings = {
      "<auth xmlns='" + NS + "' mechanism='PLAIN'>" + SECRET + "</auth>",
      "<auth xmlns=\"" + NS + "\" mechanism=\"PLAIN\">" + SECRET + "</auth>",
      "<sasl:auth xmlns:sasl='" + NS + "' mechanism='PLAIN'>" + SECRET + "</sasl:auth>",
      "<x:response xmlns:x='" + NS + "'>" + SECRET + "</x:response>",
      "<body xmlns='http://jabber.org/protocol/httpbind' xmlns:s='" + NS + "'><s:challenge>" + SECRET + "</s:challenge></body>",
      "<body xmlns='http://jabber.org/protocol/httpbind'><success xmlns='" + NS + "'>" + SECRET + "</success></body>",
      // a SASL element under another name, or nested in something else
      "<s:anything xmlns:s='" + NS + "'><inner>" + SECRET + "</inner></s:anything>",
      // split across pieces: the start of an element left open, and the rest of it
      "<sasl:auth xmlns:sasl='" + NS + "' mechanism='PLAIN'>" + SECRET,
      SECRET + "</sasl:auth>",
      SECRET + "</auth><presence/>",
      SECRET,
      "<iq type='set'><query xmlns='jabber:iq:auth'><username>erin</username><password>" + SECRET + "</password></query></iq>",
  })
  void saslContentIsRedactedWhateverThePrefix(String xml) {
    String logged = Redact.sasl(xml);
    assertThat(logged).doesNotContain(SECRET).contains(Redact.REDACTED);
  }

  @Test
  void tagsAndOtherStanzasStay() {
    String xml = "<body xmlns='http://jabber.org/protocol/httpbind'><sasl:auth xmlns:sasl='" + NS + "' mechanism='PLAIN'>"
        + SECRET + "</sasl:auth><message to='a@b'><body>hello</body></message></body>";
    assertThat(Redact.sasl(xml)).isEqualTo("<body xmlns='http://jabber.org/protocol/httpbind'><sasl:auth xmlns:sasl='" + NS
        + "' mechanism='PLAIN'>[redacted]</sasl:auth><message to='a@b'><body>hello</body></message></body>");
    // an auth element of another namespace is not SASL (XEP-0078 has its own, without secrets in the content)
    String other = "<iq type='set'><query xmlns='jabber:iq:private'><auth>visible</auth></query></iq>";
    assertThat(Redact.sasl(other)).isEqualTo(other);
    // empty SASL elements have nothing to hide
    String empty = "<success xmlns='" + NS + "'/><message><body>hi</body></message>";
    assertThat(Redact.sasl(empty)).isEqualTo(empty);
  }
}
