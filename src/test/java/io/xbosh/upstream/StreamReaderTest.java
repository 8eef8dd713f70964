package io.xbosh.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class StreamReaderTest {

  private static final String HEADER = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
      + "xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='example.org' version='1.0'>";
  private static final String FEATURES = "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
      + "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>";
  private static final String MESSAGE = "<message from='a@b/c' to='d@e'><body>h\u00e9llo &amp; \uD83D\uDE00</body></message>";
  private static final String ERROR = "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>";

  private static final class Recorder implements StreamReader.Handler {
    final List<String> events = new ArrayList<>();

    @Override
    public void streamOpened(Map<String, String> attributes) {
      events.add("open id=" + attributes.get("id") + " from=" + attributes.get("from"));
    }

    @Override
    public void stanzas(List<String> stanzas) {
      stanzas.forEach(s -> events.add("stanza " + s));
    }

    @Override
    public void streamError(String error) {
      events.add("error " + error);
    }

    @Override
    public void streamClosed() {
      events.add("closed");
    }
  }

  private static List<String> readInChunks(String input, int chunk) throws Exception {
    Recorder rec = new Recorder();
    StreamReader reader = new StreamReader(rec, 1 << 20, 64);
    byte[] bytes = input.getBytes(StandardCharsets.UTF_8);
    for (int off = 0; off < bytes.length; off += chunk) {
      reader.feed(Arrays.copyOfRange(bytes, off, Math.min(bytes.length, off + chunk)));
    }
    return rec.events;
  }

  @Test
  void everyChunkSizeYieldsTheSameStanzas() throws Exception {
    String input = HEADER + FEATURES + " " + MESSAGE + "\n" + ERROR + "</stream:stream>";
    List<String> expected = List.of(
        "open id=abc from=example.org",
        // B-61: starttls is not relayed to the client; stream prefix comes from the body wrapper
        "stanza <stream:features><mechanisms xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\"><mechanism>PLAIN</mechanism></mechanisms></stream:features>",
        // B-17: stanzas carry jabber:client explicitly inside a httpbind body
        "stanza <message xmlns=\"jabber:client\" from=\"a@b/c\" to=\"d@e\"><body>h\u00e9llo &amp; \uD83D\uDE00</body></message>",
        "error <stream:error><conflict xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/></stream:error>",
        "closed");
    int total = (HEADER + FEATURES + MESSAGE).getBytes(StandardCharsets.UTF_8).length + ERROR.length() + 20;
    for (int chunk = 1; chunk <= total; chunk++) {
      assertThat(readInChunks(input, chunk)).as("chunk size %d", chunk).isEqualTo(expected);
    }
  }

  @Test
  void resetStartsANewDocumentAfterRestart() throws Exception {
    Recorder rec = new Recorder();
    StreamReader reader = new StreamReader(rec, 1 << 20, 64);
    reader.feed((HEADER + "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>").getBytes(StandardCharsets.UTF_8));
    reader.reset();
    reader.feed((HEADER.replace("abc", "def") + "<stream:features/>").getBytes(StandardCharsets.UTF_8));
    assertThat(rec.events).containsExactly("open id=abc from=example.org",
        "stanza <success xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\"/>",
        "open id=def from=example.org",
        "stanza <stream:features/>");
  }

  @Test
  void streamPrefixOtherThanStreamIsDeclared() throws Exception {
    Recorder rec = new Recorder();
    new StreamReader(rec, 1 << 20, 64).feed(("<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'>"
        + "<s:features/>").getBytes(StandardCharsets.UTF_8));
    assertThat(rec.events.get(1)).isEqualTo("stanza <s:features xmlns:s=\"http://etherx.jabber.org/streams\"/>");
  }

  @Test
  void anIdleStreamKeepsNoParserAndTheNextStanzaIsReadInTheHeadersScope() throws Exception {
    Recorder rec = new Recorder();
    StreamReader reader = new StreamReader(rec, 1 << 20, 64);
    reader.feed(("<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams' id='x1' from='b'>"
        + "<s:features/>\n ").getBytes(StandardCharsets.UTF_8));
    assertThat(reader.parked()).as("whitespace after a stanza").isTrue();
    reader.feed("<message to='d@e'><bo".getBytes(StandardCharsets.UTF_8));
    assertThat(reader.parked()).as("a stanza half arrived").isFalse();
    reader.feed("dy>hi</body></message><s".getBytes(StandardCharsets.UTF_8));
    assertThat(reader.parked()).as("the next start tag begun").isFalse();
    reader.feed(":features/>".getBytes(StandardCharsets.UTF_8));
    assertThat(reader.parked()).isTrue();
    reader.feed("<iq type='result' id='1'/></s:stream>".getBytes(StandardCharsets.UTF_8));
    assertThat(rec.events).containsExactly("open id=x1 from=b",
        "stanza <s:features xmlns:s=\"http://etherx.jabber.org/streams\"/>",
        "stanza <message xmlns=\"jabber:client\" to=\"d@e\"><body>hi</body></message>",
        "stanza <s:features xmlns:s=\"http://etherx.jabber.org/streams\"/>",
        "stanza <iq xmlns=\"jabber:client\" type=\"result\" id=\"1\"/>",
        "closed");
  }

  @Test
  void boundsStillHoldForAStanzaThatBeginsAfterTheParserWasLetGo() throws Exception {
    StreamReader reader = new StreamReader(new Recorder(), 1024, 64);
    reader.feed((HEADER + "<iq type='result' id='1'/>").getBytes(StandardCharsets.UTF_8));
    assertThat(reader.parked()).isTrue();
    reader.feed("<message><body>".getBytes(StandardCharsets.UTF_8));
    long fed = feedUntilRefused(reader, "x".repeat(100), 100L << 20);
    assertThat(fed).as("bytes fed before the refusal").isPositive().isLessThanOrEqualTo(2 * 1024 + 200);
  }

  @Test
  void oversizedStanzaIsAStreamException() throws Exception {
    StreamReader reader = new StreamReader(new Recorder(), 1024, 64);
    reader.feed(HEADER.getBytes(StandardCharsets.UTF_8));
    assertThatThrownBy(() -> reader.feed(("<message><body>" + "x".repeat(5000) + "</body></message>").getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(StreamReader.StreamException.class);
  }

  @Test
  void dtdFromServerIsAStreamException() {
    StreamReader reader = new StreamReader(new Recorder(), 1024, 64);
    assertThatThrownBy(() -> reader.feed("<!DOCTYPE x [<!ENTITY a 'b'>]><stream:stream/>".getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(StreamReader.StreamException.class);
  }

  @Test
  void notAStreamIsAStreamException() {
    StreamReader reader = new StreamReader(new Recorder(), 1024, 64);
    assertThatThrownBy(() -> reader.feed("<html><body/></html>".getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(StreamReader.StreamException.class);
  }

  /** Feeds {@code chunk} bytes of {@code filler} at a time until the reader refuses; returns the bytes fed. */
  private static long feedUntilRefused(StreamReader reader, String filler, long cap) throws Exception {
    byte[] chunk = filler.getBytes(StandardCharsets.UTF_8);
    long fed = 0;
    try {
      while (fed < cap) {
        reader.feed(chunk);
        fed += chunk.length;
      }
    } catch (StreamReader.StreamException e) {
      return fed + chunk.length;
    }
    return -1;
  }

  @Test
  void anAttributeValueStillArrivingIsRefusedOnceItPassesTheBound() throws Exception {
    // 17.5: the parser holds a start tag whole; a 100 MB attribute must not be buffered to its end
    Recorder rec = new Recorder();
    StreamReader reader = new StreamReader(rec, 4096, 64);
    reader.feed((HEADER + "<stream:features/><message to='").getBytes(StandardCharsets.UTF_8));
    long fed = feedUntilRefused(reader, "x".repeat(1024), 100L << 20);
    assertThat(fed).as("bytes fed before the refusal").isPositive().isLessThanOrEqualTo(2 * 4096 + 2048);
    assertThat(rec.events).containsExactly("open id=abc from=example.org", "stanza <stream:features/>");
  }

  @Test
  void textOfAStanzaStillArrivingIsRefusedOnceItPassesTheBound() throws Exception {
    StreamReader reader = new StreamReader(new Recorder(), 4096, 64);
    reader.feed((HEADER + "<message><body>").getBytes(StandardCharsets.UTF_8));
    assertThat(feedUntilRefused(reader, "y".repeat(1000), 100L << 20)).isPositive().isLessThanOrEqualTo(2 * 4096 + 2000);
  }

  @Test
  void aStreamHeaderStillArrivingIsRefusedOnceItPassesTheBound() throws Exception {
    StreamReader reader = new StreamReader(new Recorder(), 1 << 20, 64);
    reader.feed("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' id='".getBytes(StandardCharsets.UTF_8));
    assertThat(feedUntilRefused(reader, "z".repeat(1024), 100L << 20)).isPositive()
        .isLessThanOrEqualTo(StreamReader.MAX_HEADER_BYTES + 2048);
  }

  @Test
  void aLongStreamIdOrFromIsRefused() throws Exception {
    // the id would reach the client as authid
    String id = "i".repeat(StreamReader.MAX_HEADER_VALUE_CHARS + 1);
    StreamReader reader = new StreamReader(new Recorder(), 1 << 20, 64);
    assertThatThrownBy(() -> reader.feed(HEADER.replace("'abc'", "'" + id + "'").getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(StreamReader.StreamException.class).hasMessageContaining("stream id");
    StreamReader other = new StreamReader(new Recorder(), 1 << 20, 64);
    assertThatThrownBy(() -> other.feed(HEADER.replace("'example.org'", "'" + id + "'").getBytes(StandardCharsets.UTF_8)))
        .isInstanceOf(StreamReader.StreamException.class).hasMessageContaining("stream from");
    Recorder rec = new Recorder();
    new StreamReader(rec, 1 << 20, 64).feed(HEADER.replace("'abc'", "'" + id.substring(1) + "'").getBytes(StandardCharsets.UTF_8));
    assertThat(rec.events).hasSize(1);
  }

  @Test
  void manySmallStanzasInOneLargeChunkAreNotMistakenForOneLargeOne() throws Exception {
    Recorder rec = new Recorder();
    StreamReader reader = new StreamReader(rec, 1024, 64);
    String many = (MESSAGE + " ").repeat(2000) + "<message><body>unfinished";
    reader.feed((HEADER + many).getBytes(StandardCharsets.UTF_8));
    assertThat(rec.events).hasSize(2001);
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** A message with {@code names} element names no other stanza used. */
  private static String manyNames(String tag, int names) {
    StringBuilder sb = new StringBuilder("<message to='d@e'>");
    for (int i = 0; i < names; i++) {
      sb.append('<').append(tag).append(i).append("/>");
    }
    return sb.append("</message>").toString();
  }

  @Test
  void theReadersOfAThreadShareOneFactoryUntilItsNamesAreSpent() throws Exception {
    StreamReader.SharedFactory factory = StreamReader.threadFactory();
    Recorder rec = new Recorder();
    StreamReader reader = new StreamReader(rec, 1 << 20, 64);
    reader.feed(utf8(HEADER));
    // one stanza with more names than a factory may see: the next reader comes from a fresh one
    reader.feed(utf8(manyNames("n", StreamReader.NAMES_PER_FACTORY)));
    int replaced = factory.replaced();
    reader.feed(utf8(MESSAGE));
    assertThat(factory.replaced()).isEqualTo(replaced + 1);
    // each stanza after a pause gets a reader of its own, all from that one factory
    for (int i = 0; i < 100; i++) {
      reader.feed(utf8(MESSAGE));
    }
    assertThat(factory.replaced()).isEqualTo(replaced + 1);
    assertThat(factory.readers()).isEqualTo(101);
    assertThat(rec.events).hasSize(1 + 1 + 101);
    assertThat(rec.events.get(rec.events.size() - 1)).isEqualTo(rec.events.get(2));
  }

  @Test
  void streamsOfOneThreadReadTheirOwnNamespacesFromTheSharedFactory() throws Exception {
    Recorder a = new Recorder();
    Recorder b = new Recorder();
    StreamReader ra = new StreamReader(a, 1 << 20, 64);
    StreamReader rb = new StreamReader(b, 1 << 20, 64);
    ra.feed(utf8(HEADER));
    rb.feed(utf8(HEADER.replace("xmlns='jabber:client'", "xmlns='jabber:client' xmlns:p='urn:b'")));
    for (int i = 0; i < 3; i++) {
      ra.feed(utf8("<message><p:x xmlns:p='urn:a'/></message>"));
      rb.feed(utf8("<message><p:x/></message>"));
    }
    assertThat(a.events.get(1)).isEqualTo("stanza <message xmlns=\"jabber:client\"><p:x xmlns:p=\"urn:a\"/></message>");
    assertThat(b.events.get(1)).isEqualTo("stanza <message xmlns=\"jabber:client\"><p:x xmlns:p=\"urn:b\"/></message>");
    assertThat(a.events).hasSize(4).allSatisfy(e -> assertThat(e).doesNotContain("urn:b"));
    assertThat(b.events).hasSize(4).allSatisfy(e -> assertThat(e).doesNotContain("urn:a"));
  }

  /**
   * X-01 for what the server relays (other clients choose the names): stanzas full of new names
   * never pile up in what the readers of a thread share; the names one factory keeps stay within
   * its budget and one stanza's.
   */
  @Test
  void stanzasFullOfNewNamesKeepTheSharedFactoryBounded() throws Exception {
    StreamReader.SharedFactory factory = StreamReader.threadFactory();
    Recorder rec = new Recorder();
    StreamReader reader = new StreamReader(rec, 1 << 20, 64);
    reader.feed(utf8(HEADER));
    int replaced = factory.replaced();
    int rounds = 200;
    for (int i = 0; i < rounds; i++) {
      reader.feed(utf8(manyNames("r" + i + "_", 1000)));
      assertThat(factory.names()).isLessThanOrEqualTo(StreamReader.NAMES_PER_FACTORY + 1000 + 10);
    }
    assertThat(rec.events).hasSize(1 + rounds);
    // 1,000 names each: a fresh factory after every third stanza or so
    assertThat(factory.replaced() - replaced).isBetween(rounds / 3 - 2, rounds / 2);
  }
}
