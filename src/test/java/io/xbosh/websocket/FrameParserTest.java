package io.xbosh.websocket;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.xbosh.websocket.ClientFrame.FrameException;
import org.junit.jupiter.api.Test;

/** RFC 7395 §3.3.3 and RFC 6120 §11.1: what one client message may be, with literal XML. */
class FrameParserTest {

  private static final String FRAMING = "urn:ietf:params:xml:ns:xmpp-framing";
  private final FrameParser parser = new FrameParser(1024);

  private void refused(String message, StreamError condition) {
    assertThatThrownBy(() -> parser.parse(message)).as(message).isInstanceOf(FrameException.class)
        .satisfies(e -> assertThat(((FrameException) e).condition()).as(message).isEqualTo(condition));
  }

  @Test
  void w02_openAndCloseAreFramingElements() {
    assertThat(parser.parse("<open xmlns='" + FRAMING + "' to='example.org' version='1.0' xml:lang='de' from='a@example.org'/>"))
        .isEqualTo(new ClientFrame.Open("example.org", "a@example.org", "de", "1.0"));
    assertThat(parser.parse("<open xmlns='" + FRAMING + "'/>")).isEqualTo(new ClientFrame.Open(null, null, null, null));
    assertThat(parser.parse(" <close xmlns='" + FRAMING + "'/>\n")).isInstanceOf(ClientFrame.Close.class);
    refused("<open xmlns='" + FRAMING + "' to='example.org'><x/></open>", StreamError.NOT_WELL_FORMED);
    refused("<reopen xmlns='" + FRAMING + "'/>", StreamError.UNSUPPORTED_STANZA_TYPE);
  }

  @Test
  void w04_stanzasAreReserialisedForTheC2sStreamWhoseDefaultIsJabberClient() {
    assertThat(parser.parse("<message xmlns='jabber:client' to='b@x'><body>a &amp; b &lt;</body></message>"))
        .isEqualTo(new ClientFrame.Element("<message to=\"b@x\"><body>a &amp; b &lt;</body></message>"));
    // unqualified, as in a BOSH body: jabber:client
    assertThat(parser.parse("<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>"))
        .isEqualTo(new ClientFrame.Element("<iq type=\"get\" id=\"1\"><ping xmlns=\"urn:xmpp:ping\"/></iq>"));
    // namespaces declared on the frame's root reach the children that use them
    assertThat(parser.parse("<j:message xmlns:j='jabber:client' xmlns:e='urn:x'><e:x/></j:message>"))
        .isEqualTo(new ClientFrame.Element("<j:message xmlns:j=\"jabber:client\"><e:x xmlns:e=\"urn:x\"/></j:message>"));
    assertThat(parser.parse("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>"))
        .isEqualTo(new ClientFrame.Element("<auth xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\" mechanism=\"PLAIN\">AGEAYg==</auth>"));
  }

  @Test
  void w04_w06_exactlyOneWholeElementPerMessage() {
    refused("<message/><message/>", StreamError.NOT_WELL_FORMED);
    refused("<message><body>half", StreamError.NOT_WELL_FORMED);
    refused("</message>", StreamError.NOT_WELL_FORMED);
    refused("", StreamError.NOT_WELL_FORMED);
    refused("   ", StreamError.NOT_WELL_FORMED);
    refused("text", StreamError.NOT_WELL_FORMED);
    refused("<message/>text", StreamError.NOT_WELL_FORMED);
    refused("<message/><close xmlns='" + FRAMING + "'/>", StreamError.NOT_WELL_FORMED);
  }

  @Test
  void w06_noStreamLevelElementReachesTheServersStream() {
    refused("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='x' version='1.0'>", StreamError.UNSUPPORTED_STANZA_TYPE);
    refused("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='x' version='1.0'/>", StreamError.UNSUPPORTED_STANZA_TYPE);
    refused("</stream:stream>", StreamError.NOT_WELL_FORMED);
    refused("<s:features xmlns:s='http://etherx.jabber.org/streams'/>", StreamError.UNSUPPORTED_STANZA_TYPE);
    refused("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", StreamError.UNSUPPORTED_STANZA_TYPE);
    refused("<compress xmlns='http://jabber.org/protocol/compress'><method>zlib</method></compress>", StreamError.UNSUPPORTED_STANZA_TYPE);
    // text that looks like a stream end stays text
    assertThat(parser.parse("<message><body>&lt;/stream:stream&gt;</body></message>"))
        .isEqualTo(new ClientFrame.Element("<message><body>&lt;/stream:stream&gt;</body></message>"));
  }

  @Test
  void w06_restrictedXmlIsRefused() {
    refused("<!DOCTYPE m [<!ENTITY x 'y'>]><message>&x;</message>", StreamError.RESTRICTED_XML);
    refused("<!DOCTYPE m SYSTEM 'file:///etc/passwd'><message/>", StreamError.RESTRICTED_XML);
    refused("<message>&undeclared;</message>", StreamError.RESTRICTED_XML);
    refused("<?pi x?><message/>", StreamError.RESTRICTED_XML);
    refused("<message><?pi x?></message>", StreamError.RESTRICTED_XML);
    refused("<message><!-- c --></message>", StreamError.RESTRICTED_XML);
  }

  @Test
  void w06_boundsAreEnforced() {
    refused("<message><body>" + "x".repeat(1024) + "</body></message>", StreamError.POLICY_VIOLATION);
    // bytes, not characters: 400 three-byte characters are 1200 bytes
    refused("<message><body>" + "€".repeat(400) + "</body></message>", StreamError.POLICY_VIOLATION);
    assertThat(parser.parse("<message><body>" + "€".repeat(300) + "</body></message>")).isInstanceOf(ClientFrame.Element.class);
    refused("<a>".repeat(40) + "</a>".repeat(40), StreamError.POLICY_VIOLATION);
    StringBuilder many = new StringBuilder("<message");
    for (int i = 0; i < 70; i++) {
      many.append(" a").append(i).append("='1'");
    }
    refused(many.append("/>").toString(), StreamError.POLICY_VIOLATION);
  }
}
