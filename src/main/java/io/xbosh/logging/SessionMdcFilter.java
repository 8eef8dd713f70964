package io.xbosh.logging;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.turbo.TurboFilter;
import ch.qos.logback.core.spi.FilterReply;
import org.slf4j.MDC;
import org.slf4j.Marker;

/**
 * Puts the session and the pod of each log line into the MDC, so that JSON lines carry them as
 * fields ({@code mdc.sid}, {@code mdc.pod}) and log systems can filter on them. Every line about a
 * session starts with {@code sid={}} and the sid as its first argument (the house style), so the
 * sid is taken from there; a line without one clears it. The pod id is the logger context's
 * property {@code pod}, set once at start. Lines run on many threads (event loops, workers), which
 * is why this is decided per line rather than kept per thread.
 */
public final class SessionMdcFilter extends TurboFilter {

  public static final String POD = "pod";
  public static final String SID = "sid";

  @Override
  public FilterReply decide(Marker marker, Logger logger, Level level, String format, Object[] params, Throwable t) {
    if (level == null || format == null || !level.isGreaterOrEqual(logger.getEffectiveLevel())) {
      return FilterReply.NEUTRAL;
    }
    if (format.startsWith("sid={}") && params != null && params.length > 0 && params[0] != null) {
      MDC.put(SID, params[0].toString());
    } else {
      MDC.remove(SID);
    }
    String pod = getContext() == null ? null : getContext().getProperty(POD);
    if (pod != null) {
      MDC.put(POD, pod);
    }
    return FilterReply.NEUTRAL;
  }
}
