// HTTP helpers: every request goes through `send`, which tags it, sets the timeout and the
// auth header, and logs it when K6_VERBOSE=true.

import http from 'k6/http';
import { HTTP_TIMEOUT, VERBOSE } from '../config.js';

const JSON_HEADERS = Object.freeze({ 'Content-Type': 'application/json', Accept: 'application/json' });
const BODY_PREVIEW_CHARS = 200;

function preview(body) {
  if (body === null || body === undefined) return '<no body>';
  const text = typeof body === 'string' ? body : '<binary body>';
  return text.length > BODY_PREVIEW_CHARS ? `${text.slice(0, BODY_PREVIEW_CHARS)}...` : text;
}

/**
 * Send one request to an endpoint from utils/endpoints.js.
 *
 * options: { token, json (object sent as JSON body), headers, tags, timeout, url }
 * The request is always tagged with the endpoint's `name` and `type`.
 */
export function send(endpoint, options = {}) {
  const { token = null, json, headers = {}, tags = {}, timeout = HTTP_TIMEOUT } = options;
  const url = options.url ?? endpoint.url;
  const body = json === undefined ? null : JSON.stringify(json);
  const params = {
    headers: {
      ...(json === undefined ? { Accept: JSON_HEADERS.Accept } : JSON_HEADERS),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    tags: { ...tags, name: endpoint.name, type: endpoint.type },
    timeout,
  };
  if (VERBOSE) {
    console.log(`--> ${endpoint.method} ${url} [${endpoint.type}]${body ? ` body=${preview(body)}` : ''}`);
  }
  const res = http.request(endpoint.method, url, body, params);
  if (VERBOSE) {
    const status = res.status === 0 ? `0 (${res.error_code} ${res.error})` : res.status;
    console.log(
      `<-- ${endpoint.method} ${url} ${status} in ${res.timings.duration.toFixed(1)} ms ` +
        `body=${preview(res.body)}`,
    );
  }
  return res;
}

/** Parse a JSON response body; undefined when it is not JSON. */
export function jsonBody(res) {
  try {
    return res.json();
  } catch (_) {
    return undefined;
  }
}

/** True when the response body is a JSON array. */
export const isJsonList = (res) => Array.isArray(jsonBody(res));
