import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { TallyError } from '../lib/errors.ts';

// A webhook URL is chosen by a user and fetched by the server, so it must not
// reach the server's own network (SSRF): loopback, private, link-local (cloud
// metadata at 169.254.169.254), carrier-grade NAT, multicast and unspecified
// addresses are refused, both when the URL is saved (a literal address or
// `localhost`) and when it is called (every address the name resolves to, at
// connect time, so a name that re-resolves to 127.0.0.1 later is refused too).
// TALLY_ALERTS_ALLOW_PRIVATE=on lifts this (tests, a receiver on the LAN).

const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(net, bits, 'ipv6');
}

/** Whether an IP address is one a webhook may not reach (loopback, private, link-local, ...). */
export function isPrivateAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) return blocked.check(ip, 'ipv4');
  if (family !== 6) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return blocked.check(mapped[1], 'ipv4');
  return blocked.check(ip, 'ipv6');
}

/** Checks a webhook URL as it is saved; returns it normalized. */
export function validateWebhookUrl(raw: string, opts: { allowPrivate: boolean }): string {
  const bad = (why: string) => new TallyError('invalid_webhook_url', `webhook_url ${why}`, { param: 'webhook_url' });
  if (raw.length > 2000) throw bad('must be at most 2000 characters');
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw bad('is not a URL; use one such as https://example.com/hooks/tally');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw bad('must be an http(s) URL');
  if (u.username || u.password) throw bad('must not carry a user name or password; the request is signed instead');
  if (!opts.allowPrivate) {
    const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    if (host === 'localhost' || host.endsWith('.localhost') || (isIP(host) && isPrivateAddress(host))) {
      throw bad('must not point at a loopback or private address');
    }
  }
  return u.toString();
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for net.connect that refuses names resolving to a private address (checked at connect time: no DNS rebinding). */
export function publicOnlyLookup(hostname: string, options: object, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const list = addresses as LookupAddress[];
    const refused = list.find((a) => isPrivateAddress(a.address));
    if (refused || !list.length) {
      const e: NodeJS.ErrnoException = new Error(
        `${hostname} resolves to a private address (${refused?.address ?? 'none'}); webhooks only go to public addresses`,
      );
      e.code = 'EPRIVATEADDRESS';
      return callback(e, []);
    }
    if ((options as { all?: boolean }).all) return callback(null, list);
    callback(null, list[0].address, list[0].family);
  });
}
