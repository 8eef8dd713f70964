package io.xbosh.session;

import io.xbosh.protocol.ScriptContent;
import io.xbosh.session.SessionStore.Queued;
import java.util.ArrayList;
import java.util.List;

/**
 * The stanzas a cached response body carried, one by one, for bouncing what a client never
 * acknowledged (XEP-0124 §9). The body is one the store wrote itself: its start tag's attributes
 * hold no {@code >}, and its payload is the concatenation of whole stanzas as the stream reader
 * wrote them (no comments, processing instructions or DTD).
 */
final class ResponseStanzas {

  private ResponseStanzas() {
  }

  /** @param stream the stream the body belongs to, null for the first */
  static List<Queued> of(String stream, String body) {
    List<Queued> out = new ArrayList<>();
    int start = body.indexOf('>');
    int end = body.lastIndexOf("</body>");
    if (start < 0 || body.charAt(start - 1) == '/' || end <= start) {
      return out;
    }
    String payload = body.substring(start + 1, end);
    int depth = 0;
    int from = -1;
    int i = 0;
    while (i < payload.length()) {
      char c = payload.charAt(i);
      if (c != '<') {
        i++;
        continue;
      }
      boolean closing = i + 1 < payload.length() && payload.charAt(i + 1) == '/';
      int close = ScriptContent.tagEnd(payload, i);
      if (close < 0) {
        break; // not a body the store wrote: keep what was whole
      }
      if (closing) {
        depth--;
      } else {
        if (depth == 0) {
          from = i;
        }
        if (payload.charAt(close - 1) != '/') {
          depth++;
        }
      }
      i = close + 1;
      if (depth == 0 && from >= 0) {
        out.add(new Queued(stream, payload.substring(from, i)));
        from = -1;
      }
    }
    return out;
  }
}
