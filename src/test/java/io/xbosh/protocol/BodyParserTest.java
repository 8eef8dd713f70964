package io.xbosh.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class BodyParserTest {

  private static final String B = "xmlns='http://jabber.org/protocol/httpbind'";
  private final BodyParser parser = new BodyParser(32, 64, 65536);

  private BoshBody parse(String xml) {
    return parser.parse(xml.getBytes(StandardCharsets.UTF_8));
  }

  private void assertBadRequest(String xml) {
    assertThatThrownBy(() -> parse(xml))
        .isInstanceOfSatisfying(BoshException.class, e -> assertThat(e.condition()).isEqualTo(TerminateCondition.BAD_REQUEST));
  }

  @Test
  void b01_payloadsBecomeJabberClientFragments() {
    BoshBody b = parse("<body " + B + " rid='5' sid='s'><message to='a@b'><body>hi</body></message>"
        + "<presence xmlns='jabber:client'/></body>");
    assertThat(b.rid()).isEqualTo(5);
    assertThat(b.sid()).isEqualTo("s");
    // the upstream stream's default namespace is jabber:client: no declaration needed
    assertThat(b.payloads()).containsExactly("<message to=\"a@b\"><body>hi</body></message>", "<presence/>");
  }

  @Test
  void r119_prefixedPayloadKeepsItsNamespaceContext() {
    BoshBody b = parse("<body " + B + " rid='5' xmlns:j='jabber:client'><j:message to='x@y'><j:body>hi</j:body></j:message></body>");
    assertThat(b.payloads()).containsExactly("<j:message xmlns:j=\"jabber:client\" to=\"x@y\"><j:body>hi</j:body></j:message>");
  }

  @Test
  void r20_predefinedEntitiesAndCharacterReferencesPassThrough() {
    BoshBody b = parse("<body " + B + " rid='5'><message><body>&amp; &lt; &apos; &#x1F600; \"q\"</body></message></body>");
    assertThat(b.payloads().get(0)).isEqualTo("<message><body>&amp; &lt; ' \uD83D\uDE00 \"q\"</body></message>");
  }

  @Test
  void b01_foreignNamespacesDeclaredOnTheElementThatUsesThem() {
    BoshBody b = parse("<body " + B + " rid='1'><iq type='set' id='x'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
        + "<resource>r</resource></bind></iq></body>");
    assertThat(b.payloads().get(0)).isEqualTo("<iq type=\"set\" id=\"x\"><bind xmlns=\"urn:ietf:params:xml:ns:xmpp-bind\">"
        + "<resource>r</resource></bind></iq>");
  }

  @Test
  void b17_xmppRestartMatchedByNamespaceNotPrefix() {
    assertThat(parse("<body " + B + " rid='5' xmlns:x='urn:xmpp:xbosh' x:restart='1'/>").isRestart()).isTrue();
    assertThat(parse("<body " + B + " rid='5' xmlns:xmpp='urn:xmpp:xbosh' xmpp:restart='true'/>").isRestart()).isTrue();
    assertThat(parse("<body " + B + " rid='5' restart='true'/>").isRestart()).isFalse();
  }

  @Test
  void b01_whitespaceBetweenPayloadsIsAllowed() {
    assertThat(parse("<body " + B + " rid='5'>\n  <presence/>\n</body>").payloads()).containsExactly("<presence/>");
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "<body " + B + " rid='1'>hello<presence/></body>",                          // B-01 character data
      "<body " + B + " rid='1'><!--x--></body>",                                   // B-02 comment
      "<body " + B + " rid='1'><?pi x?></body>",                                   // B-02 processing instruction
      "<!DOCTYPE body [<!ENTITY a 'b'>]><body " + B + " rid='1'>&a;</body>",       // B-02 DTD
      "<body " + B + " rid='1'><message>&foo;</message></body>",                    // B-02 entity reference
      "<body " + B + " rid='1'><message>",                                          // truncated
      "<body xmlns='wrong' rid='1'/>",                                              // wrong namespace
      "<foo " + B + " rid='1'/>",                                                   // wrong root
      "<body " + B + "/>",                                                          // B-29 missing rid
      "<body " + B + " rid='abc'/>",                                                // non-numeric rid
      "<body " + B + " rid='-5'/>",                                                 // negative rid
      "<body " + B + " rid='0'/>",                                                  // rid 0
      "<body " + B + " rid='9007199254740992'/>",                                   // above 2^53-1
      "<body " + B + " rid='99999999999999999999999999'/>",                         // huge
      "<body " + B + " rid='1' rid='2'/>",                                          // repeated attribute
      "<body " + B + " rid='1'/><body " + B + " rid='2'/>",                         // two roots
      "",                                                                           // empty
      "not xml at all",
  })
  void b02_badBodiesAreBadRequest(String xml) {
    assertBadRequest(xml);
  }

  @Test
  void b29_largestRidAccepted() {
    assertThat(parse("<body " + B + " rid='9007199254740991'/>").rid()).isEqualTo(BoshBody.MAX_RID);
  }

  @Test
  void x01_billionLaughsRejectedWithoutExpansion() {
    String lol = "<!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
        + "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>]>"
        + "<body " + B + " rid='1'><message>&lol3;</message></body>";
    assertBadRequest(lol);
  }

  @Test
  void x01_depthAndAttributeLimits() {
    String deep = "<a>".repeat(40) + "</a>".repeat(40);
    assertBadRequest("<body " + B + " rid='1'>" + deep + "</body>");
    StringBuilder attrs = new StringBuilder();
    for (int i = 0; i < 70; i++) {
      attrs.append(" a").append(i).append("='x'");
    }
    assertBadRequest("<body " + B + " rid='1'><message" + attrs + "/></body>");
  }

  @Test
  void x01_payloadSizeLimit() {
    BodyParser small = new BodyParser(32, 64, 1024);
    String big = "<message><body>" + "x".repeat(2000) + "</body></message>";
    assertThatThrownBy(() -> small.parse(("<body " + B + " rid='1'>" + big + "</body>").getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(BoshException.class);
  }
}
