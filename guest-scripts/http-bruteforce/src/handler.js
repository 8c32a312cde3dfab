// HTTP password-guessing detection: Zeek's policy/protocols/ftp/detect-bruteforcing.zeek applied
// to HTTP authentication failures (401 replies). See ../README.md for the rule and every
// difference from Zeek.
//
// Built with componentize-js against the world sandpiper:monitor/event-handler@0.2.1. In jco's
// value mapping WIT variants are `{ tag, val }`, records have camelCase fields, u64 is a BigInt
// and `result<_, string>` imports throw on `err`.

import { raise } from 'sandpiper:monitor/notice@0.2.1';

/** Failed logins from one address within one epoch that make it a brute-forcer (Zeek's
 * FTP::bruteforce_threshold). */
const BRUTEFORCE_THRESHOLD = 20;

/** Length of a measurement epoch in seconds (Zeek's FTP::bruteforce_measurement_interval). */
const MEASUREMENT_INTERVAL = 15 * 60;

/** Zeek's reducer keeps at most unique_max + 1 distinct servers per attacker, with
 * unique_max = double_to_count(bruteforce_threshold + 2). */
const UNIQUE_MAX = BRUTEFORCE_THRESHOLD + 2;

/** The reply code of a failed HTTP authentication. */
const UNAUTHORIZED = 401n;

const NOTE = 'HTTP::Bruteforcing';

/**
 * Per-attacker SumStats result within the current epoch, as Zeek's `ResultVal` of the
 * "ftp.failed_auth" reducer with SumStats::UNIQUE: `num` observations, first (`begin`) and last
 * (`end`) network time, the set of distinct servers, and whether the threshold was crossed
 * (Zeek's threshold tracker), after which the key takes no more observations until the epoch
 * ends.
 * @type {Map<string, {num: number, begin: number, end: number, servers: Set<string>, crossed: boolean}>}
 */
let results = new Map();

/** Network time the current epoch started at; null before the first reply. */
let epochStart = null;

/** Formats an `ip-address` variant as Zeek prints an addr (`%s`, `cat`). */
function formatAddr(addr) {
  if (addr.tag === 'v4') {
    return addr.val.join('.');
  }
  return formatIpv6(addr.val);
}

/** IPv6 text as Zeek's inet_ntop (glibc): lowercase hex groups, the longest run of two or more
 * zero groups (the first of equal runs) as `::`, and IPv4-mapped or IPv4-compatible addresses
 * with their last 32 bits dotted. */
function formatIpv6(groups) {
  let bestBase = -1;
  let bestLen = 0;
  let runBase = -1;
  for (let i = 0; i <= 8; i++) {
    if (i < 8 && groups[i] === 0) {
      if (runBase < 0) runBase = i;
    } else if (runBase >= 0) {
      if (i - runBase > bestLen) {
        bestBase = runBase;
        bestLen = i - runBase;
      }
      runBase = -1;
    }
  }
  if (bestLen < 2) bestBase = -1;
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) text += ':';
      continue;
    }
    if (i > 0) text += ':';
    const embedsIpv4 =
      i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && groups[5] === 0xffff));
    if (embedsIpv4) {
      text += [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].join('.');
      break;
    }
    text += groups[i].toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) text += ':';
  return text;
}

/** Zeek's duration_to_mins_secs: whole seconds (truncated) as "<m>m<s>s". */
function durationToMinsSecs(seconds) {
  const whole = Math.floor(seconds);
  return `${Math.floor(whole / 60)}m${whole % 60}s`;
}

/** Ends the epoch if `now` is past it, as Zeek's SumStats::finish_epoch timer does every
 * MEASUREMENT_INTERVAL: results and threshold marks are dropped. Epochs stay aligned to the
 * first one, as Zeek's rescheduled timer keeps them. */
function advanceEpoch(now, connStart) {
  if (epochStart === null) {
    epochStart = connStart ?? now;
  }
  if (now >= epochStart + MEASUREMENT_INTERVAL) {
    const elapsed = Math.floor((now - epochStart) / MEASUREMENT_INTERVAL);
    epochStart += elapsed * MEASUREMENT_INTERVAL;
    results = new Map();
  }
}

/** SumStats::observe of one failed login by `attacker` on `server` at network time `now`,
 * followed by the threshold check Zeek runs after every observation. */
function observeFailedLogin(attackerAddr, attacker, server, now) {
  let result = results.get(attacker);
  if (result === undefined) {
    result = { num: 0, begin: now, end: now, servers: new Set(), crossed: false };
    results.set(attacker, result);
  }
  // Zeek skips observations of a key whose threshold was crossed (no epoch_result callback).
  if (result.crossed) return;
  result.num += 1;
  result.end = now;
  if (result.servers.size <= UNIQUE_MAX) result.servers.add(server);
  if (result.num >= BRUTEFORCE_THRESHOLD) {
    result.crossed = true;
    raiseNotice(attackerAddr, attacker, result);
  }
}

/** Zeek's threshold_crossed callback: the FTP notice with HTTP in the message. `raise` throws
 * only for a malformed note or a spent host budget; the exception then fails the call. */
function raiseNotice(attackerAddr, attacker, result) {
  const unique = result.servers.size;
  const plural = unique > 1 ? 's' : '';
  const duration = durationToMinsSecs(result.end - result.begin);
  raise({
    note: NOTE,
    msg: `${attacker} had ${result.num} failed logins on ${unique} HTTP server${plural} in ${duration}`,
    sub: undefined,
    uid: undefined,
    id: undefined,
    src: attackerAddr,
    dst: undefined,
    p: undefined,
    n: undefined,
    identifier: attacker,
    suppressFor: undefined,
  });
}

/** The reply code of an http_reply event (args: version, code, reason), or null. */
function replyCode(event) {
  const code = event.args[1];
  return code !== undefined && code.tag === 'count' ? code.val : null;
}

export const handler = {
  handle(batch) {
    for (const event of batch) {
      if (event.name !== 'http_reply' || !event.conn) continue;
      advanceEpoch(event.ts, event.conn.start);
      if (replyCode(event) !== UNAUTHORIZED) continue;
      const id = event.conn.id;
      observeFailedLogin(id.origH, formatAddr(id.origH), formatAddr(id.respH), event.ts);
    }
  },
};
