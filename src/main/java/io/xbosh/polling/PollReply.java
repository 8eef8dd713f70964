package io.xbosh.polling;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.xbosh.pod.HeldRequest;
import io.xbosh.protocol.BodyWriter;
import io.xbosh.protocol.ScriptContent;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Writes one poll's answer (XEP-0025 §3): always HTTP 200, {@code text/xml}, the identifier in
 * {@code Set-Cookie: ID=...}, and the stream content raw: the store's BOSH body with its wrapper
 * taken off. A terminate body ends the stream ({@code </stream:stream>} after its children, e.g.
 * the server's stream error); a recoverable-error body (a poll the store gave to another copy)
 * becomes Server Error.
 */
final class PollReply implements HeldRequest.Writer {

  static final String CONTENT_TYPE = "text/xml; charset=utf-8";
  private static final Pattern TYPE = Pattern.compile("\\stype=\"([a-z]+)\"");

  private final String cookiePath;
  private volatile String id;
  private volatile String streamHeader = "";

  /** @param id the session's identifier, sent back with every answer */
  PollReply(String cookiePath, String id) {
    this.cookiePath = cookiePath;
    this.id = id;
  }

  /**
   * The server's new stream header ends this answer (a restart's: what the old stream still had
   * goes first), unless the answer ends the stream.
   */
  PollReply streamHeader(String header) {
    this.streamHeader = header;
    return this;
  }

  /** The answer reports this error instead of the session's identifier. */
  PollReply error(PollError error) {
    this.id = error.id();
    this.streamHeader = "";
    return this;
  }

  @Override
  public void write(HttpServerResponse res, int status, String contentType, String body) {
    if (res.ended() || res.closed()) {
      return;
    }
    String raw = raw(body);
    if (raw == null) {
      error(PollError.SERVER);
      raw = "";
    }
    send(res, cookiePath, id, raw.endsWith(ClientStream.CLOSE_TAG) ? raw : raw + streamHeader);
  }

  /**
   * The stream content of a BOSH body: its children, then {@code </stream:stream>} when it
   * terminates the session; null for a recoverable error; text that is no body stays as it is.
   */
  static String raw(String body) {
    if (body == null || !body.startsWith("<body")) {
      return body == null ? "" : body;
    }
    int end = ScriptContent.tagEnd(body, 0);
    String open = body.substring(0, end + 1);
    Matcher type = TYPE.matcher(open);
    String kind = type.find() ? type.group(1) : "";
    if (kind.equals("error")) {
      return null;
    }
    String children = open.endsWith("/>") ? ""
        : body.substring(end + 1, body.length() - BodyWriter.CLOSE.length());
    return kind.equals("terminate") ? children + ClientStream.CLOSE_TAG : children;
  }

  /** Writes an answer: the identifier (a session's or an error's) and the content. */
  static void send(HttpServerResponse res, String cookiePath, String id, String content) {
    if (res.ended() || res.closed()) {
      return;
    }
    byte[] bytes = content.getBytes(StandardCharsets.UTF_8);
    res.setStatusCode(200)
        .putHeader(HttpHeaders.SET_COOKIE, "ID=" + id + "; Path=" + cookiePath)
        .putHeader(HttpHeaders.CONTENT_TYPE, CONTENT_TYPE)
        .putHeader(HttpHeaders.CACHE_CONTROL, "no-store")
        .putHeader(HttpHeaders.CONTENT_LENGTH, Integer.toString(bytes.length))
        .end(Buffer.buffer(bytes));
  }
}
