// Sequent console: polls the operators' JSON endpoints of the server that served this
// page and draws them. Hand-written, no dependencies, nothing loaded from elsewhere.
// Server text is only ever set with textContent, never parsed as HTML.
'use strict';

(function () {
  const statusEveryMs = 1000;
  const latencyEveryMs = 2000;
  const depthEveryMs = 1000;
  const svgNamespace = 'http://www.w3.org/2000/svg';

  function byId(id) { return document.getElementById(id); }

  function setText(id, text) {
    const element = byId(id);
    if (element && element.textContent !== String(text)) element.textContent = String(text);
  }

  // setState writes text and marks the element good, bad or neither.
  function setState(id, text, state) {
    setText(id, text);
    const element = byId(id);
    element.classList.toggle('good', state === 'good');
    element.classList.toggle('bad', state === 'bad');
    element.classList.toggle('warn', state === 'warn');
  }

  function integer(value) {
    return Number(value || 0).toLocaleString('en-US');
  }

  function bytes(value) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let amount = Number(value || 0);
    let unit = 0;
    while (amount >= 1024 && unit < units.length - 1) { amount /= 1024; unit++; }
    return (unit === 0 ? amount : amount.toFixed(1)) + ' ' + units[unit];
  }

  function microseconds(value) {
    const us = Number(value || 0);
    if (us >= 1e6) return (us / 1e6).toFixed(2) + ' s';
    if (us >= 1e3) return (us / 1e3).toFixed(us >= 1e4 ? 0 : 1) + ' ms';
    return us.toFixed(0) + ' µs';
  }

  function duration(seconds) {
    let s = Math.floor(Number(seconds || 0));
    const days = Math.floor(s / 86400); s -= days * 86400;
    const hours = Math.floor(s / 3600); s -= hours * 3600;
    const minutes = Math.floor(s / 60); s -= minutes * 60;
    if (days > 0) return days + 'd ' + hours + 'h';
    if (hours > 0) return hours + 'h ' + minutes + 'm';
    if (minutes > 0) return minutes + 'm ' + s + 's';
    return s + 's';
  }

  function clock(date) {
    return date.toTimeString().slice(0, 8);
  }

  async function getJSON(path) {
    const response = await fetch(path, { cache: 'no-store', headers: { Accept: 'application/json' } });
    let body = null;
    try { body = await response.json(); } catch (ignored) { body = null; }
    return { ok: response.ok, status: response.status, body: body };
  }

  // poll runs task now and then every intervalMs after each run ends, so a slow server
  // never gets overlapping requests from one page. The returned function runs it now;
  // called while a run is out (a click on the order book's button), it runs once more
  // when that ends instead of beside it: a second run beside the first also started a
  // second chain of timers, which went on for as long as requests were slower than the
  // interval (TestHunt52aConsoleNeverOverlapsItsDepthRequests).
  function poll(task, intervalMs) {
    let timer = null;
    let running = false;
    let again = false;
    async function run() {
      clearTimeout(timer);
      if (running) { again = true; return; }
      running = true;
      do {
        again = false;
        try { await task(); } catch (error) { /* Shown by the task's own state. */ }
      } while (again);
      running = false;
      timer = setTimeout(run, intervalMs);
    }
    run();
    return run;
  }

  // ----- status -----

  const previousApplied = new Map(); // shard id → {ops, timeMs}

  function showConnection(live, text) {
    const element = byId('connection-state');
    element.textContent = text;
    element.classList.toggle('state-live', live);
    element.classList.toggle('state-stale', !live);
  }

  async function updateStatus() {
    let result;
    try {
      result = await getJSON('/v1/status');
    } catch (error) {
      showConnection(false, 'server unreachable');
      throw error;
    }
    if (!result.ok || !result.body) {
      showConnection(false, 'status ' + result.status);
      return;
    }
    showConnection(true, 'live');
    showStatus(result.body);
    setText('updated', clock(new Date()));
  }

  function showStatus(s) {
    const role = byId('role');
    role.textContent = s.role;
    role.className = 'badge role-' + s.role;
    setText('epoch', s.epoch);
    setText('version', s.version);
    setText('uptime', duration(s.uptime_seconds));
    setState('healthy', s.healthy ? 'yes' : 'no', s.healthy ? 'good' : 'bad');
    const reasons = (s.not_ready || []).map(function (r) { return r.code; }).join(', ');
    setState('ready', s.ready ? 'yes' : 'no' + (reasons ? ' (' + reasons + ')' : ''),
      s.ready ? 'good' : (s.role === 'standby' ? '' : 'bad'));
    setText('primary-address', s.primary_address || (s.role === 'primary' ? 'this node' : '—'));
    setText('data-directory', s.data_directory);
    setText('data-usage', bytes(s.data_directory_usage_bytes));
    showDisk(s.data_directory_available_bytes, s.data_directory_filesystem_bytes);
    showProblems(s.problems || []);
    showReplication(s.replication || {}, s.role);
    showNetwork(s.network || {});
    showShards(s.shards || []);
  }

  function showDisk(available, size) {
    if (!size) { setState('disk-available', 'unknown', ''); return; }
    const fraction = available / size;
    setState('disk-available', bytes(available) + ' of ' + bytes(size) + ' (' +
      (fraction * 100).toFixed(0) + '%)', fraction < 0.05 ? 'bad' : fraction < 0.15 ? 'warn' : '');
  }

  function showProblems(problems) {
    const list = byId('problems');
    const texts = problems.map(function (p) { return p.code + (p.detail ? ': ' + p.detail : ''); });
    if (list.dataset.texts === JSON.stringify(texts)) return;
    list.dataset.texts = JSON.stringify(texts);
    list.replaceChildren();
    texts.forEach(function (text) {
      const item = document.createElement('li');
      item.textContent = text;
      list.appendChild(item);
    });
  }

  function showReplication(r, role) {
    setText('replication-mode', r.mode || 'none');
    let link = '—';
    let state = '';
    if (r.mode && r.mode !== 'none') {
      if (role === 'primary') {
        link = r.standby_attached ? 'standby attached' : 'no standby';
        state = r.standby_attached ? 'good' : 'bad';
      } else if (role === 'standby') {
        link = r.primary_connected ? 'connected to primary' : 'primary not connected';
        state = r.primary_connected ? 'good' : 'bad';
      } else {
        link = 'fenced';
        state = 'bad';
      }
    }
    setState('replication-link', link, state);
    setText('replication-acknowledged-op', integer(r.acknowledged_op));
    setText('replication-lag-ops', integer(r.lag_ops));
    setText('replication-lag-bytes', bytes(r.lag_bytes));
    setText('replication-lag-seconds', r.mode && r.mode !== 'none' ?
      ((r.lag_ms || 0) / 1000).toFixed(1) + ' s ago' : '—');
    setState('replication-degraded', r.degraded ? 'DEGRADED (' + integer(r.degradations) + ' so far)' :
      'no (' + integer(r.degradations) + ' so far)', r.degraded ? 'bad' : '');
    setState('replication-lease', integer(r.lease_renewals) + ' renewed · ' +
      integer(r.lease_renewal_failures) + ' failed · ' + integer(r.lease_losses) + ' lost',
      r.lease_losses > 0 ? 'bad' : r.lease_renewal_failures > 0 ? 'warn' : '');
    showWitness(r.witness, r.witness_refused || {});
  }

  // showWitness says how the node authenticates its witness: the pinned id (not a
  // secret: the witness announces it to anyone), the signed-replies ratchet, and the
  // answers refused as untrusted (any of them: bad).
  function showWitness(w, refused) {
    if (!w) {
      setState('replication-witness', 'no witness', '');
      return;
    }
    const refusedTotal = (refused.forged || 0) + (refused.identity || 0) +
      (refused.unsigned || 0) + (refused.downgrade || 0);
    const pin = w.pinned ? 'pinned to ' + w.pinned_id : 'not pinned';
    const signing = w.signed_required ? 'signed answers required' :
      w.unsigned_allowed ? 'unsigned answers allowed' : 'signed answers';
    setState('replication-witness', pin + ' · ' + signing + ' · ' + integer(refusedTotal) +
      ' refused', refusedTotal > 0 ? 'bad' : !w.pinned || (w.unsigned_allowed &&
      !w.signed_required) ? 'warn' : '');
  }

  function showNetwork(n) {
    setText('connections-open', integer(n.connections_open));
    setText('connections-accepted', integer(n.connections_accepted));
    setText('connections-refused', integer(n.connections_refused));
    setText('logins-rejected', integer(n.logins_rejected));
    setText('requests-inflight', integer(n.requests_inflight));
    setText('busy-replies', integer(n.busy_replies));
    setText('rate-limited', integer(n.rate_limited_replies));
  }

  function showShards(shards) {
    const body = byId('shards');
    const now = Date.now();
    shards.forEach(function (shard) {
      const prefix = 'shard-' + shard.id + '-';
      let row = byId('shard-' + shard.id);
      if (!row) {
        row = document.createElement('tr');
        row.id = 'shard-' + shard.id;
        ['id', 'applied', 'durable', 'released', 'rate', 'ring', 'busy', 'log', 'snapshots']
          .forEach(function (name) {
            const cell = document.createElement('td');
            cell.id = prefix + name;
            row.appendChild(cell);
          });
        body.appendChild(row);
      }
      setText(prefix + 'id', shard.id);
      setText(prefix + 'applied', integer(shard.applied_op));
      setText(prefix + 'durable', integer(shard.durable_op));
      setText(prefix + 'released', integer(shard.released_op));
      const before = previousApplied.get(shard.id);
      if (before && now > before.timeMs) {
        const rate = Math.max(0, (shard.ops_applied - before.ops) * 1000 / (now - before.timeMs));
        setText(prefix + 'rate', integer(Math.round(rate)));
      } else {
        setText(prefix + 'rate', '…');
      }
      previousApplied.set(shard.id, { ops: shard.ops_applied, timeMs: now });
      setText(prefix + 'ring', integer(shard.ring_depth));
      setText(prefix + 'busy', integer(shard.busy_replies));
      const log = shard.log || {};
      setState(prefix + 'log', log.failure ? 'FAILED: ' + log.failure : log.open ? 'open' : 'closed',
        log.failure ? 'bad' : log.open ? 'good' : 'warn');
      setText(prefix + 'snapshots', integer(shard.snapshots) +
        (shard.snapshot_errors ? ' (' + integer(shard.snapshot_errors) + ' failed)' : ''));
    });
  }

  // ----- latency chart -----

  const chart = { width: 1000, height: 240, left: 60, right: 16, top: 10, bottom: 24 };
  const series = [
    { key: 'max_us', name: 'max' },
    { key: 'p999_us', name: 'p999' },
    { key: 'p99_us', name: 'p99' },
    { key: 'p50_us', name: 'p50' },
  ];

  function svg(name, attributes, text) {
    const element = document.createElementNS(svgNamespace, name);
    Object.keys(attributes).forEach(function (key) { element.setAttribute(key, attributes[key]); });
    if (text !== undefined) element.textContent = text;
    return element;
  }

  async function updateLatency() {
    const result = await getJSON('/v1/latency');
    if (!result.ok || !result.body) {
      setText('latency-latest', result.status === 501 ? 'not available on this server' :
        'latency unavailable (' + result.status + ')');
      return;
    }
    drawLatency(result.body);
  }

  function drawLatency(history) {
    const samples = history.samples || [];
    const interval = history.interval_seconds || 2;
    const windowSeconds = history.window_seconds || interval * 150;
    setText('latency-interval', interval + ' s');
    setText('latency-window', duration(windowSeconds));
    const root = byId('latency-chart');
    const plotWidth = chart.width - chart.left - chart.right;
    const plotHeight = chart.height - chart.top - chart.bottom;
    const withRequests = samples.filter(function (s) { return s.requests > 0; });
    const nodes = [];
    const endMs = samples.length ? samples[samples.length - 1].time_unix_ms : Date.now();
    const startMs = endMs - windowSeconds * 1000;
    let low = 1e9;
    let high = 1;
    withRequests.forEach(function (s) {
      low = Math.min(low, Math.max(1, s.p50_us));
      high = Math.max(high, s.max_us, s.p999_us);
    });
    // A logarithmic scale by whole decades: p50 and max are often 100× apart.
    const lowDecade = withRequests.length ? Math.floor(Math.log10(low)) : 1;
    const highDecade = withRequests.length ? Math.max(lowDecade + 1, Math.ceil(Math.log10(high))) : 4;
    function y(us) {
      const fraction = (Math.log10(Math.max(us, 1)) - lowDecade) / (highDecade - lowDecade);
      return chart.top + plotHeight * (1 - Math.min(1, Math.max(0, fraction)));
    }
    function x(ms) {
      return chart.left + plotWidth * Math.min(1, Math.max(0, (ms - startMs) / (endMs - startMs)));
    }
    for (let decade = lowDecade; decade <= highDecade; decade++) {
      const value = Math.pow(10, decade);
      nodes.push(svg('line', { class: 'grid', x1: chart.left, x2: chart.width - chart.right, y1: y(value), y2: y(value) }));
      nodes.push(svg('text', { class: 'axis-label', x: chart.left - 6, y: y(value) + 4, 'text-anchor': 'end' }, microseconds(value)));
    }
    for (let minutesAgo = 0; minutesAgo * 60 <= windowSeconds; minutesAgo++) {
      const ms = endMs - minutesAgo * 60000;
      nodes.push(svg('line', { class: 'grid', x1: x(ms), x2: x(ms), y1: chart.top, y2: chart.top + plotHeight }));
      nodes.push(svg('text', { class: 'axis-label', x: x(ms), y: chart.height - 6, 'text-anchor': 'middle' },
        minutesAgo === 0 ? 'now' : '-' + minutesAgo + ' min'));
    }
    // Lines join the samples; a dot marks each one, so a lone sample (or one between
    // quiet intervals) still shows.
    series.forEach(function (line) {
      const points = withRequests.map(function (s) {
        return [x(s.time_unix_ms).toFixed(1), y(s[line.key]).toFixed(1)];
      });
      nodes.push(svg('polyline', { id: 'latency-' + line.name, class: 'line line-' + line.name,
        points: points.map(function (p) { return p.join(','); }).join(' '), 'data-points': points.length }));
      points.forEach(function (p) {
        nodes.push(svg('circle', { class: 'dot dot-' + line.name, cx: p[0], cy: p[1], r: 2.5 }));
      });
    });
    if (!withRequests.length) {
      nodes.push(svg('text', { class: 'empty', x: chart.left + plotWidth / 2, y: chart.top + plotHeight / 2,
        'text-anchor': 'middle' }, samples.length ? 'no requests in the last ' + duration(interval * samples.length) :
        'collecting the first samples…'));
    }
    root.replaceChildren.apply(root, nodes);
    const last = samples[samples.length - 1];
    if (last && last.requests > 0) {
      setText('latency-latest', 'last ' + interval + ' s: ' + integer(last.requests) + ' requests · p50 ' +
        microseconds(last.p50_us) + ' · p99 ' + microseconds(last.p99_us) + ' · p99.9 ' +
        microseconds(last.p999_us) + ' · max ' + microseconds(last.max_us));
    } else {
      setText('latency-latest', 'last ' + interval + ' s: no requests');
    }
  }

  // ----- order book -----

  const instrumentInput = byId('instrument');

  function chosenInstrument() {
    const fromAddress = new URLSearchParams(window.location.search).get('instrument');
    if (fromAddress && /^[0-9]+$/.test(fromAddress)) return fromAddress;
    return instrumentInput.value || '1';
  }

  async function updateDepth() {
    const instrument = instrumentInput.value;
    if (!/^[0-9]+$/.test(instrument) || Number(instrument) < 1) {
      setText('depth-status', 'enter an instrument id');
      return;
    }
    const result = await getJSON('/v1/depth?instrument=' + instrument + '&levels=10');
    if (instrument !== instrumentInput.value) return; // Changed meanwhile.
    if (!result.ok || !result.body) {
      const reason = result.body && result.body.error ? result.body.error : 'status ' + result.status;
      setText('depth-status', reason);
      showBook([], []);
      return;
    }
    const book = result.body;
    setText('depth-status', 'instrument ' + book.instrument + ': ' + book.bids.length + ' bid and ' +
      book.asks.length + ' ask levels · ' + clock(new Date()));
    showBook(book.bids, book.asks);
  }

  function showBook(bids, asks) {
    let largest = 0;
    bids.concat(asks).forEach(function (level) { largest = Math.max(largest, Number(level.quantity)); });
    fillSide(byId('depth-bids'), bids, largest, 'bid');
    fillSide(byId('depth-asks'), asks, largest, 'ask');
  }

  function fillSide(body, levels, largest, side) {
    const rows = levels.map(function (level) {
      const row = document.createElement('tr');
      const bar = document.createElement('div');
      bar.className = 'bar bar-' + side;
      bar.style.width = (largest > 0 ? 100 * Number(level.quantity) / largest : 0).toFixed(1) + '%';
      const barCell = document.createElement('td');
      barCell.appendChild(bar);
      const price = document.createElement('td');
      price.className = 'price-' + side;
      price.textContent = level.price;
      const quantity = document.createElement('td');
      quantity.textContent = level.quantity;
      const orders = document.createElement('td');
      orders.textContent = level.orders;
      const cells = side === 'bid' ? [orders, quantity, price, barCell] : [barCell, price, quantity, orders];
      cells.forEach(function (cell) { row.appendChild(cell); });
      return row;
    });
    body.replaceChildren.apply(body, rows);
  }

  instrumentInput.value = chosenInstrument();
  const refreshDepth = poll(updateDepth, depthEveryMs);
  byId('depth-form').addEventListener('submit', function (event) {
    event.preventDefault();
    refreshDepth();
  });
  instrumentInput.addEventListener('change', function () {
    const address = new URL(window.location.href);
    address.searchParams.set('instrument', instrumentInput.value);
    window.history.replaceState(null, '', address);
    refreshDepth();
  });
  poll(updateStatus, statusEveryMs);
  poll(updateLatency, latencyEveryMs);
})();
