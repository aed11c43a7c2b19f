// Page flow: load the frontend's main pages as a browser would request their HTML.

import { check, group } from 'k6';
import { PAGES } from '../utils/endpoints.js';
import { send } from '../utils/http.js';

const HTML_ACCEPT = { Accept: 'text/html,application/xhtml+xml' };

export function pageLoadsFlow() {
  group('pages', () => {
    for (const page of PAGES) {
      const res = send(page, { headers: HTML_ACCEPT });
      check(res, {
        [`page ${page.name}: status is 200`]: (r) => r.status === 200,
        [`page ${page.name}: is HTML`]: (r) =>
          String(r.headers['Content-Type'] || '').includes('text/html') &&
          typeof r.body === 'string' &&
          r.body.toLowerCase().includes('<html'),
      });
    }
  });
}
