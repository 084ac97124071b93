// plughost chat: a small IRC client over WebSocket (one IRC line per text message, the convention of
// the text.ircv3.net subprotocol), talking to the chat plugin's irc dialect. Every piece of text from
// the network goes into the page with textContent, never as HTML.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const meta = (name, fallback) => {
    const element = document.querySelector(`meta[name="${name}"]`);
    return element && element.content ? element.content : fallback;
  };

  const WS_PATH = meta('plughost-websocket', '/irc');
  const HOME = normalRoom(decodeURIComponent(location.hash.slice(1)) || meta('plughost-room', '#lobby'));
  const MAX_LINE = 512;          // bytes of one IRC line, CR LF included (RFC 2812 2.3)
  const PREFIX_ALLOWANCE = 100;  // ":nick!user@host " the server puts in front when it relays a line
  const MAX_PANE_LINES = 2000;   // per conversation; older lines leave the page
  const MAX_PEOPLE_SHOWN = 300;  // names listed in the side panel; the count covers everyone
  const encoder = new TextEncoder();

  const state = {
    socket: null,
    nick: '',            // the nickname the server gave us
    wanted: '',          // the one the user chose
    registered: false,
    leaving: false,      // the user quit: no reconnect
    everRegistered: false,
    retry: 0,            // reconnect attempts since the last success
    retryTimer: 0,
    rooms: new Set(),    // folded names of the channels we are in (rejoined after a reconnect)
    people: new Map(),   // folded room name -> Map(folded nick -> {nick, prefix})
    namesBuffer: new Map(),
    panes: new Map(),    // key (folded room or nick) -> {key, label, list, tab, unread, kind}
    active: '',
    sent: [],            // the composer's history (Up and Down)
    sentIndex: 0,
  };

  // ---- IRC text -------------------------------------------------------------------------------
  function normalRoom(name) {
    const trimmed = (name || '').trim().split(/[\s,]/)[0];
    if (!trimmed) return '#lobby';
    return /^[#&]/.test(trimmed) ? trimmed : '#' + trimmed;
  }
  // RFC 1459 case mapping, as the server's CASEMAPPING says.
  function fold(text) {
    return text.toLowerCase().replace(/[[\]\\~]/g, (c) => ({ '[': '{', ']': '}', '\\': '|', '~': '^' })[c]);
  }
  function isChannel(name) { return /^[#&]/.test(name); }
  // ":prefix COMMAND a b :trailing" -> {nick, prefix, command, params}; IRCv3 tags are skipped.
  function parse(line) {
    let rest = line;
    if (rest.startsWith('@')) rest = rest.slice(rest.indexOf(' ') + 1);
    let prefix = '';
    if (rest.startsWith(':')) {
      const space = rest.indexOf(' ');
      prefix = rest.slice(1, space < 0 ? undefined : space);
      rest = space < 0 ? '' : rest.slice(space + 1);
    }
    const params = [];
    while (rest.length) {
      rest = rest.replace(/^ +/, '');
      if (!rest.length) break;
      if (rest.startsWith(':')) { params.push(rest.slice(1)); break; }
      const space = rest.indexOf(' ');
      params.push(space < 0 ? rest : rest.slice(0, space));
      rest = space < 0 ? '' : rest.slice(space + 1);
    }
    const command = (params.shift() || '').toUpperCase();
    const bang = prefix.indexOf('!');
    return { prefix, nick: bang < 0 ? prefix : prefix.slice(0, bang), command, params };
  }
  function bytes(text) { return encoder.encode(text).length; }
  function send(line) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(line);
      return true;
    }
    return false;
  }

  // ---- panes (one per room and per private conversation) ---------------------------------------
  function pane(key, label, kind) {
    let found = state.panes.get(key);
    if (found) return found;
    const list = document.createElement('ul');
    list.className = 'pane';
    list.id = 'pane-' + state.panes.size;
    list.setAttribute('role', 'tabpanel');
    list.setAttribute('aria-live', 'polite');
    list.setAttribute('aria-label', label);
    list.tabIndex = 0;
    list.hidden = true;
    $('panes').append(list);
    const tab = document.createElement('button');
    tab.type = 'button';
    tab.setAttribute('role', 'tab');
    tab.setAttribute('aria-controls', list.id);
    tab.addEventListener('click', () => show(key));
    $('tabs').append(tab);
    found = { key, label, list, tab, unread: 0, kind };
    state.panes.set(key, found);
    renderTab(found);
    if (!state.active) show(key);
    return found;
  }
  function renderTab(p) {
    p.tab.textContent = p.label;
    if (p.unread > 0) {
      const badge = document.createElement('span');
      badge.className = 'unread';
      badge.textContent = String(p.unread);
      badge.setAttribute('aria-label', `${p.unread} unread`);
      p.tab.append(badge);
    }
  }
  function show(key) {
    const target = state.panes.get(key);
    if (!target) return;
    state.active = key;
    for (const p of state.panes.values()) {
      const on = p === target;
      p.list.hidden = !on;
      p.tab.setAttribute('aria-selected', String(on));
      p.tab.tabIndex = on ? 0 : -1;
      if (on) { p.unread = 0; renderTab(p); }
    }
    target.list.scrollTop = target.list.scrollHeight;
    $('room-name').textContent = target.label;
    renderPeople();
  }
  function stamp() {
    const now = new Date();
    return String(now.getHours()).padStart(2, '0') + ':' + String(now.getMinutes()).padStart(2, '0');
  }
  // One line in a pane: classes say what it is; nick and text are set as text.
  function add(key, kind, nick, text, extra) {
    const p = state.panes.get(key) || state.panes.get(state.active) || pane(fold(HOME), HOME, 'room');
    const list = p.list;
    const stick = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const item = document.createElement('li');
    item.className = [kind, extra || ''].join(' ').trim();
    const time = document.createElement('span');
    time.className = 'time';
    time.textContent = stamp();
    item.append(time);
    if (nick) {
      const who = document.createElement('span');
      who.className = 'nick';
      who.textContent = nick;
      item.append(who);
    }
    const body = document.createElement('span');
    body.className = 'text';
    body.textContent = text;
    item.append(body);
    list.append(item);
    while (list.childElementCount > MAX_PANE_LINES) list.firstElementChild.remove();
    if (stick || p.key === state.active) list.scrollTop = list.scrollHeight;
    if (p.key !== state.active && (kind === 'message' || kind === 'action')) {
      p.unread += 1;
      renderTab(p);
    }
  }
  const current = () => state.active || fold(HOME);
  const inform = (text) => add(current(), 'notice', '', text);
  const fail = (text) => add(current(), 'fail', '', text);

  // ---- who is here ----------------------------------------------------------------------------
  function roomPeople(key) {
    if (!state.people.has(key)) state.people.set(key, new Map());
    return state.people.get(key);
  }
  function renderPeople() {
    const active = state.panes.get(state.active);
    const list = $('people-list');
    list.replaceChildren();
    const members = active && active.kind === 'room' ? roomPeople(active.key) : new Map();
    const sorted = [...members.values()].sort((a, b) =>
      (b.prefix === '@') - (a.prefix === '@') || fold(a.nick).localeCompare(fold(b.nick)));
    for (const member of sorted.slice(0, MAX_PEOPLE_SHOWN)) {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = member.prefix + member.nick;
      button.title = `Talk to ${member.nick} privately`;
      button.addEventListener('click', () => {
        if (fold(member.nick) === fold(state.nick)) return;
        const p = pane(fold(member.nick), member.nick, 'private');
        show(p.key);
        closePeople();
        $('message-input').focus();
      });
      item.append(button);
      list.append(item);
    }
    if (sorted.length > MAX_PEOPLE_SHOWN) {
      const more = document.createElement('li');
      more.className = 'more';
      more.textContent = `and ${sorted.length - MAX_PEOPLE_SHOWN} more`;
      list.append(more);
    }
    $('people-count').textContent = members.size ? `(${members.size})` : '';
    $('count').textContent = String(members.size);
  }
  function addPerson(room, nick, prefix) {
    roomPeople(room).set(fold(nick), { nick, prefix: prefix || '' });
  }
  function removePerson(room, nick) { return roomPeople(room).delete(fold(nick)); }

  // ---- the connection -------------------------------------------------------------------------
  function setState(text, bad) {
    $('state').textContent = text;
    $('state').classList.toggle('bad', Boolean(bad));
  }
  function connect() {
    clearTimeout(state.retryTimer);
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + WS_PATH;
    setState('connecting…');
    let socket;
    try {
      socket = new WebSocket(url, ['text.ircv3.net']);
    } catch (error) {
      setState('cannot connect: ' + error.message, true);
      return;
    }
    state.socket = socket;
    state.registered = false;
    socket.addEventListener('open', () => {
      setState('signing in…');
      send('NICK ' + state.wanted);
      send('USER web 0 * :' + state.wanted);
    });
    socket.addEventListener('message', (event) => {
      if (typeof event.data !== 'string') return;
      for (const line of event.data.split(/\r?\n/)) {
        if (line) handle(parse(line));
      }
    });
    socket.addEventListener('close', (event) => closed(socket, event));
  }
  function closed(socket, event) {
    if (state.socket !== socket) return;
    state.socket = null;
    const was = state.registered;
    state.registered = false;
    if (state.leaving) {
      setState('left');
      return;
    }
    const why = {
      1001: 'the server is restarting',
      1008: 'refused by the server',
      1009: 'a message was too long',
      1011: 'a server error',
    }[event.code] || (event.reason || 'connection lost');
    if (!state.everRegistered) {
      // Never got in: the login form says why and waits for the user.
      showLogin(event.reason || `Could not join (${why}).`);
      return;
    }
    if (was) add(current(), 'event', '', `Disconnected: ${why}.`);
    const delay = Math.min(30000, 1000 * 2 ** Math.min(state.retry, 5)) * (0.75 + Math.random() / 2);
    state.retry += 1;
    setState(`reconnecting in ${Math.round(delay / 1000)} s…`, true);
    state.retryTimer = setTimeout(connect, delay);
  }

  // ---- what the server says -------------------------------------------------------------------
  const nickProblems = {
    '431': 'Please pick a nickname.',
    '432': 'That nickname has characters the server does not allow (letters, digits and _-[]\\^{}| only; it cannot start with a digit or -).',
    '433': 'That nickname is taken. Please pick another one.',
    '436': 'That nickname is taken. Please pick another one.',
  };
  const joinProblems = {
    '471': 'the room is full',
    '473': 'the room is invite-only',
    '474': 'you are banned from it',
    '475': 'it needs a key',
    '405': 'you are in too many rooms',
    '403': 'there is no such room',
  };
  function handle(m) {
    const p = m.params;
    const last = p[p.length - 1] || '';
    switch (m.command) {
      case 'PING': send('PONG :' + last); return;
      case 'PONG': return;
      case '001':
        state.nick = p[0];
        state.registered = true;
        state.everRegistered = true;
        state.retry = 0;
        setState('connected as ' + state.nick);
        enterChat();
        if (state.rooms.size === 0) state.rooms.add(fold(HOME));
        for (const key of state.rooms) {
          const label = (state.panes.get(key) || {}).label || HOME;
          send('JOIN ' + label);
        }
        return;
      case '431': case '432': case '433': case '436':
        if (!state.registered) {
          if (state.everRegistered && m.command === '433' && state.nick.length < 28) {
            // After a reconnect our old self may not have left yet: take a variant and say so.
            state.wanted = state.nick + '_';
            send('NICK ' + state.wanted);
            inform(`Your nickname is still in use; you are back as ${state.wanted}.`);
          } else {
            showLogin(nickProblems[m.command]);
            state.leaving = true;
            if (state.socket) state.socket.close(1000);
          }
        } else {
          fail(nickProblems[m.command].replace('Please pick another one.', `You stay ${state.nick}.`));
        }
        return;
      case 'ERROR':
        if (!state.everRegistered) showLogin(last || 'The server closed the connection.');
        else add(current(), 'fail', '', last || 'The server closed the connection.');
        return;
      case 'JOIN': {
        const room = p[0];
        const key = fold(room);
        if (fold(m.nick) === fold(state.nick)) {
          state.rooms.add(key);
          roomPeople(key).clear();
          const target = pane(key, room, 'room');
          target.label = room;
          renderTab(target);
          show(key);
          add(key, 'event', '', `You are in ${room}.`);
        } else {
          addPerson(key, m.nick, '');
          add(key, 'event', '', `${m.nick} joined`);
          if (key === state.active) renderPeople();
        }
        return;
      }
      case 'PART': {
        const key = fold(p[0]);
        if (fold(m.nick) === fold(state.nick)) {
          state.rooms.delete(key);
          roomPeople(key).clear();
          add(key, 'event', '', `You left ${p[0]}.`);
        } else {
          removePerson(key, m.nick);
          add(key, 'event', '', `${m.nick} left${p[1] ? ` (${p[1]})` : ''}`);
        }
        if (key === state.active) renderPeople();
        return;
      }
      case 'KICK': {
        const key = fold(p[0]);
        removePerson(key, p[1]);
        const self = fold(p[1]) === fold(state.nick);
        if (self) state.rooms.delete(key);
        add(key, self ? 'fail' : 'event', '', `${self ? 'You were' : p[1] + ' was'} removed by ${m.nick}${p[2] ? ` (${p[2]})` : ''}`);
        if (key === state.active) renderPeople();
        return;
      }
      case 'QUIT':
        for (const key of state.rooms) {
          if (removePerson(key, m.nick)) add(key, 'event', '', `${m.nick} left${last ? ` (${last})` : ''}`);
        }
        renderPeople();
        return;
      case 'NICK': {
        const renamed = p[0];
        const self = fold(m.nick) === fold(state.nick);
        if (self) {
          state.nick = renamed;
          state.wanted = renamed;
          setState('connected as ' + renamed);
        }
        for (const key of state.rooms) {
          const people = roomPeople(key);
          const was = people.get(fold(m.nick));
          if (was) {
            people.delete(fold(m.nick));
            people.set(fold(renamed), { nick: renamed, prefix: was.prefix });
            add(key, 'event', '', self ? `You are now ${renamed}` : `${m.nick} is now ${renamed}`);
          }
        }
        const privateOne = state.panes.get(fold(m.nick));
        if (privateOne && privateOne.kind === 'private') {
          privateOne.label = renamed;
          renderTab(privateOne);
        }
        renderPeople();
        return;
      }
      case 'PRIVMSG': case 'NOTICE': {
        const target = p[0];
        let text = p[1] || '';
        let kind = m.command === 'NOTICE' ? 'notice' : 'message';
        if (text.startsWith('\x01')) {
          const ctcp = text.replace(/^\x01|\x01$/g, '');
          if (!ctcp.startsWith('ACTION ')) return;  // other CTCP requests are not for people
          text = ctcp.slice(7);
          kind = 'action';
        }
        const fromPerson = m.prefix.includes('!') || (m.nick !== '' && !m.nick.includes('.'));
        if (fromPerson && isChannel(target)) {
          add(fold(target), kind, m.nick, text);
        } else if (fromPerson) {
          const conversation = pane(fold(m.nick), m.nick, 'private');
          add(conversation.key, kind, m.nick, text, 'private');
        } else {
          inform(text);  // from the server itself
        }
        return;
      }
      case 'TOPIC':
        add(fold(p[0]), 'event', '', `${m.nick} set the topic: ${last}`);
        return;
      case '332':
        add(fold(p[1]), 'event', '', `Topic: ${last}`);
        return;
      case '353': {
        const key = fold(p[2]);
        if (!state.namesBuffer.has(key)) state.namesBuffer.set(key, new Map());
        const buffer = state.namesBuffer.get(key);
        for (const entry of last.split(' ').filter(Boolean)) {
          const prefix = /^[@+]/.test(entry) ? entry[0] : '';
          const nick = prefix ? entry.slice(1) : entry;
          buffer.set(fold(nick), { nick, prefix });
        }
        return;
      }
      case '366': {
        const key = fold(p[1]);
        const buffer = state.namesBuffer.get(key);
        state.namesBuffer.delete(key);
        if (buffer && state.rooms.has(key)) {
          const people = roomPeople(key);
          for (const [folded, member] of buffer) people.set(folded, member);
          if (key === state.active) renderPeople();
        }
        return;
      }
      case 'MODE': {
        if (!isChannel(p[0]) || p.length < 3) return;
        const people = roomPeople(fold(p[0]));
        let sign = '+';
        let arg = 2;
        for (const c of p[1]) {
          if (c === '+' || c === '-') { sign = c; continue; }
          if ('ov'.includes(c)) {
            const member = people.get(fold(p[arg] || ''));
            if (member) member.prefix = sign === '+' ? (c === 'o' ? '@' : member.prefix || '+') : '';
            arg += 1;
          } else if ('kl'.includes(c) && sign === '+') {
            arg += 1;
          }
        }
        add(fold(p[0]), 'event', '', `${m.nick} set mode ${p.slice(1).join(' ')}`);
        renderPeople();
        return;
      }
      case '471': case '473': case '474': case '475': case '405': case '403':
        fail(`Cannot join ${p[1]}: ${joinProblems[m.command]}.`);
        return;
      case '372':
      case '301': case '305': case '306':
      case '311': case '312': case '317': case '319': case '330': case '352': case '322':
        inform(p.slice(1).join(' '));
        return;
      case '002': case '003': case '004': case '005': case '251': case '252': case '253':
      case '254': case '255': case '265': case '266': case '315': case '318': case '321': case '323':
      case '324': case '329': case '333': case 'CAP':
      case '375': case '376': case '422':  // the MOTD's frame, and "no MOTD": only its lines are news
        return;
      default:
        if (/^[45]\d\d$/.test(m.command)) fail(last);
        else if (/^\d\d\d$/.test(m.command)) inform(p.slice(1).join(' '));
    }
  }

  // ---- what the user types --------------------------------------------------------------------
  const help = [
    '/me ACTION — say what you do',
    '/msg NICK TEXT — a private message (shown in its own tab)',
    '/nick NEWNAME — change your nickname',
    '/join ROOM — go into another room; /part — leave this one',
    '/topic [TEXT] — see or set the topic',
    '/who — who is in this room; /whois NICK — about someone',
    '/away [TEXT] — mark yourself away (or back)',
    '/quit [REASON] — leave',
    'Keys: Enter sends, Up/Down recall, Tab completes a nickname, Alt+←/→ switch tabs, Alt+P who is here.',
  ];
  function say(target, text, action) {
    const body = action ? `\x01ACTION ${text}\x01` : text;
    const line = `PRIVMSG ${target} :${body}`;
    const room = state.panes.get(fold(target));
    const allowed = MAX_LINE - 2 - PREFIX_ALLOWANCE - bytes(state.nick);
    if (bytes(line) > allowed) {
      composerError(`That line is too long (${bytes(line)} bytes with the command; at most ${allowed}). Split it into shorter ones.`);
      return false;
    }
    if (!send(line)) {
      composerError('Not connected right now; your line was kept. It can be sent once the chat is back.');
      return false;
    }
    add(room ? room.key : fold(target), action ? 'action' : 'message', state.nick, text,
      'mine' + (room && room.kind === 'private' ? ' private' : ''));
    return true;
  }
  function activeTarget() {
    const p = state.panes.get(state.active);
    return p ? p.label : HOME;
  }
  function run(text) {
    if (!text.startsWith('/') || text.startsWith('//')) {
      return say(activeTarget(), text.startsWith('//') ? text.slice(1) : text, false);
    }
    const space = text.indexOf(' ');
    const name = (space < 0 ? text : text.slice(0, space)).toLowerCase();
    const rest = space < 0 ? '' : text.slice(space + 1).trim();
    const needs = (usage) => { composerError('Usage: ' + usage); return false; };
    const raw = (line) => {
      if (bytes(line) > MAX_LINE - 2) { composerError('That line is too long.'); return false; }
      if (!send(line)) { composerError('Not connected right now.'); return false; }
      return true;
    };
    switch (name) {
      case '/me': return rest ? say(activeTarget(), rest, true) : needs('/me ACTION');
      case '/msg': case '/query': {
        const gap = rest.indexOf(' ');
        const nick = gap < 0 ? rest : rest.slice(0, gap);
        if (!nick) return needs('/msg NICK TEXT');
        const p = pane(fold(nick), nick, isChannel(nick) ? 'room' : 'private');
        show(p.key);
        return gap < 0 ? true : say(nick, rest.slice(gap + 1).trim(), false);
      }
      case '/nick': return rest ? raw('NICK ' + rest.split(' ')[0]) : needs('/nick NEWNAME');
      case '/join': return rest ? raw('JOIN ' + normalRoom(rest)) : needs('/join ROOM');
      case '/part': case '/leave': {
        const p = state.panes.get(state.active);
        if (!p || p.kind !== 'room') return needs('/part in a room\'s tab');
        return raw(`PART ${p.label}${rest ? ' :' + rest : ''}`);
      }
      case '/topic': return raw(`TOPIC ${activeTarget()}${rest ? ' :' + rest : ''}`);
      case '/who': return raw('WHO ' + (rest || activeTarget()));
      case '/whois': return rest ? raw('WHOIS ' + rest) : needs('/whois NICK');
      case '/away': return raw(rest ? 'AWAY :' + rest : 'AWAY');
      case '/quit':
        state.leaving = true;
        raw('QUIT :' + (rest || 'bye'));
        setState('left');
        return true;
      case '/help':
        for (const line of help) inform(line);
        return true;
      case '/quote': case '/raw': return rest ? raw(rest) : needs('/quote IRC LINE');
      default:
        composerError(`Unknown command ${name}. Type /help for the list.`);
        return false;
    }
  }
  function composerError(text) { $('composer-error').textContent = text; }

  // ---- the page -------------------------------------------------------------------------------
  function showLogin(problem) {
    $('chat').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = problem || '';
    setState('not connected', Boolean(problem));
    $('nick-input').focus();
    $('nick-input').select();
  }
  function enterChat() {
    $('login').hidden = true;
    $('chat').hidden = false;
    pane(fold(HOME), HOME, 'room');
    $('message-input').focus();
  }
  function closePeople() {
    $('people').classList.remove('open');
    $('toggle-people').setAttribute('aria-expanded', 'false');
  }
  function togglePeople() {
    const open = $('people').classList.toggle('open');
    $('toggle-people').setAttribute('aria-expanded', String(open));
  }
  function switchTab(step) {
    const keys = [...state.panes.keys()];
    const at = keys.indexOf(state.active);
    if (keys.length) show(keys[(at + step + keys.length) % keys.length]);
  }
  function complete(input) {
    const upTo = input.value.slice(0, input.selectionStart);
    const word = upTo.split(' ').pop();
    if (!word) return;
    const people = roomPeople(state.active);
    const match = [...people.values()].map((m) => m.nick).sort()
      .find((nick) => fold(nick).startsWith(fold(word)) && fold(nick) !== fold(state.nick));
    if (!match) return;
    const start = upTo.length - word.length;
    const suffix = start === 0 ? ': ' : ' ';
    input.value = upTo.slice(0, start) + match + suffix + input.value.slice(input.selectionStart);
    const caret = start + match.length + suffix.length;
    input.setSelectionRange(caret, caret);
  }

  $('login').addEventListener('submit', (event) => {
    event.preventDefault();
    const nick = $('nick-input').value.trim();
    if (!nick) { showLogin(nickProblems['431']); return; }
    if (/\s/.test(nick)) { showLogin('A nickname has no spaces.'); return; }
    state.wanted = nick;
    state.leaving = false;
    $('login-error').textContent = '';
    if (state.socket) state.socket.close(1000);
    connect();
  });
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('message-input');
    const text = input.value.replace(/[\r\n]+/g, ' ').trim();
    if (!text) return;
    composerError('');
    if (run(text)) {
      state.sent.push(text);
      if (state.sent.length > 100) state.sent.shift();
      state.sentIndex = state.sent.length;
      input.value = '';
    }
  });
  $('message-input').addEventListener('keydown', (event) => {
    const input = event.target;
    if (event.key === 'Tab' && !event.shiftKey && input.value) {
      event.preventDefault();
      complete(input);
    } else if (event.key === 'ArrowUp' && state.sentIndex > 0) {
      event.preventDefault();
      state.sentIndex -= 1;
      input.value = state.sent[state.sentIndex];
    } else if (event.key === 'ArrowDown' && state.sentIndex < state.sent.length) {
      event.preventDefault();
      state.sentIndex += 1;
      input.value = state.sent[state.sentIndex] || '';
    }
  });
  $('toggle-people').addEventListener('click', togglePeople);
  document.addEventListener('keydown', (event) => {
    if (event.altKey && (event.key === 'ArrowRight' || event.key === 'ArrowLeft')) {
      event.preventDefault();
      switchTab(event.key === 'ArrowRight' ? 1 : -1);
    } else if (event.altKey && (event.key === 'p' || event.key === 'P')) {
      event.preventDefault();
      togglePeople();
    } else if (event.key === 'Escape') {
      closePeople();
    }
  });
  window.addEventListener('online', () => { if (!state.socket && state.everRegistered && !state.leaving) connect(); });
  $('nick-input').value = (window.localStorage && localStorage.getItem('plughost-nick')) || '';
  $('login').addEventListener('submit', () => {
    try { localStorage.setItem('plughost-nick', state.wanted); } catch (e) { /* private mode */ }
  });
  document.title = `${HOME} — plughost chat`;
})();
