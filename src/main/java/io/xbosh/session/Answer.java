package io.xbosh.session;

/**
 * A response the store has decided: write {@code body} to the HTTP request registered as
 * {@code holder}. The holder id names the pod that holds the request ({@link #pod()}).
 *
 * @param rid    the answered request's rid
 * @param holder {@code pod#n}, unique per held HTTP request
 * @param body   the full {@code <body/>}
 */
public record Answer(long rid, String holder, String body) {

  public String pod() {
    return podOf(holder);
  }

  public static String podOf(String holder) {
    int hash = holder.lastIndexOf('#');
    return hash < 0 ? holder : holder.substring(0, hash);
  }
}
