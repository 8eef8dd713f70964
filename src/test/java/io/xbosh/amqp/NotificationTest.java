package io.xbosh.amqp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.rabbitmq.client.AMQP;
import io.xbosh.amqp.Xml.XmlException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The mapping between broker messages and {@code <message/>} stanzas. */
class NotificationTest {

  static final String TO = "bob@notify.example/phone";

  static String stanza(AMQP.BasicProperties p, String body) throws XmlException {
    return Notification.toStanza(p, body.getBytes(StandardCharsets.UTF_8), TO, "notify.example", 4096);
  }

  static AMQP.BasicProperties.Builder props() {
    return new AMQP.BasicProperties.Builder();
  }

  @Test
  void textBecomesAnEscapedBodyFromTheHeaderWithTheMessageId() throws Exception {
    String s = stanza(props().contentType("text/plain; charset=utf-8").messageId("n1").headers(Map.of("from", "alerts@notify.example"))
        .appId("ignored").build(), "a < b & \"c\"");
    assertThat(s).isEqualTo("<message xmlns=\"jabber:client\" from=\"alerts@notify.example\" to=\"" + TO
        + "\" type=\"chat\" id=\"n1\"><body>a &lt; b &amp; \"c\"</body></message>");
  }

  @Test
  void withoutAFromHeaderTheAppIdIsTheSenderElseTheDomain() throws Exception {
    assertThat(stanza(props().appId("billing").build(), "x")).contains("from=\"billing\"").doesNotContain(" id=");
    assertThat(stanza(props().build(), "x")).contains("from=\"notify.example\"");
  }

  @Test
  void anXmlElementGoesIntoAMessageAsItIsWithItsNamespace() throws Exception {
    String s = stanza(props().contentType("application/xml").messageId("x1").headers(Map.of("type", "headline")).build(),
        "<?xml version='1.0'?><alert xmlns='urn:example' level='high'><text>disk &amp; cpu</text></alert>");
    assertThat(s).isEqualTo("<message xmlns=\"jabber:client\" from=\"notify.example\" to=\"" + TO
        + "\" type=\"headline\" id=\"x1\"><alert xmlns=\"urn:example\" level=\"high\"><text>disk &amp; cpu</text></alert></message>");
  }

  @Test
  void anUnqualifiedElementKeepsNoNamespaceInsideTheMessage() throws Exception {
    assertThat(stanza(props().contentType("application/xml").build(), "<ping/>")).contains("<ping xmlns=\"\"/>");
  }

  @Test
  void aJabberClientMessageIsTheStanzaItselfWithFromAndToSetByXbosh() throws Exception {
    String s = stanza(props().contentType("application/xml").headers(Map.of("from", "alice@notify.example/desk")).build(),
        "<message xmlns='jabber:client' from='forged@x' to='someone' id='m1' type='normal' xml:lang='en'>"
            + "<body>hi</body><x xmlns='urn:example'/></message>");
    assertThat(s).isEqualTo("<message xmlns=\"jabber:client\" from=\"alice@notify.example/desk\" to=\"" + TO
        + "\" type=\"normal\" id=\"m1\"><body>hi</body><x xmlns=\"urn:example\"/></message>");
  }

  @Test
  void badXmlDtdsOtherContentTypesAndOversizedBodiesAreRefused() {
    for (String bad : List.of("<a><b></a>", "<a/><b/>", "text", "<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>")) {
      assertThatThrownBy(() -> stanza(props().contentType("application/xml").build(), bad)).as(bad).isInstanceOf(XmlException.class);
    }
    assertThatThrownBy(() -> stanza(props().contentType("image/png").build(), "x")).isInstanceOf(XmlException.class);
    assertThatThrownBy(() -> stanza(props().build(), "x".repeat(5000))).isInstanceOf(XmlException.class);
  }

  @Test
  void aClientsStanzasParseWithTheirChildrenStandingAlone() throws Exception {
    List<Xml.El> els = Xml.stanzas("<message to='bob@notify.example' id='a'><body>hi</body></message><iq type='get' id='p'>"
        + "<ping xmlns='urn:xmpp:ping'/></iq>", 4096);
    assertThat(els).hasSize(2);
    assertThat(els.get(0).standalone()).isEqualTo("<message xmlns=\"jabber:client\" to=\"bob@notify.example\" id=\"a\"><body>hi</body></message>");
    assertThat(els.get(1).children().get(0).is("ping", "urn:xmpp:ping")).isTrue();
    AMQP.BasicProperties p = Notification.fromClient(els.get(0), "alice@notify.example/desk");
    assertThat(p.getMessageId()).isEqualTo("a");
    assertThat(p.getContentType()).isEqualTo("application/xml");
    assertThat(p.getHeaders()).containsEntry("from", "alice@notify.example/desk");
  }
}
