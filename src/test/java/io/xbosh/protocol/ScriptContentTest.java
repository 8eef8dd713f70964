package io.xbosh.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ScriptContentTest {

  static final String B = "<body xmlns='http://jabber.org/protocol/httpbind' sid='s' rid='2'>";

  final ScriptContent content = new ScriptContent(new BodyParser(32, 64, 65536), 1000);

  static ScriptContent.Split split(String s) {
    return ScriptContent.split(s.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void b82_theWrapperIsCheckedAndItsContentTakenAsItIs() {
    ScriptContent.Split s = split("<?xml version='1.0'?>" + B + "<auth mechanism='PLAIN'></body>");
    assertThat(new String(s.wrapper(), StandardCharsets.UTF_8)).endsWith("<body xmlns='http://jabber.org/protocol/httpbind' sid='s' rid='2'/>");
    assertThat(s.content()).isEqualTo("<auth mechanism='PLAIN'>");
    assertThat(split("<body sid='s' rid='2' a='x>y'/>").content()).isEmpty();
    assertThat(split("<b:body xmlns:b='http://jabber.org/protocol/httpbind' rid='2'>dGV4dA==</auth></b:body >").content())
        .isEqualTo("dGV4dA==</auth>");
  }

  @Test
  void b82_aBodyWithoutItsTagsIsBadRequest() {
    for (String bad : new String[] {"", "no markup", "<body rid='1'", B + "<a/>", B + "<a/></bodyx>"}) {
      assertThatThrownBy(() -> split(bad)).as(bad).isInstanceOfSatisfying(BoshException.class,
          e -> assertThat(e.condition()).isEqualTo(TerminateCondition.BAD_REQUEST));
    }
  }

  @Test
  void b82_elementsSplitOverRequestsComeOutWhenComplete() {
    assertThat(content.feed("<message to='a@b' xmlns='jabber:client'><bo")).isEmpty();
    assertThat(content.feed("dy>1 &lt; 2 &gt; 0</body></mes")).isEmpty();
    assertThat(content.feed("sage>  <presence/><iq type='get' id='x' title='a>b'>"))
        .isEqualTo("<message to=\"a@b\"><body>1 &lt; 2 &gt; 0</body></message><presence/>");
    assertThat(content.feed("<query xmlns='jabber:iq:roster'/></iq>"))
        .isEqualTo("<iq type=\"get\" id=\"x\" title=\"a&gt;b\"><query xmlns=\"jabber:iq:roster\"/></iq>");
  }

  @Test
  void b82_malformedOrEndlessContentIsBadRequest() {
    assertThatThrownBy(() -> content.feed("<a></b>")).isInstanceOf(BoshException.class);
    ScriptContent other = new ScriptContent(new BodyParser(32, 64, 65536), 1000);
    assertThatThrownBy(() -> other.feed("<a>" + "x".repeat(1001))).isInstanceOf(BoshException.class);
    ScriptContent third = new ScriptContent(new BodyParser(32, 64, 65536), 1000);
    assertThatThrownBy(() -> third.feed("</a>")).isInstanceOf(BoshException.class);
  }
}
