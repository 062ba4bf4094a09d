'use strict';
// Node only: a token store in one JSON file, shared by the processes of one machine (not of
// several machines on a shared volume, nor containers with separate process namespaces: a lock's
// owner is judged alive by its pid on this machine). Writes are atomic (a temporary file, fsync, rename; mode 0600), so a reader
// sees the old file or the new one, never half of one, and a crash mid-write leaves only a
// temporary file that is ignored. set, setIfAbsent and delete read-modify-write the file under
// an exclusive lock file (<path>.lock, hard-linked into place with its owner written); a lock whose owner has died, or
// older than 10 s, is taken over. Within one process, operations on one file also queue.
const node = (name) => require(`node:${name}`);
const { IbkrAuthError } = require('./errors.cjs');

/** A Node system error's code (ENOENT …), not an IbkrAuthError code. */
const errno = (e) => e?.code;
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

const STALE_LOCK_MS = 10_000;
// Waiting for a lock held by a live process: past this, the call fails (the session then
// treats the store as down). A bit longer than STALE_LOCK_MS, so a stuck lock is taken over first.
const LOCK_WAIT_MS = STALE_LOCK_MS + 2_000;

/** Operations in flight in this process, per file: they run one after another. */
const queues = new Map();

function failure(e) {
  if (e instanceof IbkrAuthError) return e;
  return new IbkrAuthError('NETWORK', `the token store (file) failed: ${errno(e) ? `${errno(e)}: ` : ''}${e?.message ?? String(e)}`, { cause: e });
}

function checkKey(key) {
  if (typeof key !== 'string') throw new IbkrAuthError('INVALID_ARGUMENT', `the token store (file): the key must be a string, got ${typeof key}.`);
}

function checkEntry(key, value, o) {
  checkKey(key);
  if (typeof value !== 'string') throw new IbkrAuthError('INVALID_ARGUMENT', `the token store (file): the value must be a string, got ${typeof value}.`);
  const ttl = o?.ttlMs;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) {
    throw new IbkrAuthError('INVALID_ARGUMENT', `the token store (file): ttlMs must be a positive number of milliseconds ({ ttlMs }), got ${JSON.stringify(ttl) ?? String(ttl)}.`);
  }
}

const live = (e, now) => e !== null && typeof e === 'object' && typeof e.v === 'string' && typeof e.exp === 'number' && now < e.exp;

/** The file's entries; a missing file is empty, and so is one that is not ours (it is a cache). */
async function readEntries(file) {
  let text;
  try {
    text = await node('fs/promises').readFile(file, 'utf8');
  } catch (e) {
    if (errno(e) === 'ENOENT') return Object.create(null);
    throw e;
  }
  try {
    const data = JSON.parse(text);
    const entries = data?.entries;
    // No prototype: a key such as "__proto__" is a key like any other.
    return Object.assign(Object.create(null), entries !== null && typeof entries === 'object' && !Array.isArray(entries) ? entries : {});
  } catch {
    return Object.create(null);
  }
}

/** Replaces the file: a temporary file beside it (mode 0600), fsync, rename, then the directory's fsync. */
async function writeEntries(file, entries) {
  const fsp = node('fs/promises');
  const path = node('path');
  const tmp = `${file}.${process.pid}.${node('crypto').randomBytes(6).toString('hex')}.tmp`;
  let fh;
  try {
    fh = await fsp.open(tmp, 'wx', 0o600);
    await fh.writeFile(`${JSON.stringify({ version: 1, entries })}\n`, 'utf8');
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fsp.rename(tmp, file);
  } catch (e) {
    await fh?.close().catch(() => {});
    await fsp.unlink(tmp).catch(() => {});
    throw e;
  }
  // The rename itself is durable once the directory is synced (not possible everywhere).
  let dir;
  try {
    dir = await fsp.open(path.dirname(file), 'r');
    await dir.sync();
  } catch { /* e.g. Windows: directories cannot be opened */ } finally {
    await dir?.close().catch(() => {});
  }
}

/** Is the process alive? (EPERM: it is, someone else's.) */
function alive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === 'EPERM';
  }
}

/**
 * Creates `lockFile` holding `token`, or fails with EEXIST. The token is written to a private file
 * first and hard-linked into place (link never replaces a file), so the lock appears whole: a
 * process killed at any moment leaves no lock without an owner, and a dead owner's lock is taken
 * over at once. A file system without hard links falls back to O_EXCL create, then write.
 */
async function create(lockFile, token) {
  const fsp = node('fs/promises');
  const own = `${lockFile}.${process.pid}.${node('crypto').randomBytes(6).toString('hex')}.new`;
  try {
    await fsp.writeFile(own, token, { encoding: 'utf8', mode: 0o600, flag: 'wx' });
    await fsp.link(own, lockFile);
    return;
  } catch (e) {
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes(errno(e))) throw e;
  } finally {
    await fsp.unlink(own).catch(() => {});
  }
  const fh = await fsp.open(lockFile, 'wx', 0o600);
  try {
    await fh.writeFile(token, 'utf8');
  } finally {
    await fh.close();
  }
}

