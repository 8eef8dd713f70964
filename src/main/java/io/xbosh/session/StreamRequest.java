package io.xbosh.session;

import java.util.regex.Pattern;

/**
 * What a request to open another stream asks for (XEP-0124 §16.3), as it travels through the store
 * to the owner: the payload of an {@code o} request, one field a line. The first line is what the
 * answer to the request carries besides {@code stream} (attributes, already escaped); the store
 * reads only that line.
 *
 * @param answerAttributes attributes of the answer, e.g. {@code  from="example.org"}
 * @param to               the domain the stream is for
 * @param lang             its xml:lang
 * @param route            the client's route, or null
 * @param from             the client's identity for the stream header, or null
 * @param client           the address of the client that sent the request (for the new stream's
 *                         PROXY protocol header: the owner may be another pod), or null; a sixth
 *                         line, written only when known
 */
public record StreamRequest(String answerAttributes, String to, String lang, String route, String from, String client) {

  private static final Pattern LINES = Pattern.compile("\n");

  public StreamRequest {
    for (String v : new String[] {answerAttributes, to, lang, route, from, client}) {
      if (v != null && (v.indexOf('\n') >= 0 || v.indexOf('\r') >= 0)) {
        throw new IllegalArgumentException("line break in a stream request field");
      }
    }
  }

  /** Without the client's address. */
  public StreamRequest(String answerAttributes, String to, String lang, String route, String from) {
    this(answerAttributes, to, lang, route, from, null);
  }

  public String encode() {
    return answerAttributes + "\n" + to + "\n" + lang + "\n" + (route == null ? "" : route) + "\n" + (from == null ? "" : from)
        + (client == null ? "" : "\n" + client);
  }

  public static StreamRequest decode(String payload) {
    String[] f = LINES.split(payload, -1);
    if (f.length != 5 && f.length != 6) {
      throw new IllegalArgumentException("not a stream request");
    }
    String client = f.length == 6 && !f[5].isEmpty() ? f[5] : null;
    return new StreamRequest(f[0], f[1], f[2], f[3].isEmpty() ? null : f[3], f[4].isEmpty() ? null : f[4], client);
  }
}
