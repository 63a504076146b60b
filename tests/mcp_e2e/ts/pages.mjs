// The person at the browser, for the Node clients of the e2e run: a cookie jar that walks
// Gatehouse's sign-in and consent pages as someone would (client.mjs, oidc_rp.mjs).
function decodeEntities(s) {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
    .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
function attr(tag, name) {
  const m = tag.match(new RegExp(`\\s${name}\\s*=\\s*("([^"]*)"|'([^']*)')`, 'i'));
  return m ? decodeEntities(m[2] ?? m[3]) : undefined;
}
/** The hidden fields of the form posting to `action`, or undefined when there is none. */
export function hiddenFields(html, action) {
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    if (attr(m[1], 'action') !== action) continue;
    const fields = [];
    for (const input of m[2].matchAll(/<input\b[^>]*>/gi)) {
      if ((attr(input[0], 'type') || '').toLowerCase() === 'hidden' && attr(input[0], 'name')) {
        fields.push([attr(input[0], 'name'), attr(input[0], 'value') ?? '']);
      }
    }
    return fields;
  }
  return undefined;
}

export class Browser {
  constructor(email, password) {
    this.email = email;
    this.password = password;
    this.cookies = new Map();
  }
  async request(url, init = {}) {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(15000) });
    for (const c of res.headers.getSetCookie()) {
      const pair = c.split(';')[0];
      const i = pair.indexOf('=');
      const [k, v] = [pair.slice(0, i).trim(), pair.slice(i + 1).trim()];
      if (v === '' || /max-age=0/i.test(c)) this.cookies.delete(k);
      else this.cookies.set(k, v);
    }
    return res;
  }
  post(url, fields) {
    return this.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }
  /** Sign in and allow as needed; returns {location, params, pages}. */
  async authorize(url) {
    const origin = new URL(url).origin;
    const pages = [];
    let res = await this.request(url);
    for (let i = 0; i < 3 && ![302, 303].includes(res.status); i++) {
      const html = await res.text();
      if (res.status !== 200) throw new Error(`authorization page answered ${res.status}: ${html.slice(0, 500)}`);
      const login = hiddenFields(html, '/api/v1/oauth/login');
      const consent = hiddenFields(html, '/api/v1/oauth/authorize');
      if (login) {
        pages.push('login');
        res = await this.post(`${origin}/api/v1/oauth/login`, [...login, ['email', this.email], ['password', this.password]]);
      } else if (consent) {
        pages.push('consent');
        res = await this.post(`${origin}/api/v1/oauth/authorize`, [...consent, ['decision', 'allow']]);
      } else {
        throw new Error(`no sign-in or consent form on the page: ${html.slice(0, 500)}`);
      }
    }
    if (![302, 303].includes(res.status)) throw new Error(`no redirect after ${pages}`);
    const location = res.headers.get('location');
    const q = new URL(location).searchParams;
    for (const k of new Set(q.keys())) {
      if (q.getAll(k).length !== 1) throw new Error(`parameter ${k} appears more than once in ${location}`);
    }
    return { location, params: Object.fromEntries(q), pages };
  }
}
