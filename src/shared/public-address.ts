/**
 * Which addresses are public: the guard both programs use before they connect anywhere on
 * someone else's behalf (the MCP server's URL fetch for write_file, the sandbox's policy
 * proxy). Loopback, private networks, link-local (where cloud metadata services answer),
 * carrier-grade NAT (Alibaba Cloud's metadata service) and the other special ranges are
 * refused, each with a sentence saying which range the address is in.
 */
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

const IPV4_CLASSES: Record<string, string> = {
  unspecified: 'an unspecified address (0.0.0.0/8)',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address (224.0.0.0/4)',
  linkLocal: 'a link-local address (169.254.0.0/16, where cloud metadata services such as 169.254.169.254 answer)',
  loopback: 'a loopback address (127.0.0.0/8)',
  carrierGradeNat: "a carrier-grade NAT address (100.64.0.0/10, where Alibaba Cloud's metadata service 100.100.100.200 answers)",
  private: 'a private address (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)',
  reserved: 'a reserved address',
};

/** Public unicast addresses that are a cloud platform's own endpoint in every network, not the internet. */
const SPECIAL_IPV4: Record<string, string> = {
  '168.63.129.16': 'the platform endpoint of Azure (its wire server and DNS, which every VM reaches, like a metadata service)',
};

const IPV6_CLASSES: Record<string, string> = {
  unspecified: 'the unspecified address (::)',
  linkLocal: 'a link-local address (fe80::/10)',
  multicast: 'a multicast address (ff00::/8)',
  loopback: 'the loopback address (::1)',
  uniqueLocal: 'a private address (fc00::/7)',
  deprecatedSiteLocal: 'a site-local address (fec0::/10)',
  rfc6052: 'a local-use NAT64 address (64:ff9b:1::/48)',
  '6to4': 'a 6to4 tunnel address (2002::/16)',
  teredo: 'a Teredo tunnel address (2001::/32)',
  reserved: 'a reserved address',
};

/**
 * Why an address may not be fetched from, or undefined for a public unicast one.
 * IPv6 forms that carry an IPv4 address (mapped ::ffff:a.b.c.d, translated
 * ::ffff:0:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d) are judged by the
 * IPv4 address they carry: they reach it.
 */
export function addressRefusal(address: string): string | undefined {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address);
  } catch {
    return 'not an IP address';
  }
  if (parsed.kind() === 'ipv4') {
    const special = SPECIAL_IPV4[parsed.toString()];
    if (special) return special;
    const range = parsed.range();
    return range === 'unicast' ? undefined : (IPV4_CLASSES[range] ?? `a special-purpose address (${range})`);
  }
  const v6 = parsed as ipaddr.IPv6;
  const embedded = embeddedIPv4(v6);
  if (embedded) {
    const inner = addressRefusal(embedded.toString());
    return inner ? `${inner.replace(/^(an?|the) /, 'an IPv6 form of $1 ')}: ${embedded.toString()}` : undefined;
  }
  const range = v6.range();
  return range === 'unicast' ? undefined : (IPV6_CLASSES[range] ?? `a special-purpose address (${range})`);
}

function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const p = address.parts;
  const zeros = (from: number, to: number) => p.slice(from, to).every((part) => part === 0);
  const mapped = zeros(0, 5) && p[5] === 0xffff; // ::ffff:a.b.c.d
  const translated = zeros(0, 4) && p[4] === 0xffff && p[5] === 0; // ::ffff:0:a.b.c.d (RFC 6145)
  const compatible = zeros(0, 6) && !(p[6] === 0 && (p[7] === 0 || p[7] === 1)); // ::a.b.c.d, not :: or ::1
  const nat64 = p[0] === 0x64 && p[1] === 0xff9b && zeros(2, 6); // 64:ff9b::a.b.c.d (RFC 6052)
  if (!(mapped || translated || compatible || nat64)) return undefined;
  const [hi, lo] = [p[6] ?? 0, p[7] ?? 0];
  return new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
}

/** How hosts are compared: without IPv6 brackets or a final dot ("example.com." is "example.com"). */
export function hostKey(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

/** A host as the URL parser writes it (lowercase, IPv4 dotted, IPv6 compressed), without brackets. */
export function canonicalHost(host: string): string | undefined {
  const bare = host.trim().replace(/^\[(.*)\]$/, '$1');
  if (bare === '' || /[/?#@\s\\]/.test(bare)) return undefined;
  try {
    const url = new URL(`http://${isIP(bare) === 6 ? `[${bare}]` : bare}/`);
    if (url.port !== '') return undefined;
    return hostKey(url.hostname);
  } catch {
    return undefined;
  }
}
