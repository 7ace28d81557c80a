// The dashboard: one EventSource on /api/dashboard/events (a snapshot, then every
// change), rendered into the page's tables and lists. Rows are updated in place, so
// keyboard focus stays where it was while Tasks progress. Text only ever goes in
// through textContent.
'use strict';

(() => {
  const TASK_STATUS = {
    queued: ['…', 'queued'],
    running: ['▶', 'running'],
    completed: ['✓', 'completed'],
    failed: ['✕', 'failed'],
    cancelled: ['⊘', 'cancelled'],
    timed_out: ['⏱', 'timed out'],
    interrupted: ['!', 'interrupted'],
  };
  const BREAKER_STATUS = {
    closed: ['✓', 'closed: calls go through'],
    open: ['✕', 'open: calls are skipped'],
    half_open: ['◐', 'half-open: one trial call'],
  };
  const FINISHED_SHOWN = 30;

  const $ = (id) => document.getElementById(id);
  const model = {
    tasks: new Map(),
    sessions: [],
    health: null,
    // Server time minus browser time, so elapsed times match the server's clock.
    skew: 0,
  };

  // ---- small helpers ----
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c != null) node.append(c);
    return node;
  }
  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }
  function now() {
    return Date.now() + model.skew;
  }
  function duration(ms) {
    if (ms == null) return '—';
    // A clock a few milliseconds apart must not make a Task start in the future.
    ms = Math.max(0, ms);
    const s = ms / 1000;
    if (s < 60) return `${s.toFixed(1)} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }
  function ago(ms) {
    if (ms == null) return 'none yet';
    const s = Math.max(0, Math.round((now() - ms) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    return `${Math.floor(s / 3600)} h ago`;
  }
  function tokens(t) {
    const n = (t.usage?.input_tokens || 0) + (t.usage?.output_tokens || 0);
    return n.toLocaleString('en-US');
  }
  function cost(t) {
    return t.cost_usd == null ? 'unpriced' : `$${t.cost_usd.toFixed(4)}`;
  }
  function provider(t) {
    if (!t.provider) return '—';
    return t.model ? `${t.provider} · ${t.model}` : t.provider;
  }
  function isRunning(t) {
    return t.status === 'queued' || t.status === 'running';
  }
  function elapsed(t) {
    if (t.status === 'queued') return `waiting ${duration(now() - t.created_at)}`;
    if (t.started_at == null) return '—';
    return duration(now() - t.started_at);
  }
  function statusCell(node, table, status) {
    const [icon, words] = table[status] || ['?', status];
    node.dataset.status = status;
    if (node.dataset.shown === status) return;
    node.dataset.shown = status;
    node.replaceChildren(
      el('span', { class: 'icon', 'aria-hidden': 'true', text: icon }),
      el('span', { class: 'words', text: words }),
    );
  }
  function announce(text) {
    const region = $('announcer');
    region.append(el('p', { text }));
    while (region.childElementCount > 3) region.firstElementChild.remove();
  }

  // Keeps `container`'s children as `items` (by id), updating existing ones in place.
  function sync(container, items, make, update) {
    const have = new Map();
    for (const child of [...container.children]) have.set(child.dataset.id, child);
    const wanted = new Set(items.map((t) => t.id));
    for (const [id, child] of have) if (!wanted.has(id)) child.remove();
    items.forEach((item, i) => {
      const node = have.get(item.id) || make(item);
      update(node, item);
      if (container.children[i] !== node) container.insertBefore(node, container.children[i] || null);
    });
  }

  // ---- Tasks ----
  function describeButton(t) {
    const b = el('button', { type: 'button', class: 'link open-transcript' });
    b.addEventListener('click', (e) => {
      e.stopPropagation();
      openTranscript(b.closest('[data-id]').dataset.id, b);
    });
    return b;
  }
  function rowClicks(tr) {
    // A click anywhere on the row opens the transcript too (the button is the
    // keyboard's way in).
    tr.addEventListener('click', (e) => {
      if (e.target.closest('button')) return;
      const b = tr.querySelector('button.open-transcript');
      if (b) openTranscript(tr.dataset.id, b);
    });
  }

  function makeRunningRow(t) {
    const tr = el('tr', { 'data-id': t.id });
    const cancel = el('button', { type: 'button', class: 'danger cancel', text: 'Cancel' });
    cancel.addEventListener('click', (e) => {
      e.stopPropagation();
      cancelTask(tr.dataset.id, cancel);
    });
    tr.append(
      el('td', { class: 'status' }),
      el('td', { class: 'agent' }),
      el('td', { class: 'description' }, describeButton(t), el('span', { class: 'mode muted' })),
      el('td', { class: 'time elapsed' }),
      el('td', { class: 'num tools' }),
      el('td', { class: 'num tokens' }),
      el('td', { class: 'num cost' }),
      el('td', { class: 'provider' }),
      el('td', { class: 'actions' }, cancel),
    );
    rowClicks(tr);
    return tr;
  }
  function updateRunningRow(tr, t) {
    const c = tr.children;
    statusCell(c[0], TASK_STATUS, t.status);
    setText(c[1], t.agent);
    const button = c[2].querySelector('button');
    setText(button, t.description);
    button.setAttribute('aria-label', `${t.description}: open the transcript`);
    setText(c[2].querySelector('.mode'), t.background ? ' (background)' : '');
    setText(c[3], elapsed(t));
    setText(c[4], String(t.tool_uses));
    setText(c[5], tokens(t));
    setText(c[6], cost(t));
    setText(c[7], provider(t));
    const cancel = c[8].querySelector('button');
    cancel.setAttribute('aria-label', `Cancel the Task ${t.description}`);
  }

  function makeFinishedRow(t) {
    const tr = el('tr', { 'data-id': t.id });
    tr.append(
      el('td', { class: 'status' }),
      el('td', { class: 'agent' }),
      el('td', { class: 'description' }, describeButton(t)),
      el('td', { class: 'time duration' }),
      el('td', { class: 'preview' }),
    );
    rowClicks(tr);
    return tr;
  }
  function updateFinishedRow(tr, t) {
    const c = tr.children;
    statusCell(c[0], TASK_STATUS, t.status);
    setText(c[1], t.agent);
    const button = c[2].querySelector('button');
    setText(button, t.description);
    button.setAttribute('aria-label', `${t.description}: open the transcript`);
    setText(c[3], duration(t.duration_ms));
    const text = (t.error && !t.output ? t.error : t.output || '').trim();
    setText(c[4], text || '(no output)');
  }

  function makeBackgroundCard(t) {
    const li = el('li', { 'data-id': t.id });
    const title = el('p', { class: 'title' }, describeButton(t));
    const dl = el('dl', {},
      el('dt', { text: 'Status' }), el('dd', { class: 'status' }),
      el('dt', { text: 'Agent' }), el('dd', { class: 'agent' }),
      el('dt', { text: 'Time' }), el('dd', { class: 'time' }),
      el('dt', { text: 'Tool uses' }), el('dd', { class: 'tools' }),
    );
    li.append(title, dl);
    return li;
  }
  function updateBackgroundCard(li, t) {
    const button = li.querySelector('button');
    setText(button, t.description);
    button.setAttribute('aria-label', `${t.description}: open the transcript`);
    statusCell(li.querySelector('dd.status'), TASK_STATUS, t.status);
    setText(li.querySelector('dd.agent'), t.agent);
    setText(li.querySelector('dd.time'), isRunning(t) ? `${elapsed(t)} so far` : `ran ${duration(t.duration_ms)}`);
    setText(li.querySelector('dd.tools'), String(t.tool_uses));
  }

  function renderTasks() {
    const all = [...model.tasks.values()];
    const running = all.filter(isRunning).sort((a, b) => a.created_at - b.created_at);
    const finished = all
      .filter((t) => !isRunning(t))
      .sort((a, b) => (b.ended_at || b.created_at) - (a.ended_at || a.created_at));
    // Forget what no longer shows.
    for (const t of finished.slice(FINISHED_SHOWN)) if (!t.background) model.tasks.delete(t.id);
    const shown = finished.slice(0, FINISHED_SHOWN);
    const background = all.filter((t) => t.background).sort((a, b) => b.created_at - a.created_at);

    const focused = document.activeElement?.closest?.('[data-id]')?.dataset.id;
    sync($('running-rows'), running, makeRunningRow, updateRunningRow);
    sync($('finished-rows'), shown, makeFinishedRow, updateFinishedRow);
    sync($('background-list'), background, makeBackgroundCard, updateBackgroundCard);
    count('running', running.length);
    count('finished', shown.length);
    count('background', background.length);
    renderHealth();
    // A focused row that moved (running → finished) keeps the focus on its new row.
    if (focused && (!document.activeElement || document.activeElement === document.body)) {
      const again = document.querySelector(`[data-id="${CSS.escape(focused)}"] button.open-transcript`);
      (again || $('main')).focus();
    }
  }
  function count(section, n) {
    setText($(`${section}-count`), `(${n})`);
    $(`${section}-empty`).hidden = n > 0;
    const table = $(`${section}-table`);
    if (table) table.hidden = n === 0;
  }

  function applyTask(update) {
    const t = update.task;
    const before = model.tasks.get(t.id);
    model.tasks.set(t.id, t);
    if (update.event === 'started') {
      announce(`Task started: ${t.description} (${t.agent}).`);
    } else if (update.event === 'finished' && (!before || isRunning(before))) {
      const [, words] = TASK_STATUS[t.status] || ['', t.status];
      announce(`Task ${words}: ${t.description}, after ${duration(t.duration_ms)}.`);
    }
    renderTasks();
    const dialog = $('transcript');
    if (dialog.open && dialog.dataset.id === t.id && update.event === 'finished') {
      loadTranscript(t.id);
    }
  }

  // ---- sessions and health ----
  function renderSessions() {
    const list = $('sessions-list');
    sync(list, model.sessions, (s) => {
      const li = el('li', { 'data-id': s.id });
      li.append(
        el('p', { class: 'title workspace' }),
        el('dl', {},
          el('dt', { text: 'Codex' }), el('dd', { class: 'client' }),
          el('dt', { text: 'Model' }), el('dd', { class: 'model' }),
          el('dt', { text: 'Last turn' }), el('dd', { class: 'last-turn' }),
          el('dt', { text: 'Turns' }), el('dd', { class: 'turns' }),
          el('dt', { text: 'Session' }), el('dd', { class: 'session-id' }),
        ),
      );
      return li;
    }, (li, s) => {
      setText(li.querySelector('.workspace'), s.cwd);
      setText(li.querySelector('.client'), s.client ? `${s.client.version} (${s.client.name})` : 'unknown');
      setText(li.querySelector('.model'), s.model || 'not said');
      const last = li.querySelector('.last-turn');
      last.dataset.at = s.last_turn_at ?? '';
      setText(last, ago(s.last_turn_at));
      setText(li.querySelector('.turns'), String(s.turns));
      setText(li.querySelector('.session-id'), s.id);
    });
    count('sessions', model.sessions.length);
  }

  function renderHealth() {
    const h = model.health;
    if (!h) return;
    const tasks = h.tasks_enabled
      ? `${[...model.tasks.values()].filter((t) => t.status === 'running').length} of ${h.max_concurrent} slots`
      : 'Tasks are off';
    const rows = [
      ['Open streams', String(h.open_streams)],
      ['Requests relayed', h.requests.toLocaleString('en-US')],
      ['Model calls', h.responses.toLocaleString('en-US')],
      ['Streams ended by the proxy', h.stream_failures.toLocaleString('en-US')],
      ['Upstream unreachable', h.upstream_errors.toLocaleString('en-US')],
      ['Tasks running', tasks],
    ];
    const dl = $('stream-stats');
    if (dl.childElementCount !== rows.length * 2) {
      dl.replaceChildren(...rows.flatMap(([k]) => [el('dt', { text: k }), el('dd')]));
    }
    rows.forEach(([, v], i) => setText(dl.children[i * 2 + 1], v));

    const breakers = Object.entries(h.breakers || {}).map(([name, b]) => ({ id: name, ...b }));
    sync($('breakers-list'), breakers, (b) => {
      const li = el('li', { 'data-id': b.id });
      li.append(
        el('p', { class: 'title', text: b.id }),
        el('dl', {},
          el('dt', { text: 'State' }), el('dd', { class: 'status' }),
          el('dt', { text: 'Last minute' }), el('dd', { class: 'window' }),
          el('dt', { text: 'Times opened' }), el('dd', { class: 'trips' }),
          el('dt', { text: 'Last error' }), el('dd', { class: 'last-error' }),
        ),
      );
      return li;
    }, (li, b) => {
      statusCell(li.querySelector('.status'), BREAKER_STATUS, b.state);
      const retry = b.retry_in_ms != null ? `, retry in ${duration(b.retry_in_ms)}` : '';
      setText(li.querySelector('.window'), `${b.successes} succeeded, ${b.failures} failed${retry}`);
      setText(li.querySelector('.trips'), String(b.trips));
      setText(li.querySelector('.last-error'), b.last_error || 'none');
    });
    $('breakers-empty').hidden = breakers.length > 0;
  }

  function applyState(s) {
    model.sessions = s.sessions || [];
    model.health = s.health || null;
    renderSessions();
    renderHealth();
  }

  function applySnapshot(snap) {
    // Only a real difference of clocks counts, not the stream's own latency.
    const skew = (snap.now_ms || Date.now()) - Date.now();
    model.skew = Math.abs(skew) > 2000 ? skew : 0;
    model.tasks = new Map();
    for (const t of [...snap.finished, ...snap.running]) model.tasks.set(t.id, t);
    setText($('about'), `version ${snap.version}`);
    renderTasks();
    applyState(snap);
  }

  // ---- transcript ----
  let opener = null;
  function openTranscript(id, from) {
    const dialog = $('transcript');
    const t = model.tasks.get(id);
    opener = from || null;
    dialog.dataset.id = id;
    setText($('transcript-title'), `Transcript: ${t ? t.description : id}`);
    setText($('transcript-meta'), 'Loading…');
    $('transcript-messages').replaceChildren();
    if (!dialog.open) dialog.showModal();
    $('transcript-close').focus();
    loadTranscript(id);
  }

  async function loadTranscript(id) {
    const dialog = $('transcript');
    let body;
    try {
      const response = await fetch(`/api/tasks/${encodeURIComponent(id)}/transcript`);
      body = await response.json();
      if (!response.ok) throw new Error(body?.error?.message || `HTTP ${response.status}`);
    } catch (e) {
      if (dialog.dataset.id === id) setText($('transcript-meta'), `The transcript cannot be read: ${e.message}`);
      return;
    }
    if (dialog.dataset.id !== id) return;
    const [, words] = TASK_STATUS[body.status] || ['', body.status];
    const still = body.status === 'queued' || body.status === 'running'
      ? ' It is still running: this shows the messages it started with; the rest comes when it ends.'
      : '';
    setText(
      $('transcript-meta'),
      `${body.agent} · ${words} · ${body.model_calls.length} model calls · ${body.tool_calls.length} tool calls.${still}`,
    );
    $('transcript-messages').replaceChildren(...body.messages.map(renderMessage));
  }

  function renderMessage(m, i) {
    const who = m.role === 'assistant' ? 'Agent' : 'Input';
    const li = el('li', {}, el('h3', { text: `${i + 1}. ${who}` }));
    for (const b of m.content || []) {
      if (b.type === 'text') {
        li.append(el('pre', { text: b.text }));
      } else if (b.type === 'tool_call') {
        li.append(
          el('p', { class: 'block-label', text: `Tool call: ${b.name}` }),
          el('pre', { text: JSON.stringify(b.input, null, 2) }),
        );
      } else if (b.type === 'tool_result') {
        li.append(
          el('p', { class: 'block-label', text: b.is_error ? 'Tool result (error)' : 'Tool result' }),
          el('pre', { text: b.content }),
        );
      } else if (b.type === 'image') {
        li.append(el('p', { class: 'block-label', text: `Image (${b.media_type})` }));
      } else {
        li.append(el('p', { class: 'block-label', text: `(${b.type})` }));
      }
    }
    return li;
  }

  // ---- cancel ----
  async function cancelTask(id, button) {
    if (button.getAttribute('aria-disabled') === 'true') return;
    const t = model.tasks.get(id);
    const name = t ? t.description : id;
    // aria-disabled rather than disabled: a disabled button would lose the focus.
    button.setAttribute('aria-disabled', 'true');
    setText(button, 'Cancelling…');
    try {
      const response = await fetch(`/api/tasks/${encodeURIComponent(id)}/cancel`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(body?.error?.message || `HTTP ${response.status}`);
      announce(`Cancelling the Task ${name}.`);
    } catch (e) {
      announce(`The Task ${name} could not be cancelled: ${e.message}`);
      button.removeAttribute('aria-disabled');
      setText(button, 'Cancel');
    }
  }

  // ---- the stream ----
  function connection(state, text, icon) {
    const p = $('connection');
    p.dataset.state = state;
    setText(p.querySelector('.icon'), icon);
    setText($('connection-text'), text);
  }

  function connect() {
    const source = new EventSource('/api/dashboard/events');
    source.addEventListener('snapshot', (e) => {
      connection('live', 'Live', '●');
      applySnapshot(JSON.parse(e.data));
    });
    source.addEventListener('task', (e) => applyTask(JSON.parse(e.data)));
    source.addEventListener('state', (e) => applyState(JSON.parse(e.data)));
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) {
        connection('down', 'Disconnected: retrying in 5 s', '✕');
        setTimeout(connect, 5000);
      } else {
        connection('connecting', 'Reconnecting…', '…');
      }
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('transcript-close').addEventListener('click', () => $('transcript').close());
    $('transcript').addEventListener('close', () => {
      delete $('transcript').dataset.id;
      if (opener && opener.isConnected) opener.focus();
      opener = null;
    });
    count('running', 0);
    count('finished', 0);
    count('background', 0);
    count('sessions', 0);
    connect();
    // Elapsed times and "ago" move on their own; the data comes from the stream.
    setInterval(() => {
      for (const tr of $('running-rows').children) {
        const t = model.tasks.get(tr.dataset.id);
        if (t) setText(tr.querySelector('.elapsed'), elapsed(t));
      }
      for (const li of $('background-list').children) {
        const t = model.tasks.get(li.dataset.id);
        if (t && isRunning(t)) updateBackgroundCard(li, t);
      }
      for (const dd of document.querySelectorAll('#sessions-list .last-turn')) {
        setText(dd, ago(dd.dataset.at ? Number(dd.dataset.at) : null));
      }
    }, 1000);
  });
})();