/** Takes `<file>.lock`, waiting for a live owner, taking over a stale one; returns its release. */
async function lock(file) {
  const fsp = node('fs/promises');
  const lockFile = `${file}.lock`;
  const token = `${process.pid} ${Date.now()} ${node('crypto').randomBytes(6).toString('hex')}`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (let attempt = 0; ; attempt += 1) {
    try {
      await create(lockFile, token);
      return async () => {
        // Remove the lock only if it is still ours (it may have been taken over as stale).
        try {
          if ((await fsp.readFile(lockFile, 'utf8')) === token) await fsp.unlink(lockFile);
        } catch { /* gone already */ }
      };
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
    }
    let seen;
    let stat;
    try {
      seen = await fsp.readFile(lockFile, 'utf8');
      stat = await fsp.stat(lockFile);
    } catch (e) {
      if (errno(e) === 'ENOENT') continue; // released meanwhile
      throw e;
    }
    const [pid, at] = seen.split(' ').map(Number);
    // A lock is linked into place with its owner written, so it is never empty; one that is
    // (written by a file system without hard links, or by hand) is judged by its age alone.
    const age = Date.now() - (Number.isFinite(at) && at > 0 ? at : stat.mtimeMs);
    if ((seen !== '' && !alive(pid)) || age > STALE_LOCK_MS) {
      await takeOver(lockFile, seen);
      continue;
    }
    if (Date.now() > deadline) {
      throw new IbkrAuthError('NETWORK', `the token store (file) failed: ${lockFile} is held by process ${pid} for ${Math.round(age)} ms; not taken over.`);
    }
    await sleep(Math.min(50, 2 + attempt) + Math.random() * 5);
  }
}

/**
 * Removes a stale lock without removing a fresh one that replaced it: the lock is renamed away
 * (only one process can), and if what was renamed is not the stale lock seen, it is put back
 * (link fails if another lock has appeared meanwhile).
 */
async function takeOver(lockFile, seen) {
  const fsp = node('fs/promises');
  const grave = `${lockFile}.${process.pid}.${node('crypto').randomBytes(6).toString('hex')}.stale`;
  try {
    await fsp.rename(lockFile, grave);
  } catch (e) {
    if (errno(e) === 'ENOENT') return;
    throw e;
  }
  try {
    if ((await fsp.readFile(grave, 'utf8')) !== seen) await fsp.link(grave, lockFile).catch(() => {});
  } finally {
    await fsp.unlink(grave).catch(() => {});
  }
}

/** Runs fn after the operations queued before it on this file, under the lock file when `locked`. */
function queued(file, locked, fn) {
  const prev = queues.get(file) ?? Promise.resolve();
  const run = prev.then(async () => {
    if (!locked) return fn();
    const release = await lock(file);
    try {
      return await fn();
    } finally {
      await release();
    }
  });
  const tail = run.catch(() => {});
  queues.set(file, tail);
  tail.then(() => { if (queues.get(file) === tail) queues.delete(file); });
  return run.catch((e) => { throw failure(e); });
}

/**
 * @param {string} path the store's file (its directory must exist and be writable)
 * @param {{ clock?: () => number }} [o]
 */
function fileStore(path, o = {}) {
  if (typeof path !== 'string' || path === '') {
    throw new IbkrAuthError('INVALID_ARGUMENT', 'fileStore needs the path of its file, e.g. fileStore(\'/var/lib/myapp/ibkr-tokens.json\') (the directory must exist; the file is created with mode 0600).');
  }
  const clock = o?.clock ?? Date.now;
  if (typeof clock !== 'function') throw new IbkrAuthError('INVALID_ARGUMENT', 'fileStore: `clock` must be a function returning milliseconds since the epoch (default Date.now).');
  const file = node('path').resolve(path);
  /** Read, change, write back (only when changed), dropping expired entries on the way. */
  const update = (change) => queued(file, true, async () => {
    const entries = await readEntries(file);
    const now = clock();
    let dirty = false;
    for (const k of Object.keys(entries)) if (!live(entries[k], now)) { delete entries[k]; dirty = true; }
    const r = change(entries, now);
    if (r.dirty || dirty) await writeEntries(file, entries);
    return r.result;
  });
  return {
    async get(key) {
      checkKey(key);
      return queued(file, false, async () => {
        const e = (await readEntries(file))[key];
        return live(e, clock()) ? e.v : null;
      });
    },
    async set(key, value, o) {
      checkEntry(key, value, o);
      await update((entries, now) => {
        entries[key] = { v: value, exp: now + o.ttlMs };
        return { dirty: true };
      });
    },
    async setIfAbsent(key, value, o) {
      checkEntry(key, value, o);
      return update((entries, now) => {
        if (live(entries[key], now)) return { result: false };
        entries[key] = { v: value, exp: now + o.ttlMs };
        return { dirty: true, result: true };
      });
    },
    async delete(key) {
      checkKey(key);
      await update((entries) => {
        if (!Object.hasOwn(entries, key)) return { dirty: false };
        delete entries[key];
        return { dirty: true };
      });
    },
  };
}

module.exports = { fileStore };
