// The target's contract: every endpoint the flows call, with the tags its requests carry.
//
// `name` is the endpoint template used as the k6 `name` tag (one metric series per endpoint,
// never one per URL); `type` is `read` or `write` and selects the latency threshold.

import { BASE_URL, FRONTEND_URL } from '../config.js';

const endpoint = (origin, method, path, type, auth) =>
  Object.freeze({ method, path, name: path, type, auth, url: `${origin}${path}` });

export const API = Object.freeze({
  login: endpoint(BASE_URL, 'POST', '/auth/login/', 'write', false),
  me: endpoint(BASE_URL, 'GET', '/auth/me/', 'read', true),
  myTeams: endpoint(BASE_URL, 'GET', '/auth/me/teams/', 'read', true),
  health: endpoint(BASE_URL, 'GET', '/health/', 'read', false),
  tasks: endpoint(BASE_URL, 'GET', '/api/tasks/', 'read', true),
  createTask: endpoint(BASE_URL, 'POST', '/api/tasks/', 'write', true),
  campaigns: endpoint(BASE_URL, 'GET', '/api/campaigns/', 'read', true),
  projects: endpoint(BASE_URL, 'GET', '/api/core/projects/', 'read', true),
  assets: endpoint(BASE_URL, 'GET', '/api/assets/', 'read', true),
  budgets: endpoint(BASE_URL, 'GET', '/api/budgets/', 'read', true),
});

/** Authenticated list endpoints read on every iteration of the API flow. */
export const LIST_ENDPOINTS = Object.freeze([
  API.tasks,
  API.campaigns,
  API.projects,
  API.assets,
  API.budgets,
]);

/** Frontend pages, served from FRONTEND_URL. */
export const PAGES = Object.freeze(
  ['/', '/login', '/tasks', '/campaigns', '/projects'].map((path) =>
    endpoint(FRONTEND_URL, 'GET', path, 'read', false),
  ),
);
