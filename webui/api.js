// The only module that knows the server's endpoints.

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error || (status ? `HTTP ${status}` : 'Cannot reach the server'));
    this.name = 'ApiError';
    this.status = status;
    this.body = body || {};
  }
}

let csrfToken = '';
let unauthorizedHandler = () => {};

export function setCsrf(token) {
  csrfToken = token || '';
}

/** Called with the error whenever any request answers 401. */
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

const enc = encodeURIComponent;

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== false && v !== '') q.set(k, v === true ? '1' : v);
  const text = q.toString();
  return text ? `?${text}` : '';
}

async function request(method, path, { body, ifMatch } = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET') {
    headers['Content-Type'] = 'application/json';
    headers['X-CSRF-Token'] = csrfToken;
    init.body = JSON.stringify(body ?? {});
  }
  if (ifMatch) headers['If-Match'] = ifMatch;

  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, null);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data && typeof data === 'object' ? data : { error: text.trim() || res.statusText });
    if (res.status === 401) unauthorizedHandler(err);
    throw err;
  }
  return data;
}

export const api = {
  session: () => request('GET', '/api/session'),
  logout: () => request('POST', '/api/logout', { body: {} }),
  board: () => request('GET', '/api/board'),
  /** One more page of a lane, after the cursor its last page gave. */
  boardPage: (lane, before, limit) => request('GET', `/api/board${query({ lane, before, limit })}`),
  /** Every card on the board (loaded or not) that passes the filter bar's filters. */
  boardSearch: (filters) => request('GET', `/api/board${query(filters)}`),

  project: (id) => request('GET', `/api/projects/${enc(id)}`),
  createProject: (fields) => request('POST', '/api/projects', { body: fields }),
  patchProject: (id, etag, fields) => request('PATCH', `/api/projects/${enc(id)}`, { body: fields, ifMatch: etag }),
  /** action: queue | cancel | retry | approve | rework | move */
  projectAction: (id, action, body) => request('POST', `/api/projects/${enc(id)}/${action}`, { body }),
  move: (id, lane) => api.projectAction(id, 'move', { lane }),
  projectActivity: (id) => request('GET', `/api/projects/${enc(id)}/activity`),
  projectArtifacts: (id) => request('GET', `/api/projects/${enc(id)}/artifacts`),
  projectIntegration: (id) => request('GET', `/api/projects/${enc(id)}/integration`),
  addComment: (id, text) => request('POST', `/api/projects/${enc(id)}/comments`, { body: { text } }),
  /** The change of a coder project: {page, view: unified|split, file?} */
  diff: (id, params = {}) => request('GET', `/api/projects/${enc(id)}/diff${query(params)}`),
  diffComments: (id) => request('GET', `/api/projects/${enc(id)}/diff/comments`),
  addDiffComment: (id, body) => request('POST', `/api/projects/${enc(id)}/diff/comments`, { body }),
  resolveDiffComment: (id, cid) => request('POST', `/api/projects/${enc(id)}/diff/comments/${enc(cid)}/resolve`, { body: {} }),
  deleteDiffComment: (id, cid) => request('DELETE', `/api/projects/${enc(id)}/diff/comments/${enc(cid)}`),
  requestChanges: (id, notes) => request('POST', `/api/projects/${enc(id)}/diff/request-changes`, { body: { notes } }),

  jobs: (projectId) => request('GET', `/api/jobs${query({ project: projectId })}`),
  job: (id) => request('GET', `/api/jobs/${enc(id)}`),
  jobLog: (id, after = 0) => request('GET', `/api/jobs/${enc(id)}/log${query({ after })}`),

  tasks: ({ overdue, project, all } = {}) => request('GET', `/api/tasks${query({ overdue, project, all })}`),
  createTask: (fields) => request('POST', '/api/tasks', { body: fields }),
  patchTask: (id, etag, fields) => request('PATCH', `/api/tasks/${enc(id)}`, { body: fields, ifMatch: etag }),
  task: (id) => request('GET', `/api/tasks/${enc(id)}`),
  deleteTask: (id, etag) => request('DELETE', `/api/tasks/${enc(id)}`, { ifMatch: etag }),

  calendar: (month) => request('GET', `/api/calendar${query({ month })}`),
  activity: ({ before, limit = 50 } = {}) => request('GET', `/api/activity${query({ before, limit })}`),
  metrics: () => request('GET', '/api/metrics'),

  // time travel: the board branch's commits, the board at a commit or date, a project's story
  history: ({ limit, before } = {}) => request('GET', `/api/history${query({ limit, before })}`),
  boardAt: (at) => request('GET', `/api/history/board${query({ at })}`),
  projectHistory: (id) => request('GET', `/api/projects/${enc(id)}/history`),
};
