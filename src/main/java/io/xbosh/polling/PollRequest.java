package io.xbosh.polling;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;

/**
 * One XEP-0025 request body: {@code identifier ; key [ ; new_key ] , [xml_body]} (§3).
 *
 * @param identifier the session's identifier, {@code 0} for a new session
 * @param key        the key of this request, or null for a session without keys
 * @param newKey     the first key of a new sequence (§3, "Changing key"), or null
 * @param xml        the raw XML after the comma, possibly empty, possibly a piece of an element
 */
public record PollRequest(String identifier, String key, String newKey, String xml) {

  /** The identifier of the first request of a session. */
  public static final String NEW_SESSION = "0";

  /** XEP-0025 §3: "must consist of the characters [A-Za-z0-9:-]". */
  private static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z0-9:-]{1,64}");
  /** Keys are Base64 in practice; any visible ASCII but the separators is taken (K(0) is the client's seed). */
  private static final Pattern KEY = Pattern.compile("[\\x21-\\x2b\\x2d-\\x3a\\x3c-\\x7e]{1,256}");

  public boolean opensSession() {
    return NEW_SESSION.equals(identifier);
  }

  /**
   * Parses a request body; UTF-8 whatever the headers say (§3).
   *
   * @throws PollException {@link PollError#BAD_REQUEST} for anything else
   */
  public static PollRequest parse(byte[] body) {
    String text;
    try {
      text = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(body)).toString();
    } catch (CharacterCodingException e) {
      throw bad("body is not UTF-8");
    }
    int comma = text.indexOf(',');
    if (comma < 0) {
      throw bad("no comma after identifier and key");
    }
    String[] head = text.substring(0, comma).split(";", -1);
    if (head.length > 3) {
      throw bad("more than identifier, key and new key before the comma");
    }
    String identifier = head[0];
    if (!IDENTIFIER.matcher(identifier).matches()) {
      throw bad("identifier must be 1 to 64 of [A-Za-z0-9:-]");
    }
    String key = head.length > 1 ? key(head[1], "key") : null;
    // §3: with identifier 0 the key is the initial one; a new key "must be ignored"
    String newKey = head.length > 2 && !NEW_SESSION.equals(identifier) ? key(head[2], "new key") : null;
    return new PollRequest(identifier, key, newKey, text.substring(comma + 1));
  }

  private static String key(String value, String what) {
    if (!KEY.matcher(value).matches()) {
      throw bad(what + " must be 1 to 256 visible ASCII characters other than ',' and ';'");
    }
    return value;
  }

  private static PollException bad(String message) {
    return new PollException(PollError.BAD_REQUEST, message);
  }
}
